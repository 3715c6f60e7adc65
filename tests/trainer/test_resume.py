"""A job whose worker died resumes from its last checkpoint: weights, optimizer state and
bookkeeping, reporting each epoch exactly once."""
from __future__ import annotations

import numpy as np
import pytest

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
