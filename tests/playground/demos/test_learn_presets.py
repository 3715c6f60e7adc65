"""The /learn/training/ presets: the server accepts each, and the real trainer shows the effect
the page promises (on the real digits data, export skipped)."""
from __future__ import annotations

import pytest

import trainer  # noqa: F401  (sets TF_USE_LEGACY_KERAS before anything imports TensorFlow)
from playground.demos.learn import ACTIVATIONS, PRESETS
from trainer.errors import TrainingFailed
from trainer.reporter import ListReporter
from trainer.run import train
from trainer.spec import validate_spec


@pytest.fixture
def skip_export(monkeypatch):
    monkeypatch.setattr("trainer.export.export_model", lambda *args, **kwargs: [])


def run_preset(key: str, workdir) -> tuple[dict, list[dict]]:
    reporter = ListReporter()
    result = train(validate_spec(PRESETS[key].body), reporter, workdir)
    return result, [event["logs"] for event in reporter.of_type("epoch")]


@pytest.mark.parametrize("key", PRESETS)
def test_every_preset_is_a_job_the_server_accepts(key):
    spec = validate_spec(PRESETS[key].body)

    assert spec.hyperparameters.items() >= PRESETS[key].body["hyperparameters"].items()


def test_every_activation_offered_to_the_mlp_is_one_it_takes():
    offered = {a.keras_name for a in ACTIVATIONS if a.offered}

    assert offered == {"linear", "sigmoid", "tanh", "softsign", "relu", "elu", "selu"}
    for name in offered:
        validate_spec({"recipe": "mlp", "hyperparameters": {"activation": name}})


def test_the_too_large_learning_rate_makes_the_job_fail_with_nan(tmp_path, skip_export):
    with pytest.raises(TrainingFailed, match="loss became NaN at epoch 1"):
        run_preset("lr_too_large", tmp_path)


def test_the_too_small_learning_rate_barely_moves_the_loss(tmp_path, skip_export):
    _, epochs = run_preset("lr_too_small", tmp_path)

    assert epochs[0]["loss"] - epochs[-1]["loss"] < 0.05
    assert epochs[-1]["val_accuracy"] < 0.2


def test_the_long_run_overfits_val_loss_turns_up_while_loss_keeps_falling(tmp_path, skip_export):
    result, epochs = run_preset("overfit", tmp_path)
    val_loss = [e["val_loss"] for e in epochs]
    best = val_loss.index(min(val_loss))

    assert len(epochs) == 40
    assert best < 20
    assert val_loss[-1] > 1.15 * val_loss[best]
    assert epochs[-1]["loss"] < epochs[best]["loss"]


def test_patience_stops_the_same_run_five_epochs_after_its_best(tmp_path, skip_export):
    result, epochs = run_preset("early_stopping", tmp_path)

    assert result["epochs_run"] < 25
    assert result["epochs_run"] == result["best_epoch"] + 5
    print("early stopping:", result["epochs_run"], result["best_epoch"])
