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
from trainer.spec import JobSpec, parse_strategy

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
    initial_weights: str | os.PathLike | None = None  # a parent job's checkpoint (forks)
    freeze: str = "none"
    tensorboard: bool = True
    retention: Any = None  # trainer.checkpoint.Retention; None keeps every epoch's checkpoint
    # Set when train() found a resumable checkpoint (trainer.checkpoint.ResumeState).
    resume: Any = None
    reported_epochs: int | None = None
    max_tfjs_bytes: int | None = None  # no TF.js export above these float32 weight bytes

    @property
    def initial_epoch(self) -> int:
        """Epochs already completed by an earlier, interrupted run: pass it to `model.fit`."""
        return self.resume.completed_epochs if self.resume else 0

    def prepare_model(self, model) -> None:
        """Loads the parent checkpoint and freezes layers if the job is a fork; call it
        between building and compiling the model."""
        from trainer.finetune import prepare_model

        if self.initial_weights is None and self.freeze == "none":
            return
        frozen = prepare_model(model, self.initial_weights, self.freeze, log=self.events.log)
        self.events.log(f"Started from checkpoint {Path(self.initial_weights).name if self.initial_weights else '(none)'}"
                        + (f"; frozen layers: {', '.join(frozen)}." if frozen else "."))

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
            sample=sample, monitor=monitor, resume=self.resume, reported_epochs=self.reported_epochs,
            retention=self.retention,
            tensorboard_dir=self.workdir / "tensorboard" if self.tensorboard else None,
        )

    def fit_summary(self, callback, history, fit_seconds: float, num_samples: int) -> dict[str, Any]:
        """Returns the result keys every runner shares, from a finished `model.fit`."""
        epochs_run = callback.completed_epochs
        # A resumed fit's history starts at its initial epoch; the checkpoint has the rest.
        earlier = callback.resume.history if callback.resumed_fit else {}
        history.history = {name: [*earlier.get(name, []), *values]
                           for name, values in history.history.items()}
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

    def export_options(self) -> dict[str, Any]:
        """Returns the keyword arguments every `trainer.export` call of a runner passes on."""
        return {"max_tfjs_bytes": self.max_tfjs_bytes, "log": self.events.log}

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
    initial_weights: str | os.PathLike | None = None,
    freeze: str = "none",
    tensorboard: bool = True,
    resume: bool = True,
    reported_epochs: int | None = None,
    retention: Any = None,
    max_tfjs_bytes: int | None = None,
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
        initial_weights: a checkpoint (`.weights.npz`) to start from instead of fresh weights.
        freeze: "none" or "all_but_last" (fine-tuning: only the last layer with weights trains).
        tensorboard: write TensorBoard epoch logs to `workdir/tensorboard`.
        resume: when `workdir/checkpoints/latest.weights.npz` holds a resumable checkpoint
            (a worker died mid-job), continue after its last completed epoch with its
            weights and optimizer state, and report only the epochs after it. False starts
            over. A runner resumes by passing `initial_epoch=context.initial_epoch` to
            `model.fit`; one that does not retrains from epoch 1 without re-reporting.
        reported_epochs: epoch events the caller already has; an epoch whose checkpoint was
            written but whose event was lost with the worker is re-sent. None: all of them.
        retention: a `trainer.checkpoint.Retention` saying which per-epoch checkpoints to
            keep (the others are deleted as training goes on); None keeps every epoch's.
        max_tfjs_bytes: export no TF.js variant of a model whose float32 weights are larger
            (the run logs why); None exports them whatever their size.

    Returns:
        `{"status": "succeeded" | "cancelled", "epochs_run", "best_epoch", "history",
        "test_metrics", "analysis", "artifacts", "precision", "devices", "replicas",
        "strategy", "workers", "global_batch_size", "per_replica_batch_size", "fit_seconds",
        "samples_per_s"}`; a cancelled run has no test metrics, analysis or artifacts.
        `precision` is the policy actually used (float32 for mixed_float16 on a worker
        without GPU); `batch_size` is global, split over replicas (over every worker's for
        multi_worker, where `devices` lists this worker's own).

    Raises:
        TrainingFailed: the loss became NaN or infinite (the message names the epoch).
        trainer.datasets.DatasetError: the dataset could not be loaded.
    """
    if dataset is None:
        # Offline, a missing MNIST/CIFAR/MovieLens file fails the job here in a second with the
        # download message, before TensorFlow is imported or a model built.
        datasets.ensure_files(spec.dataset, data_dir)
    import tensorflow as tf
    import tf_keras as keras

    recipe = get_recipe(spec.recipe)
    hp = {**recipe.defaults(), **spec.hyperparameters}
    state = _resume_state(Path(workdir), resume)
    # The RNG state of a killed process is gone; a resumed run reseeds from the seed and
    # the resume point, so it is reproducible (and equal to a fresh run "within noise").
    keras.utils.set_random_seed(hp["seed"] + 7919 * (state.completed_epochs if state else 0))
    from trainer.devices import make_strategy, replica_batch_size, resolve_precision_for_devices

    events = _SafeReporter(reporter)
    precision, precision_note = resolve_precision_for_devices(resolve_precision(spec.precision))
    keras.mixed_precision.set_global_policy(precision)
    try:
        strategy_name, replicas = parse_strategy(spec.strategy)
        if strategy_name == "mirrored" and replicas is None and spec.gpus:
            replicas = spec.gpus  # the worker may have more GPUs than the job asked for
        strategy, devices = make_strategy(strategy_name, replicas)
        # Every worker's devices for multi_worker (devices lists this worker's only).
        in_sync = strategy.num_replicas_in_sync
        workers = replicas if strategy_name == "multi_worker" else 1
        # batch_size is the global batch: Keras splits each one across the replicas.
        run_info = {"precision": precision, "devices": devices, "replicas": in_sync,
                    "strategy": strategy_name, "workers": workers,
                    "global_batch_size": hp["batch_size"],
                    "per_replica_batch_size": replica_batch_size(hp["batch_size"], in_sync)}
        if precision_note:
            events.log(precision_note)
        on = f"{workers} workers" if workers > 1 else ", ".join(devices)
        events.log(f"Running in {precision} with the {strategy_name} strategy on "
                   f"{in_sync} replica(s) ({on}): global batch size "
                   f"{hp['batch_size']}, {run_info['per_replica_batch_size']} per replica.")
        context = RunContext(
            spec=spec, recipe=recipe, hp=hp, workdir=Path(workdir), events=events,
            data_dir=data_dir, dataset=dataset, strategy=strategy, precision=precision,
            devices=devices, batch_interval=batch_interval,
            initial_weights=initial_weights, freeze=freeze, tensorboard=tensorboard,
            retention=retention, resume=state, reported_epochs=reported_epochs,
            max_tfjs_bytes=max_tfjs_bytes,
        )
        if state:
            context.events.log(f"Resuming after epoch {state.completed_epochs} from its checkpoint "
                               "(weights and optimizer state).")
        result = (recipe.run or run_classification)(context)
        return {**run_info, **result}
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
        context.prepare_model(model)
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
        batch_size=hp["batch_size"], shuffle=True, callbacks=[callback],
        verbose=0, initial_epoch=context.initial_epoch,
    )
    result = context.fit_summary(callback, history, time.perf_counter() - started, len(x_train))
    if callback.cancelled:
        events.log(f"Cancelled during epoch {callback.epoch}.")
        return result

    probabilities = model.predict(dataset.x_test, batch_size=256, verbose=0)
    result["test_metrics"] = score_predictions(probabilities, dataset.y_test)
    result["analysis"] = analyse(probabilities, dataset.y_test, dataset.class_names,
                                 images=dataset.x_test)
    from trainer.analysis import learning_warnings

    result["warnings"] = learning_warnings(result["test_metrics"]["accuracy"], dataset.y_test,
                                           dataset.num_classes, result["history"].get("loss", []))
    for warning in result["warnings"]:
        events.on_event("log", {"message": warning["message"], "warning": warning["code"]})
    events.log(f"Test accuracy {result['test_metrics']['accuracy']:.4f}; exporting.")
    result["artifacts"] = context.publish_artifacts(
        export_model(model, context.workdir, dataset.x_test, dataset.y_test, **context.export_options()))
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
                     sample=None, monitor: str | None = "val_loss", resume=None,
                     reported_epochs: int | None = None, tensorboard_dir: Path | None = None,
                     retention=None) -> None:
            super().__init__()
            # TensorBoard scalars are written here from the epoch logs we already hold:
            # keras.callbacks.TensorBoard cost 6% of the MLP's throughput (overhead.py A/B)
            # even with update_freq="epoch", through its per-batch hooks.
            self.tensorboard_dir = tensorboard_dir
            self.summary_writer = None
            self.retention = retention
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
            self.resume = resume
            self.resumed_fit = False  # True once the checkpoint is loaded at initial_epoch
            self.reported_epochs = reported_epochs
            self.history: dict[str, list[float]] = {}
            self.last_epoch_event = None
            if resume:
                self.completed_epochs = self.epoch = self.best_epoch = resume.completed_epochs
                self.best_epoch = resume.best_epoch
                self.best_val_loss = math.inf if resume.best_value is None else resume.best_value
                self.history = {k: list(v) for k, v in resume.history.items()}
                self.last_epoch_event = resume.last_epoch_event

        @property
        def initial_epoch(self) -> int:
            return self.resume.completed_epochs if self.resume else 0

        def on_train_begin(self, logs=None) -> None:
            import tensorflow as tf

            if isinstance(self.model.distribute_strategy, tf.distribute.MultiWorkerMirroredStrategy):
                # Keras' "auto" reduction SUMS batch logs over the workers (2 workers: twice
                # the loss); "first" gives this worker's own. Epoch logs are global either way.
                self.model.distribute_reduction_method = "first"
            self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
            self.epochs = self.params["epochs"]
            self.steps = self.params["steps"]

        def on_epoch_begin(self, epoch: int, logs=None) -> None:
            if self.resume and not getattr(self, "_restored", False):
                self._restore(epoch)
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
            if self.epoch <= self.initial_epoch:
                return  # a runner without initial_epoch retrains an epoch already reported
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
            for name, value in values.items():
                self.history.setdefault(name, []).append(value)
            self.last_epoch_event = {
                "epoch": self.epoch, "epochs": self.epochs, "logs": values,
                "best_epoch": self.best_epoch, "duration_s": duration,
                "samples_per_s": self.num_samples / max(duration, 1e-9),
            }
            # Checkpoint before the event: a worker killed in between re-sends the event on
            # resume (see reported_epochs) rather than training the epoch twice.
            self._checkpoint(improved)
            # A restart without a checkpoint (the last attempt left none here, e.g. on another
            # machine's disk) retrains epochs the job already reported: they are not sent twice.
            new = self.reported_epochs is None or self.epoch > self.reported_epochs
            if new:
                self.events.on_event("epoch", self.last_epoch_event)
            self._write_summaries(values)
            if self.sample is not None and new:
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
            # The model's weights, optimizer variables and this callback's state as one
            # uncompressed .npz (trainer/checkpoint.py): ~1 ms for the MLP where
            # save_weights() to HDF5 cost ~25 ms, 5% of an epoch (benchmarks/overhead.py).
            # Written to a temporary name and renamed, so a crash never leaves half a file;
            # best is a file copy rather than a second serialisation.
            from trainer.checkpoint import ResumeState, write_checkpoint

            latest = self.checkpoint_dir / CHECKPOINT_LATEST
            write_checkpoint(latest, self.model, ResumeState(
                completed_epochs=self.epoch, best_epoch=self.best_epoch,
                best_value=self.best_val_loss if math.isfinite(self.best_val_loss) else None,
                history=self.history, last_epoch_event=self.last_epoch_event,
            ))
            if improved:
                shutil.copyfile(latest, self.checkpoint_dir / CHECKPOINT_BEST)
            # One file per epoch, so a fork can start from any epoch (trainer.finetune), less
            # those the retention policy prunes.
            shutil.copyfile(latest, self.checkpoint_dir / f"epoch-{self.epoch}.weights.npz")
            if self.retention is not None:
                from trainer.finetune import checkpoint_file, saved_epochs

                saved = saved_epochs(self.checkpoint_dir)
                for epoch in set(saved) - self.retention.kept(saved, self.epoch, self.best_epoch):
                    checkpoint_file(self.checkpoint_dir, epoch).unlink(missing_ok=True)

        def _restore(self, epoch: int) -> None:
            # First epoch of a resumed run: load the checkpoint into the freshly built model
            # and optimizer before the first step.
            from trainer.checkpoint import restore_optimizer

            self._restored = True
            latest = self.checkpoint_dir / CHECKPOINT_LATEST
            if epoch != self.initial_epoch:
                self.events.log(f"This recipe's runner does not resume; retraining from epoch "
                                f"{epoch + 1} without reporting epochs 1-{self.initial_epoch} again.")
                return
            load_checkpoint(self.model, latest)
            # Metrics tracked as layers (a GAN's) were saved at their end-of-epoch totals; Keras
            # already reset them for this epoch before calling us.
            self.model.reset_metrics()
            self.resumed_fit = True
            restore_optimizer(self.model, latest)
            best = self.checkpoint_dir / CHECKPOINT_BEST
            if self.patience and best.exists():
                self.best_weights = _read_weights(best)
            if self.reported_epochs is not None and self.reported_epochs < self.initial_epoch \
                    and self.last_epoch_event is not None:
                self.events.on_event("epoch", self.last_epoch_event)

        def _write_summaries(self, values: dict[str, float]) -> None:
            if self.tensorboard_dir is None:
                return
            import tensorflow as tf

            if self.summary_writer is None:
                self.summary_writer = tf.summary.create_file_writer(str(self.tensorboard_dir))
            with self.summary_writer.as_default():
                for name, value in values.items():
                    tf.summary.scalar(name, value, step=self.epoch)
            self.summary_writer.flush()

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
    weights = _read_weights(path)
    expected = [w.shape for w in model.get_weights()]
    if [w.shape for w in weights] != expected:
        raise ValueError(f"{path} holds weights of shapes {[w.shape for w in weights]}, "
                         f"the model expects {expected}.")
    model.set_weights(weights)


def _read_weights(path: str | os.PathLike) -> list[np.ndarray]:
    with np.load(path) as stored:
        # arr_<i> are the model's weights; a resumable checkpoint also holds opt_<i> and state.
        return [stored[f"arr_{i}"] for i in range(sum(n.startswith("arr_") for n in stored.files))]


def _resume_state(workdir: Path, resume: bool):
    if not resume:
        return None
    from trainer.checkpoint import read_resume_state

    state = read_resume_state(workdir / "checkpoints" / CHECKPOINT_LATEST)
    return state if state and state.completed_epochs > 0 else None


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


def score_predictions(probabilities: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Returns test loss (sparse categorical cross-entropy) and accuracy from predictions."""
    picked = probabilities[np.arange(len(labels)), labels]
    loss = -np.mean(np.log(np.clip(picked, 1e-7, 1.0)))
    accuracy = np.mean(np.argmax(probabilities, axis=1) == labels)
    return {"loss": float(loss), "accuracy": float(accuracy)}


def analyse(probabilities: np.ndarray, labels: np.ndarray,
            class_names: list[str], images: np.ndarray | None = None) -> dict[str, Any]:
    """Returns the confusion matrix (rows: true class), the least confident test samples,
    and the drill-down of `trainer.analysis.drill_down` (per-class accuracy, samples with
    images and probabilities per confusion-matrix cell)."""
    from trainer.analysis import drill_down

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
        **drill_down(probabilities, labels, predicted, least, images),
    }
