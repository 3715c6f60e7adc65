"""`train(spec, reporter, workdir)`: the single entry point that runs one job."""

from __future__ import annotations

import functools
import logging
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trainer import datasets
from trainer.errors import TrainingFailed
from trainer.recipes import get_recipe
from trainer.reporter import Reporter
from trainer.spec import JobSpec

__all__ = ["train", "TrainingFailed"]

logger = logging.getLogger(__name__)

LOW_CONFIDENCE_SAMPLES = 10
CHECKPOINT_LATEST = "latest.weights.npz"
CHECKPOINT_BEST = "best.weights.npz"


class _SafeReporter:
    """Wraps a reporter so its failures are logged and never end a training run."""

    def __init__(self, reporter: Reporter) -> None:
        self._reporter = reporter

    def on_event(self, type: str, data: dict) -> None:
        try:
            self._reporter.on_event(type, data)
        except Exception:
            logger.exception("Reporter failed on a %s event; training goes on.", type)

    def should_stop(self) -> bool:
        try:
            return bool(self._reporter.should_stop())
        except Exception:
            logger.exception("Reporter failed in should_stop(); training goes on.")
            return False

    def log(self, message: str) -> None:
        logger.info(message)
        self.on_event("log", {"message": message})


@dataclass
class RunContext:
    """Everything a recipe's runner needs; built by `train()`.

    A runner (`Recipe.run`, default `run_classification`) loads data, builds the model under
    `strategy.scope()`, fits it with `callback(...)` (progress, checkpoints, cancel, NaN,
    early stopping), evaluates, exports, and returns its part of the result.
    """

    spec: JobSpec
    recipe: Any
    hp: dict[str, Any]
    workdir: Path
    events: _SafeReporter
    data_dir: str | os.PathLike | None
    dataset: Any
    strategy: Any
    precision: str
    devices: list[str]
    batch_interval: float

    def load_dataset(self, **options):
        """Returns the dataset given to `train()`, else `datasets.load(spec.dataset, ...)`."""
        if self.dataset is None:
            options = {**{name: self.hp[name] for name in self.recipe.dataset_options}, **options}
            self.dataset = datasets.load(self.spec.dataset, self.data_dir, **options)
        return self.dataset

    def callback(self, *, num_samples: int, batch_size: int, monitor: str | None = "val_loss",
                 sample=None):
        """Returns the job callback for `model.fit` (see `_JobCallback`).

        Args:
            num_samples: training samples per epoch (for samples/s).
            batch_size: samples per step.
            monitor: the epoch log to minimise for the best epoch and early stopping; None
                makes the latest epoch the best (e.g. a GAN, which has no validation loss).
            sample: optional `sample(model) -> dict`, sent as a `sample` event every epoch.
        """
        return _job_callback_class()(
            self.events, self.workdir / "checkpoints", patience=self.hp.get("patience", 0),
            batch_size=batch_size, num_samples=num_samples, batch_interval=self.batch_interval,
            sample=sample, monitor=monitor,
        )

    def fit_summary(self, callback, history, fit_seconds: float, num_samples: int) -> dict[str, Any]:
        """Returns the result keys every runner shares, from a finished `model.fit`."""
        epochs_run = callback.completed_epochs
        return {
            "status": "cancelled" if callback.cancelled else "succeeded",
            "epochs_run": epochs_run,
            "best_epoch": callback.best_epoch,
            # A cancelled epoch is cut short; Keras still logs it, but it is not an epoch.
            "history": {name: [float(v) for v in values[:epochs_run]]
                        for name, values in history.history.items()},
            "fit_seconds": fit_seconds,
            "samples_per_s": num_samples * epochs_run / fit_seconds if fit_seconds else 0.0,
        }

    def publish_artifacts(self, artifacts: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for artifact in artifacts:
            self.events.on_event("artifact", artifact)
        return artifacts


def train(
    spec: JobSpec,
    reporter: Reporter,
    workdir: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    dataset: Any = None,
    *,
    batch_interval: float = 0.25,
) -> dict[str, Any]:
    """Trains, evaluates and exports the model a job spec describes.

    Events go to `reporter` as they happen (`batch` throttled to one per `batch_interval`
    seconds, `epoch` never throttled, `sample`, `log`, `artifact`); status changes are the
    caller's business.

    Args:
        spec: a validated job spec (see `trainer.spec.validate_spec`).
        reporter: receives events; its `should_stop()` is polled at every batch end.
        workdir: where checkpoints (`checkpoints/`) and exports (`model.h5`, `tfjs/`) go.
        data_dir: dataset cache folder; None → the datasets module's default.
        dataset: use this data instead of loading `spec.dataset` (tests, benchmarks).
        batch_interval: minimum seconds between two `batch` events.

    Returns:
        `{"status": "succeeded" | "cancelled", "epochs_run", "best_epoch", "history",
        "test_metrics", "analysis", "artifacts", "precision", "devices", "fit_seconds",
        "samples_per_s"}`; a cancelled run has no test metrics, analysis or artifacts.

    Raises:
        TrainingFailed: the loss became NaN or infinite (the message names the epoch).
        trainer.datasets.DatasetError: the dataset could not be loaded.
    """
    import tensorflow as tf
    import tf_keras as keras

    recipe = get_recipe(spec.recipe)
    hp = {**recipe.defaults(), **spec.hyperparameters}
    keras.utils.set_random_seed(hp["seed"])
    precision = resolve_precision(spec.precision)
    keras.mixed_precision.set_global_policy(precision)
    try:
        strategy = (tf.distribute.MirroredStrategy() if spec.strategy == "mirrored"
                    else tf.distribute.get_strategy())
        context = RunContext(
            spec=spec, recipe=recipe, hp=hp, workdir=Path(workdir), events=_SafeReporter(reporter),
            data_dir=data_dir, dataset=dataset, strategy=strategy, precision=precision,
            devices=_device_names(tf, strategy, spec.strategy), batch_interval=batch_interval,
        )
        result = (recipe.run or run_classification)(context)
        return {"precision": precision, "devices": context.devices, **result}
    finally:
        keras.mixed_precision.set_global_policy("float32")


def run_classification(context: RunContext) -> dict[str, Any]:
    """The runner of image/feature classifiers (mlp, lenet, fizzbuzz)."""
    from trainer.export import export_model

    hp, recipe, events = context.hp, context.recipe, context.events
    dataset = context.load_dataset()
    x_train, y_train, x_val, y_val = split_validation(
        dataset.x_train, dataset.y_train, hp["validation_split"], hp["seed"]
    )
    events.log(f"Training {recipe.name} on {dataset.name} ({len(x_train)} train, "
               f"{len(x_val)} validation samples) with {context.precision} on "
               f"{', '.join(context.devices)}.")
    with context.strategy.scope():
        model = recipe.build(hp, dataset.input_shape, dataset.num_classes)
        model.compile(
            optimizer=make_optimizer(hp["optimizer"], hp["learning_rate"]),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
    callback = context.callback(
        num_samples=len(x_train), batch_size=hp["batch_size"],
        sample=(lambda m: recipe.sample(m, dataset.x_test, dataset.y_test)) if recipe.sample else None,
    )
    started = time.perf_counter()
    history = model.fit(
        x_train, y_train, validation_data=(x_val, y_val), epochs=hp["epochs"],
        batch_size=hp["batch_size"], shuffle=True, callbacks=[callback], verbose=0,
    )
    result = context.fit_summary(callback, history, time.perf_counter() - started, len(x_train))
    if callback.cancelled:
        events.log(f"Cancelled during epoch {callback.epoch}.")
        return result

    probabilities = model.predict(dataset.x_test, batch_size=256, verbose=0)
    result["test_metrics"] = score_predictions(probabilities, dataset.y_test)
    result["analysis"] = analyse(probabilities, dataset.y_test, dataset.class_names)
    events.log(f"Test accuracy {result['test_metrics']['accuracy']:.4f}; exporting.")
    result["artifacts"] = context.publish_artifacts(
        export_model(model, context.workdir, dataset.x_test, dataset.y_test))
    return result


@functools.cache
def _job_callback_class():
    # The callback subclasses a Keras class, so it is defined on first use: importing this
    # module must not import TensorFlow.
    import tf_keras as keras

    class _JobCallback(keras.callbacks.Callback):
        """Reports progress, checkpoints, stops early, honours cancellation, catches NaN.

        One callback does it all so Keras makes one Python call per batch, and it leaves
        batch logs as tensors (`_supports_tf_logs`) unless it actually emits an event:
        reading a value forces a device sync, which would cost throughput on a GPU.
        """

        def __init__(self, events: _SafeReporter, checkpoint_dir: Path, *, patience: int,
                     batch_size: int, num_samples: int, batch_interval: float,
                     sample=None, monitor: str | None = "val_loss") -> None:
            super().__init__()
            self._supports_tf_logs = True
            self.events = events
            self.checkpoint_dir = checkpoint_dir
            self.patience = patience
            self.batch_size = batch_size
            self.num_samples = num_samples
            self.batch_interval = batch_interval
            self.sample = sample
            self.monitor = monitor
            self.cancelled = False
            self.epoch = 0
            self.completed_epochs = 0
            self.best_epoch = 0
            self.best_val_loss = math.inf
            self.best_weights = None
            self.stopped_early = False

        def on_train_begin(self, logs=None) -> None:
            self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
            self.epochs = self.params["epochs"]
            self.steps = self.params["steps"]

        def on_epoch_begin(self, epoch: int, logs=None) -> None:
            self.epoch = epoch + 1
            self.epoch_started = self.last_emit = time.perf_counter()
            self.last_emit -= self.batch_interval  # the first batch may be reported at once

        def on_train_batch_end(self, batch: int, logs=None) -> None:
            if self.events.should_stop():
                self.cancelled = True
                self.model.stop_training = True
            step = batch + 1
            now = time.perf_counter()
            if now - self.last_emit < self.batch_interval and step != self.steps:
                return
            self.last_emit = now
            values = _floats(logs)
            self._check_finite(values)
            seen = min(step * self.batch_size, self.num_samples)
            self.events.on_event("batch", {
                "epoch": self.epoch, "epochs": self.epochs, "step": step, "steps": self.steps,
                "logs": values, "samples_per_s": seen / max(now - self.epoch_started, 1e-9),
            })

        def on_epoch_end(self, epoch: int, logs=None) -> None:
            if self.cancelled:
                return
            self.completed_epochs = self.epoch
            values = _floats(logs)
            self._check_finite(values)
            duration = time.perf_counter() - self.epoch_started
            # Without a monitored value every epoch is "best": the latest model is the one kept.
            current = values.get(self.monitor, math.inf) if self.monitor else -math.inf
            improved = current < self.best_val_loss or self.monitor is None
            if improved:
                self.best_val_loss, self.best_epoch = current, self.epoch
                if self.patience:
                    self.best_weights = self.model.get_weights()
            self._checkpoint(improved)
            self.events.on_event("epoch", {
                "epoch": self.epoch, "epochs": self.epochs, "logs": values,
                "best_epoch": self.best_epoch, "duration_s": duration,
                "samples_per_s": self.num_samples / max(duration, 1e-9),
            })
            if self.sample is not None:
                self.events.on_event("sample", {"epoch": self.epoch, **self.sample(self.model)})
            if self.patience and self.epoch - self.best_epoch >= self.patience:
                self.stopped_early = self.model.stop_training = True
                self.events.log(
                    f"Early stopping at epoch {self.epoch}: {self.monitor} has not improved for "
                    f"{self.patience} epoch(s); restoring weights from epoch {self.best_epoch}."
                )

        def on_train_end(self, logs=None) -> None:
            # With early stopping on, the model that gets tested and exported is the best one,
            # whether or not patience ran out.
            if self.best_weights is not None and self.best_epoch != self.epoch:
                self.model.set_weights(self.best_weights)
                if not self.stopped_early:
                    self.events.log(f"Restored weights from best epoch {self.best_epoch}.")

        def _checkpoint(self, improved: bool) -> None:
            # The model's weights as one uncompressed .npz: ~1 ms for the MLP where
            # save_weights() to HDF5 cost ~25 ms, 5% of an epoch (benchmarks/overhead.py).
            # Written to a temporary name and renamed, so a crash never leaves half a file;
            # best is a file copy rather than a second serialisation.
            latest = self.checkpoint_dir / CHECKPOINT_LATEST
            partial = latest.with_suffix(".partial.npz")
            np.savez(partial, *self.model.get_weights())
            os.replace(partial, latest)
            if improved:
                shutil.copyfile(latest, self.checkpoint_dir / CHECKPOINT_BEST)

        def _check_finite(self, values: dict[str, float]) -> None:
            loss = values.get("loss")
            if loss is not None and not math.isfinite(loss):
                kind = "NaN" if math.isnan(loss) else "infinite"
                raise TrainingFailed(f"loss became {kind} at epoch {self.epoch}")

    return _JobCallback


def load_checkpoint(model, path: str | os.PathLike) -> None:
    """Loads a checkpoint written during training (`checkpoints/latest.weights.npz` or
    `best.weights.npz`) into a model built with the same recipe and hyperparameters.

    Raises:
        ValueError: the checkpoint does not match the model's weights.
    """
    with np.load(path) as stored:
        weights = [stored[f"arr_{i}"] for i in range(len(stored.files))]
    expected = [w.shape for w in model.get_weights()]
    if [w.shape for w in weights] != expected:
        raise ValueError(f"{path} holds weights of shapes {[w.shape for w in weights]}, "
                         f"the model expects {expected}.")
    model.set_weights(weights)


def _floats(logs) -> dict[str, float]:
    return {name: float(value) for name, value in (logs or {}).items()}


def resolve_precision(precision: str) -> str:
    """Returns the Keras policy name for a spec's precision ("auto" picks by hardware).

    "auto" means mixed_float16 on a GPU with compute capability 7.0+ (tensor cores), where it
    is faster and numerically safe with loss scaling; float32 everywhere else.
    """
    if precision != "auto":
        return precision
    import tensorflow as tf

    for gpu in tf.config.list_physical_devices("GPU"):
        capability = tf.config.experimental.get_device_details(gpu).get("compute_capability")
        if capability and tuple(capability) >= (7, 0):
            return "mixed_float16"
    return "float32"


def split_validation(x: np.ndarray, y: np.ndarray, fraction: float, seed: int):
    """Returns `(x_train, y_train, x_val, y_val)`: a seeded random `fraction` held out."""
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = min(max(1, round(len(x) * fraction)), len(x) - 1)
    val, train = order[:n_val], order[n_val:]
    return x[train], y[train], x[val], y[val]


def make_optimizer(name: str, learning_rate: float):
    """Returns a tf_keras optimizer; "momentum" is SGD with momentum 0.9."""
    import tf_keras as keras

    if name == "momentum":
        return keras.optimizers.SGD(learning_rate, momentum=0.9)
    classes = {"sgd": keras.optimizers.SGD, "adagrad": keras.optimizers.Adagrad,
               "rmsprop": keras.optimizers.RMSprop, "adam": keras.optimizers.Adam}
    return classes[name](learning_rate)


def _device_names(tf, strategy, strategy_name: str) -> list[str]:
    if strategy_name == "mirrored":
        return list(strategy.extended.worker_devices)
    # The default strategy places ops on the first GPU if there is one.
    gpus = tf.config.list_logical_devices("GPU")
    return [gpus[0].name if gpus else tf.config.list_logical_devices("CPU")[0].name]


def score_predictions(probabilities: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Returns test loss (sparse categorical cross-entropy) and accuracy from predictions."""
    picked = probabilities[np.arange(len(labels)), labels]
    loss = -np.mean(np.log(np.clip(picked, 1e-7, 1.0)))
    accuracy = np.mean(np.argmax(probabilities, axis=1) == labels)
    return {"loss": float(loss), "accuracy": float(accuracy)}


def analyse(probabilities: np.ndarray, labels: np.ndarray,
            class_names: list[str]) -> dict[str, Any]:
    """Returns the confusion matrix (rows: true class) and the least confident test samples."""
    num_classes = probabilities.shape[1]
    predicted = np.argmax(probabilities, axis=1)
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    confidence = probabilities[np.arange(len(labels)), predicted]
    least = np.argsort(confidence, kind="stable")[:LOW_CONFIDENCE_SAMPLES]
    return {
        "class_names": list(class_names),
        "confusion_matrix": matrix.tolist(),
        "low_confidence": [
            {"index": int(i), "label": int(labels[i]), "predicted": int(predicted[i]),
             "confidence": float(confidence[i])}
            for i in least
        ],
    }
