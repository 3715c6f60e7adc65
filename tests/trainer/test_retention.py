"""Per-epoch checkpoint retention: which `epoch-<k>` files a run keeps for forks."""
from __future__ import annotations

import pytest

from tests.trainer.conftest import make_spec
from trainer.checkpoint import Retention
from trainer.checkpoint import checkpoint_path, saved_epochs
from trainer.reporter import ListReporter
from trainer.run import train

pytestmark = pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")


def test_it_keeps_every_kth_epoch_the_last_few_and_the_best():
    kept = Retention(keep_every=5, keep_last=3).kept(range(1, 13), latest=12, best=2)

    assert sorted(kept) == [2, 5, 10, 11, 12]


def test_keep_every_1_keeps_every_epoch_and_zeros_keep_only_latest_and_best():
    assert Retention(keep_every=1, keep_last=0).kept(range(1, 8), latest=7, best=3) == set(range(1, 8))
    assert Retention(keep_every=0, keep_last=0).kept(range(1, 8), latest=7, best=3) == {3, 7}


def test_a_negative_setting_is_refused_by_name():
    with pytest.raises(ValueError, match="keep_every and keep_last must be ≥ 0"):
        Retention(keep_every=-1)


def test_a_run_prunes_epoch_checkpoints_as_it_goes_but_keeps_best_and_latest(tiny_digits, tmp_path, skip_export):
    spec = make_spec("mlp", epochs=7, batch_size=32, hidden_layers=[16], learning_rate=0.01)

    result = train(spec, ListReporter(), tmp_path, dataset=tiny_digits, batch_interval=0, tensorboard=False,
                   retention=Retention(keep_every=3, keep_last=2))

    assert saved_epochs(tmp_path) == sorted({3, 6, 7, result["best_epoch"]})
    assert checkpoint_path(tmp_path, "best").exists() and checkpoint_path(tmp_path, "latest").exists()


def test_without_a_policy_every_epoch_keeps_its_checkpoint(tiny_digits, tmp_path, skip_export):
    spec = make_spec("mlp", epochs=4, batch_size=32, hidden_layers=[16])

    train(spec, ListReporter(), tmp_path, dataset=tiny_digits, batch_interval=0, tensorboard=False)

    assert saved_epochs(tmp_path) == [1, 2, 3, 4]
