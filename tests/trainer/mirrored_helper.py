"""Runs mirrored jobs on two logical CPU devices and prints a JSON summary (see test_mirrored).

A subprocess, because logical devices can only be configured before TensorFlow initialises,
which the pytest process has long done by the time a test runs.
"""

from __future__ import annotations

import json
import sys
import tempfile

import trainer  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
import trainer.export
from trainer.datasets import Dataset, load
from trainer.devices import configure_devices
from trainer.errors import TrainingFailed
from trainer.reporter import ListReporter
from trainer.run import train
from trainer.spec import validate_spec


def tiny_digits() -> Dataset:
    digits = load("digits")
    return Dataset("digits", digits.x_train[:320], digits.y_train[:320], digits.x_test[:120],
                   digits.y_test[:120], 10, digits.input_shape, digits.class_names)


def run(strategy: str, dataset: Dataset, epochs: int) -> dict:
    spec = validate_spec({"recipe": "mlp", "strategy": strategy, "hyperparameters": {
        "epochs": epochs, "batch_size": 32, "hidden_layers": [32], "learning_rate": 0.01,
        "optimizer": "adam"}})
    reporter = ListReporter()
    with tempfile.TemporaryDirectory() as workdir:
        try:
            result = train(spec, reporter, workdir, dataset=dataset)
        except TrainingFailed as error:
            return {"error": str(error)}
    logs = [data["message"] for kind, data in reporter.events if kind == "log"]
    keys = ("devices", "replicas", "per_replica_batch_size", "history", "test_metrics",
            "epochs_run")
    return {**{key: result[key] for key in keys}, "logs": logs}


def main() -> None:
    cpus = configure_devices(int(sys.argv[1]))
    # Export is tested on its own; here it would only add seconds.
    trainer.export.export_model = lambda *args, **kwargs: []
    dataset = tiny_digits()
    print(json.dumps({
        "logical_cpus": cpus,
        "mirrored": run("mirrored", dataset, epochs=4),
        "mirrored_1": run("mirrored:1", dataset, epochs=1),
        "mirrored_3": run("mirrored:3", dataset, epochs=1),
        "late_configure": late_configure_error(),
    }))


def late_configure_error() -> str:
    try:
        configure_devices(3)  # TensorFlow has run ops by now: too late for a new layout
    except RuntimeError as error:
        return str(error)
    return ""


if __name__ == "__main__":
    main()
