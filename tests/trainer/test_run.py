from __future__ import annotations

import math

import numpy as np
import pytest

from tests.trainer.conftest import make_spec, random_dataset
from trainer.errors import TrainingFailed
from trainer.reporter import ListReporter
from trainer.run import train

# export.py silences this at import time; pytest resets warning filters for every test.
pytestmark = pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")


class StopAfter(ListReporter):
    """Asks to stop once `batches` batch ends have polled it."""

    def __init__(self, batches: int) -> None:
        super().__init__()
        self.polls_left = batches

    def should_stop(self) -> bool:
        self.polls_left -= 1
        return self.polls_left < 0


class Broken(ListReporter):
    """Records every event, then fails, as a reporter with a database outage would."""

    def on_event(self, type, data):
        super().on_event(type, data)
        raise ConnectionError("database is down")

    def should_stop(self):
        raise ConnectionError("database is down")


@pytest.fixture(scope="module")
def finished(tiny_digits, tmp_path_factory):
    """One complete run (export included) shared by the tests that read its results."""
    reporter = ListReporter()
    workdir = tmp_path_factory.mktemp("job")
    spec = make_spec("mlp", epochs=2, batch_size=16, hidden_layers=[32], learning_rate=0.01)
    result = train(spec, reporter, workdir, dataset=tiny_digits, batch_interval=0)
    return reporter, result, workdir


def test_epoch_events_arrive_in_order_with_validation_metrics(finished):
    reporter, result, _ = finished

    epochs = reporter.of_type("epoch")

    assert [event["epoch"] for event in epochs] == [1, 2]
    for event in epochs:
        assert event["epochs"] == 2
        assert set(event["logs"]) == {"loss", "accuracy", "val_loss", "val_accuracy"}
        assert all(isinstance(value, float) for value in event["logs"].values())
        assert event["duration_s"] > 0 and event["samples_per_s"] > 0
        assert 1 <= event["best_epoch"] <= event["epoch"]
    assert epochs[-1]["logs"]["val_loss"] == result["history"]["val_loss"][-1]


def test_with_no_batch_interval_every_batch_is_reported_in_order(finished):
    reporter, _, _ = finished
    steps = math.ceil(216 / 16)  # 240 samples less a 10% validation split

    batches = reporter.of_type("batch")

    assert [(b["epoch"], b["step"]) for b in batches] == [
        (epoch, step) for epoch in (1, 2) for step in range(1, steps + 1)]
    assert {b["steps"] for b in batches} == {steps}
    assert set(batches[0]["logs"]) == {"loss", "accuracy"} and batches[0]["samples_per_s"] > 0


def test_the_result_has_history_test_metrics_analysis_and_artifacts(finished, tiny_digits):
    reporter, result, _ = finished

    assert result["status"] == "succeeded"
    assert result["epochs_run"] == 2 and result["best_epoch"] in (1, 2)
    assert len(result["history"]["val_accuracy"]) == 2
    assert set(result["test_metrics"]) == {"loss", "accuracy"}
    assert result["precision"] == "float32" and result["devices"]
    assert result["fit_seconds"] > 0 and result["samples_per_s"] > 0
    matrix = np.array(result["analysis"]["confusion_matrix"])
    assert matrix.shape == (10, 10) and matrix.sum() == len(tiny_digits.y_test)
    assert np.trace(matrix) / matrix.sum() == pytest.approx(result["test_metrics"]["accuracy"])
    confidences = [s["confidence"] for s in result["analysis"]["low_confidence"]]
    assert len(confidences) == 10 and confidences == sorted(confidences)
    assert reporter.of_type("artifact") == result["artifacts"]


def test_a_checkpoint_of_the_latest_the_best_and_every_epoch_is_kept(finished):
    _, _, workdir = finished

    names = sorted(path.name for path in (workdir / "checkpoints").iterdir())

    # Per-epoch files let a fork start from any epoch (trainer.finetune).
    assert names == ["best.weights.npz", "epoch-1.weights.npz", "epoch-2.weights.npz", "latest.weights.npz"]


def test_the_latest_checkpoint_loads_into_a_fresh_model_and_predicts_like_the_export(finished, tiny_digits):
    import numpy as np
    import tf_keras as keras

    from trainer.checkpoint import load_checkpoint

    _, _, workdir = finished
    exported = keras.models.load_model(workdir / "model.h5", compile=False)
    fresh = keras.models.clone_model(exported)  # same layers, new random weights

    load_checkpoint(fresh, workdir / "checkpoints" / "latest.weights.npz")

    np.testing.assert_allclose(fresh.predict(tiny_digits.x_test, verbose=0),
                               exported.predict(tiny_digits.x_test, verbose=0), rtol=1e-5, atol=1e-6)


def test_batch_events_are_throttled_but_each_epochs_last_step_is_reported(tiny_digits, tmp_path,
                                                                          skip_export):
    reporter = ListReporter()
    spec = make_spec("mlp", epochs=2, batch_size=4, hidden_layers=[8])

    train(spec, reporter, tmp_path, dataset=tiny_digits, batch_interval=60)

    batches = [(b["epoch"], b["step"]) for b in reporter.of_type("batch")]
    assert batches == [(1, 1), (1, 54), (2, 1), (2, 54)]  # first and last of 54 steps
    assert [e["epoch"] for e in reporter.of_type("epoch")] == [1, 2]


def test_a_stop_request_cancels_within_a_batch_and_exports_nothing(tiny_digits, tmp_path):
    reporter = StopAfter(batches=30)  # 27 steps per epoch: asks to stop at epoch 2, step 4
    spec = make_spec("mlp", epochs=5, batch_size=8, hidden_layers=[8])

    result = train(spec, reporter, tmp_path, dataset=tiny_digits, batch_interval=0)

    assert result["status"] == "cancelled" and result["epochs_run"] == 1
    assert [(b["epoch"], b["step"]) for b in reporter.of_type("batch")][-1] == (2, 4)
    assert [e["epoch"] for e in reporter.of_type("epoch")] == [1]  # epoch 2 was cut short
    assert len(result["history"]["loss"]) == 1
    assert "artifacts" not in result and not (tmp_path / "tfjs").exists()


def test_a_nan_loss_fails_the_run_naming_the_epoch(tmp_path, skip_export):
    data = random_dataset()
    data.x_train[5, 0, 0, 0] = np.inf  # one bad pixel poisons the weights of its batch

    with pytest.raises(TrainingFailed, match=r"^loss became NaN at epoch 1$"):
        train(make_spec("mlp", epochs=3, batch_size=64, hidden_layers=[8]), ListReporter(),
              tmp_path, dataset=data, batch_interval=60)


def test_a_failing_reporter_never_breaks_training(tiny_digits, tmp_path, skip_export, caplog):
    reporter = Broken()

    result = train(make_spec("mlp", epochs=2, hidden_layers=[8]), reporter, tmp_path,
                   dataset=tiny_digits)

    assert result["status"] == "succeeded"
    assert [e["epoch"] for e in reporter.of_type("epoch")] == [1, 2]
    assert "Reporter failed" in caplog.text


def test_early_stopping_stops_after_patience_and_restores_the_best_epoch(tmp_path, skip_export):
    noise = random_dataset(n=200, seed=1)  # random labels: memorising makes val_loss worse
    reporter = ListReporter()
    spec = make_spec("mlp", epochs=30, patience=2, hidden_layers=[256], learning_rate=0.01,
                     validation_split=0.3)

    result = train(spec, reporter, tmp_path, dataset=noise)

    assert result["epochs_run"] == result["best_epoch"] + 2 < 30
    assert any(log["message"].startswith(f"Early stopping at epoch {result['epochs_run']}")
               for log in reporter.of_type("log"))


def test_fizzbuzz_reports_its_answers_for_1_to_100_each_epoch(tmp_path, skip_export):
    reporter = ListReporter()

    train(make_spec("fizzbuzz", epochs=2, num_digits=8, hidden_units=16), reporter, tmp_path)

    samples = reporter.of_type("sample")
    assert [s["epoch"] for s in samples] == [1, 2]
    assert len(samples[0]["predictions"]) == 100 and 0 <= samples[0]["accuracy"] <= 1
    assert all(p in ("fizz", "buzz", "fizzbuzz") or p == str(i)
               for i, p in enumerate(samples[-1]["predictions"], start=1))


def test_lenet_trains_on_8x8_digits_under_a_mirrored_strategy(tiny_digits, tmp_path, skip_export):
    reporter = ListReporter()

    result = train(make_spec("lenet", strategy="mirrored", epochs=1, batch_size=32),
                   reporter, tmp_path, dataset=tiny_digits)

    assert result["status"] == "succeeded" and result["devices"]
    assert "val_accuracy" in reporter.of_type("epoch")[0]["logs"]


def test_the_default_policy_is_restored_after_a_mixed_precision_run(tiny_digits, tmp_path,
                                                                    skip_export):
    import tf_keras as keras

    result = train(make_spec("mlp", precision="mixed_bfloat16", epochs=1, hidden_layers=[8]),
                   ListReporter(), tmp_path, dataset=tiny_digits)

    assert result["precision"] == "mixed_bfloat16"
    assert keras.mixed_precision.global_policy().name == "float32"


def test_auto_precision_is_float32_without_a_gpu(tiny_digits, tmp_path, skip_export):
    import tensorflow as tf

    result = train(make_spec("mlp", precision="auto", epochs=1, hidden_layers=[8]),
                   ListReporter(), tmp_path, dataset=tiny_digits)

    if not tf.config.list_physical_devices("GPU"):
        assert result["precision"] == "float32"


def test_learning_warnings_flag_an_accuracy_at_chance_and_name_a_blown_up_loss():
    import numpy as np

    from trainer.analysis import learning_warnings

    balanced = np.repeat(np.arange(10), 10)
    [dead] = learning_warnings(0.10, balanced, 10, [8.1e15, 2.47, 2.45])
    assert dead["code"] == "chance_level" and "0.100 is at chance level (0.100" in dead["message"]
    assert "reached 8.1e+15" in dead["message"] and "learning rate may be too high" in dead["message"]
    assert learning_warnings(0.15, balanced, 10, [2.3, 2.2])[0]["message"].endswith("more epochs.")
    assert learning_warnings(0.25, balanced, 10, [2.3, 1.9]) == []
    # Chance is the most common class when classes are unbalanced: 0.9 on a 90/10 split is nothing.
    skewed = np.array([0] * 90 + [1] * 10)
    assert learning_warnings(0.90, skewed, 2, [0.4, 0.3]) and not learning_warnings(0.99, skewed, 2, [0.4, 0.1])
