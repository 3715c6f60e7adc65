"""Snapshots while training (trainer/snapshot.py): the latest epoch as float32 TF.js."""
from __future__ import annotations

import json

import pytest

from tests.trainer.conftest import make_spec
from trainer import snapshot
from trainer.reporter import ListReporter
from trainer.run import train

pytestmark = pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")


def test_a_run_keeps_a_snapshot_of_a_late_epoch_loadable_as_tfjs(tiny_digits, tmp_path, skip_export):
    from tensorflowjs import converters

    train(make_spec("mlp", epochs=4, batch_size=16, hidden_layers=[8]), ListReporter(), tmp_path,
          dataset=tiny_digits, batch_interval=0, snapshot_interval_s=0)

    latest = snapshot.latest(tmp_path)
    assert 1 <= latest["epoch"] <= 4 and latest["epochs"] == 4
    artifact = latest["artifact"]
    assert artifact["kind"] == "tfjs" and artifact["variant"] == "float32"
    assert set(artifact["files"]) <= snapshot.served_files(tmp_path)
    model = converters.load_keras_model(str(tmp_path / artifact["path"]))
    assert model.output_shape == (None, 10)


def test_no_interval_means_no_snapshot(tiny_digits, tmp_path, skip_export):
    train(make_spec("mlp", epochs=2, batch_size=16, hidden_layers=[8]), ListReporter(), tmp_path,
          dataset=tiny_digits, batch_interval=0)

    assert snapshot.latest(tmp_path) is None and snapshot.served_files(tmp_path) == set()


def test_each_snapshot_replaces_all_but_the_one_before_it(tmp_path):
    import tf_keras as keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    for epoch in (1, 2, 3):
        record = snapshot.write(tmp_path, model, epoch, 3)

    assert snapshot.latest(tmp_path) == json.loads(json.dumps(record)) and record["epoch"] == 3
    assert sorted(p.name for p in (tmp_path / "snapshot").iterdir() if p.is_dir()) == ["2", "3"]
    assert all(path.startswith(("snapshot/2/", "snapshot/3/")) for path in snapshot.served_files(tmp_path))


def test_the_budget_spaces_snapshots_by_their_cost(monkeypatch):
    import time
    from types import SimpleNamespace

    writes = []
    monkeypatch.setattr(snapshot, "write", lambda *args: (writes.append(args[2]), time.sleep(0.05)))
    callback = snapshot.snapshot_callback_class()("unused", epochs=1000, min_interval_s=0.0, budget=0.5)
    callback.set_model(SimpleNamespace(stop_training=False))
    callback.on_train_begin()
    for epoch in range(40):  # 40 epochs of 10 ms: a snapshot of 50 ms may follow one only 100 ms later
        time.sleep(0.01)
        callback.on_epoch_end(epoch)

    assert 1 <= len(writes) <= 8, writes
    assert callback.cost_s >= 0.05 * len(writes)
