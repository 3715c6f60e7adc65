"""A job whose worker died resumes from its last checkpoint: weights, optimizer state and
bookkeeping, reporting each epoch exactly once."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tests.support.ci import unavailable
from tests.trainer.conftest import make_spec
from trainer.checkpoint import read_resume_state
from trainer.reporter import ListReporter
from trainer.run import train

pytestmark = pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")
EPOCHS = 5


class WorkerKilled(BaseException):
    """Stands in for SIGKILL: not an Exception, so nothing in the trainer swallows it."""


class DiesAfterEpoch(ListReporter):
    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.epoch = epoch

    def on_event(self, type, data):
        super().on_event(type, data)
        if type == "epoch" and data["epoch"] == self.epoch:
            raise WorkerKilled


def steps_per_epoch(dataset) -> int:
    train_samples = len(dataset.x_train) - round(len(dataset.x_train) * 0.1)  # validation_split
    return int(np.ceil(train_samples / 16))


def spec(**overrides):
    return make_spec("mlp", **{"epochs": EPOCHS, "batch_size": 16, "hidden_layers": [32],
                               "learning_rate": 0.01, "optimizer": "adam", **overrides})


def interrupted_run(workdir, dataset, after_epoch: int = 2, **overrides) -> DiesAfterEpoch:
    reporter = DiesAfterEpoch(after_epoch)
    with pytest.raises(WorkerKilled):
        train(spec(**overrides), reporter, workdir, dataset=dataset, batch_interval=0, tensorboard=False)
    return reporter


def test_a_checkpoint_holds_the_optimizer_state_and_the_epoch_it_completed(tiny_digits, tmp_path, skip_export):
    interrupted_run(tmp_path, tiny_digits)

    latest = tmp_path / "checkpoints" / "latest.weights.npz"
    state = read_resume_state(latest)
    with np.load(latest) as stored:
        optimizer_arrays = [name for name in stored.files if name.startswith("opt_")]
        iterations = int(stored["opt_0"])

    assert state.completed_epochs == 2 and len(state.history["loss"]) == 2
    assert state.last_epoch_event["epoch"] == 2 and state.best_epoch in (1, 2)
    # Adam: iterations + m and v for each of the MLP's 4 weights.
    assert len(optimizer_arrays) == 1 + 2 * 4
    assert iterations == 2 * steps_per_epoch(tiny_digits)


def test_a_resumed_run_reports_only_the_remaining_epochs_and_returns_the_whole_history(tiny_digits, tmp_path, skip_export):
    first = interrupted_run(tmp_path, tiny_digits)
    second = ListReporter()

    result = train(spec(), second, tmp_path, dataset=tiny_digits, batch_interval=0, tensorboard=False)

    reported = [e["epoch"] for e in first.of_type("epoch")] + [e["epoch"] for e in second.of_type("epoch")]
    assert reported == [1, 2, 3, 4, 5]
    assert any("Resuming after epoch 2" in e["message"] for e in second.of_type("log"))
    assert result["status"] == "succeeded" and result["epochs_run"] == EPOCHS
    assert len(result["history"]["loss"]) == EPOCHS
    assert result["history"]["loss"][:2] == [e["logs"]["loss"] for e in first.of_type("epoch")]
    with np.load(tmp_path / "checkpoints" / "latest.weights.npz") as stored:
        assert int(stored["opt_0"]) == EPOCHS * steps_per_epoch(tiny_digits), "the optimizer's step count carried over"


def test_a_resumed_run_continues_where_the_killed_one_stopped_rather_than_starting_over(tiny_digits, tmp_path, skip_export):
    first = interrupted_run(tmp_path, tiny_digits, learning_rate=0.003)
    second = ListReporter()

    train(spec(learning_rate=0.003), second, tmp_path, dataset=tiny_digits, batch_interval=0, tensorboard=False)

    # From scratch, epoch 3's loss would be near epoch 1's; resumed, it keeps going down.
    epoch_1 = first.of_type("epoch")[0]["logs"]["loss"]
    epoch_2 = first.of_type("epoch")[1]["logs"]["loss"]
    epoch_3 = second.of_type("epoch")[0]["logs"]["loss"]
    assert epoch_3 < epoch_2 < epoch_1


def test_resumed_final_metrics_match_an_uninterrupted_run_within_noise(tiny_digits, tmp_path, skip_export):
    whole = train(spec(), ListReporter(), tmp_path / "whole", dataset=tiny_digits, batch_interval=0,
                  tensorboard=False)
    interrupted_run(tmp_path / "killed", tiny_digits)

    resumed = train(spec(), ListReporter(), tmp_path / "killed", dataset=tiny_digits, batch_interval=0,
                    tensorboard=False)

    # Only 24 validation and 60 test images here, so one image is 0.04 and 0.017: the
    # tolerance is two images' worth (the shuffle order after the resume point differs).
    assert abs(resumed["history"]["val_accuracy"][-1] - whole["history"]["val_accuracy"][-1]) <= 0.08
    assert abs(resumed["test_metrics"]["accuracy"] - whole["test_metrics"]["accuracy"]) <= 0.08


def test_an_epoch_whose_event_died_with_the_worker_is_sent_again_on_resume(tiny_digits, tmp_path, skip_export):
    interrupted_run(tmp_path, tiny_digits)
    second = ListReporter()

    # The caller stored only epoch 1: the worker died between epoch 2's checkpoint and event.
    train(spec(), second, tmp_path, dataset=tiny_digits, batch_interval=0, tensorboard=False, reported_epochs=1)

    assert [e["epoch"] for e in second.of_type("epoch")] == [2, 3, 4, 5]


def test_resume_false_starts_over_from_epoch_one(tiny_digits, tmp_path, skip_export):
    interrupted_run(tmp_path, tiny_digits)
    second = ListReporter()

    train(spec(), second, tmp_path, dataset=tiny_digits, batch_interval=0, tensorboard=False, resume=False)

    assert [e["epoch"] for e in second.of_type("epoch")] == [1, 2, 3, 4, 5]


# ---- the custom runners: dcgan, seq2seq, matrix_factorization ----------------------------------
# Each passes initial_epoch to fit and restores its optimizers, so a killed job carries on.

RUNNER_EPOCHS = 4


def optimizer_steps(workdir) -> list[int]:
    """The step counter (`iterations`, the one integer) of every optimizer in a job's latest checkpoint."""
    with np.load(workdir / "checkpoints" / "latest.weights.npz") as stored:
        return [int(stored[name]) for name in stored.files
                if name.startswith("opt_") and stored[name].dtype.kind == "i"]


def kill_and_resume(spec, workdir, **train_kwargs):
    """Trains until the worker 'dies' after epoch 2, then runs the job again in the same folder."""
    first = DiesAfterEpoch(2)
    with pytest.raises(WorkerKilled):
        train(spec, first, workdir, batch_interval=0, tensorboard=False, **train_kwargs)
    steps_at_kill = optimizer_steps(workdir)
    second = ListReporter()
    result = train(spec, second, workdir, batch_interval=0, tensorboard=False, **train_kwargs)
    return first, second, result, steps_at_kill


def assert_resumed_once(first, second, result, steps_at_kill, workdir):
    reported = [e["epoch"] for e in first.of_type("epoch") + second.of_type("epoch")]
    assert reported == list(range(1, RUNNER_EPOCHS + 1))
    messages = [e["message"] for e in second.of_type("log")]
    assert any("Resuming after epoch 2" in m for m in messages)
    assert not any("does not resume" in m for m in messages)
    assert result["status"] == "succeeded" and result["epochs_run"] == RUNNER_EPOCHS
    assert len(result["history"]["loss"]) == RUNNER_EPOCHS
    assert result["history"]["loss"][:2] == [e["logs"]["loss"] for e in first.of_type("epoch")]
    # Every optimizer carried its step count on: epochs 3-4 added to epochs 1-2, not restarted.
    assert steps_at_kill and all(steps > 0 for steps in steps_at_kill)
    assert optimizer_steps(workdir) == [steps * RUNNER_EPOCHS // 2 for steps in steps_at_kill]


@pytest.fixture
def no_recipe_exports(monkeypatch):
    """Exports are tested with each recipe; here they would only cost seconds."""
    from trainer.recipes.dcgan import training as dcgan
    from trainer.recipes.matrix_factorization import training as matrix_factorization
    from trainer.recipes.seq2seq import training as seq2seq

    for module, name in ((dcgan, "export_generator"), (seq2seq, "export_translation"),
                         (matrix_factorization, "export_recommender")):
        monkeypatch.setattr(module, name, lambda *args, **kwargs: [])


def test_a_killed_gan_resumes_both_optimizers_and_keeps_its_judge(tiny_digits, tmp_path, no_recipe_exports,
                                                                   monkeypatch):
    from trainer.recipes.dcgan import training as dcgan

    load_judge, loaded = dcgan._load_judge, []
    monkeypatch.setattr(dcgan, "_load_judge", lambda cache: loaded.append(load_judge(cache)) or loaded[-1])
    spec = make_spec("dcgan", epochs=RUNNER_EPOCHS, batch_size=32, latent_dim=8, filters=8)

    first, second, result, steps_at_kill = kill_and_resume(spec, tmp_path, dataset=tiny_digits)

    assert_resumed_once(first, second, result, steps_at_kill, tmp_path)
    assert len(steps_at_kill) == 2, "the discriminator's and the generator's optimizer"
    # The judge the killed run trained (kept in the job's folder) scores the resumed epochs too.
    assert [judge is not None for judge in loaded] == [False, True]
    assert all(np.isfinite(result["history"]["d_loss"]))


def test_a_killed_recommender_resumes_and_ends_close_to_an_uninterrupted_run(tmp_path, no_recipe_exports):
    from tests.trainer.test_movielens import SHARED
    from trainer import datasets

    if not (SHARED / "ml-100k" / "u.data").is_file():
        unavailable("MovieLens copy not found")
    full = datasets.load("movielens_100k", SHARED, split="u1")
    # The first 100 users' ratings: a tenth of the data, the real distribution.
    data = dataclasses.replace(full, train=tuple(a[full.train[0] < 100] for a in full.train),
                               test=tuple(a[full.test[0] < 100] for a in full.test))
    spec = make_spec("matrix_factorization", epochs=RUNNER_EPOCHS, factors=8, batch_size=256,
                     learning_rate=0.01)
    whole = train(spec, ListReporter(), tmp_path / "whole", dataset=data, batch_interval=0, tensorboard=False)

    first, second, result, steps_at_kill = kill_and_resume(spec, tmp_path / "killed", dataset=data)

    assert_resumed_once(first, second, result, steps_at_kill, tmp_path / "killed")
    rmse = result["history"]["val_rmse"]
    assert rmse[2] < rmse[0], "epoch 3 went on from epoch 2 instead of starting over"
    assert abs(rmse[-1] - whole["history"]["val_rmse"][-1]) < 0.02
    assert abs(result["test_metrics"]["rmse"] - whole["test_metrics"]["rmse"]) < 0.02


def test_a_killed_translation_job_resumes_where_it_stopped(tmp_path, no_recipe_exports):
    from tests.trainer.test_seq2seq import SHARED_MULTI30K, TINY
    from trainer import datasets
    from trainer.multi30k import ParallelCorpus

    if not (SHARED_MULTI30K / "train.de.gz").exists():
        unavailable(f"Multi30k copy not found in {SHARED_MULTI30K}")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "multi30k_de_en").symlink_to(SHARED_MULTI30K)
    full = datasets.load("multi30k_de_en", tmp_path / "data")
    # Real sentences, fewer of them: validation and test decoding dominate a tiny job's time.
    corpus = ParallelCorpus(full.name, {split: (de[:2000], en[:2000]) if split == "train" else (de[:100], en[:100])
                                        for split, (de, en) in full.splits.items()})
    spec = make_spec("seq2seq", attention="none", **{**TINY, "epochs": RUNNER_EPOCHS, "train_pairs": 200})

    first, second, result, steps_at_kill = kill_and_resume(spec, tmp_path, dataset=corpus)

    # (No uninterrupted run to compare with: the LSTMs' graph building alone takes seconds;
    # the MLP and recommender tests above make that comparison.)
    assert_resumed_once(first, second, result, steps_at_kill, tmp_path)
    losses = result["history"]["loss"]
    assert losses[2] < losses[1] < losses[0], "epoch 3 went on from epoch 2 instead of starting over"
