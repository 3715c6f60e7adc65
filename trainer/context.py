"""`RunContext`: what `trainer.run.train` hands a recipe's runner, and the training spine every
runner shares (`fit`, then `finish`); `SafeReporter`, the reporter a run talks through.

A runner keeps only what is its own: its data, its model, its metrics and its exports. The
rest happens here once: the job callback (progress, checkpoints, resume, cancel, NaN, early
stopping), `model.fit` from the resume point, the fit summary, the early return of a cancelled
run, and publishing the artifacts.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from trainer import datasets
from trainer.reporter import Reporter
from trainer.spec import JobSpec

logger = logging.getLogger(__name__)

# trainer.pacing: the longest one execution of several training steps should take, and the
# most steps it may run. At 0.1 s the cancel flag is polled ~10 times a second and a batch
# event (every batch_interval, 0.25 s by default) is at most 0.1 s late.
PACE_TARGET_S = 0.1
PACE_CAP = 64
# The looping train function traces 0.2-0.35 s longer for the MLP (~0.8 s for LeNet's
# convolutions, 2 CPUs) and saves the callbacks' round trip, 0.4-0.6 ms a step for the MLP at
# batch 32: a fit of fewer steps runs as Keras does by default, so a small job's first epoch
# event comes sooner (the digits MLP: 20 x 41 steps).
PACE_MIN_STEPS = 1000


class SafeReporter:
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

    A runner (`Recipe.run`, default `trainer.fitting.run_classification`) loads its data,
    builds and compiles its model under `strategy.scope()`, then

        result = context.fit(model, x, y, num_samples=..., validation_data=..., sample=...)
        return context.finish(result, evaluate=lambda result: {...}, export=lambda: [...])
    """

    spec: JobSpec
    recipe: Any
    hp: dict[str, Any]
    workdir: Path
    events: SafeReporter
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
    snapshot_interval_s: float | None = None  # trainer.snapshot while training; None: none
    base_models: dict[str, Any] = field(default_factory=dict)  # hyperparameter → another job's model.h5

    def snapshot_callbacks(self) -> list:
        """The callback that keeps a TF.js snapshot of the latest epoch for the try pages, at
        most every `snapshot_interval_s` and 3 % of the time ([] when off, or on a multi_worker
        rank: only one process may write the job's folder)."""
        import tensorflow as tf

        if self.snapshot_interval_s is None or isinstance(self.strategy, tf.distribute.MultiWorkerMirroredStrategy):
            return []
        from trainer.snapshot import snapshot_callback_class

        return [snapshot_callback_class()(self.workdir, self.hp["epochs"], self.snapshot_interval_s)]
    _fitted: Any = field(default=None, init=False, repr=False)  # the job callback of `fit`

    @property
    def initial_epoch(self) -> int:
        """Epochs already completed by an earlier, interrupted run: `fit` starts after them."""
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

    def fit(self, model, x, y=None, *, num_samples: int, validation_data=None,
            monitor: str | None = "val_loss", sample: Callable[[Any], dict] | None = None,
            sample_interval_s: float = 0.0, callbacks: Iterable[Any] = ()) -> dict[str, Any]:
        """Fits a compiled model for the job's epochs with the job callback, from the resume
        point, and returns the result keys every runner shares.

        Args:
            model: the compiled model (built under `strategy.scope()`).
            x, y, validation_data: as for `model.fit`, batched by the `batch_size`
                hyperparameter and shuffled every epoch.
            num_samples: training samples per epoch (for samples/s).
            monitor: the epoch log to minimise for the best epoch and early stopping; None
                makes the latest epoch the best (e.g. a GAN, which has no validation loss).
            sample: optional `sample(model) -> dict`, sent as a `sample` event every epoch.
            sample_interval_s: at most one sample per this many seconds (the last epoch's
                always goes): tiny models run many epochs a second.
            callbacks: the recipe's own callbacks; they run before the job callback, so the
                logs they add to an epoch (BLEU, a GAN's quality) are reported with it.

        Returns:
            `{"status": "succeeded" | "cancelled", "epochs_run", "best_epoch", "history",
            "fit_seconds", "samples_per_s"}`; pass it to `finish`.
        """
        import tensorflow as tf

        from trainer.pacing import build_before_tracing

        batch_size = self.hp["batch_size"]
        if not isinstance(self.strategy, tf.distribute.MultiWorkerMirroredStrategy):
            build_before_tracing(model, x, y)
        pacer = self.pacer(steps=(self.hp["epochs"] - self.initial_epoch) * math.ceil(num_samples / batch_size))
        if pacer is not None:
            pacer.prepare(model)
        callback = self.callback(num_samples=num_samples, batch_size=batch_size, monitor=monitor,
                                 sample=sample, sample_interval_s=sample_interval_s, pacer=pacer)
        started = time.perf_counter()
        try:
            history = model.fit(x, y, validation_data=validation_data, epochs=self.hp["epochs"],
                                batch_size=batch_size, shuffle=True, callbacks=[*callbacks, callback],
                                verbose=0, initial_epoch=self.initial_epoch)
        finally:
            if pacer is not None:
                pacer.finish()
        self._fitted = callback
        return self._fit_summary(callback, history, time.perf_counter() - started, num_samples)

    def finish(self, result: dict[str, Any], *,
               evaluate: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
               export: Callable[[], list[dict[str, Any]]] | None = None) -> dict[str, Any]:
        """Ends the run `fit` started: a cancelled one returns at once (no metrics, no
        artifacts); otherwise `evaluate(result)`'s keys (e.g. `test_metrics`) are added to
        `result`, then `export()`'s artifacts are published and added as `artifacts`.

        Returns:
            `result`, completed.
        """
        if result["status"] == "cancelled":
            self.events.log(f"Cancelled during epoch {self._fitted.epoch}.")
            return result
        if evaluate is not None:
            result.update(evaluate(result))
        if export is not None:
            result["artifacts"] = self.publish_artifacts(export())
        return result

    def pacer(self, steps: int):
        """Returns the `trainer.pacing.StepPacer` for a fit of `steps` training steps in all,
        or None for one step per execution, as Keras does by default:

        * when every batch is to be reported (`batch_interval` 0);
        * on a multi_worker rank, whose executions must match its peers' step for step (each
          rank would pace itself);
        * for fewer than `PACE_MIN_STEPS` steps, which do not earn back the looping train
          function's longer trace.
        """
        import tensorflow as tf

        from trainer.pacing import StepPacer

        if self.batch_interval <= 0 or steps < PACE_MIN_STEPS \
                or isinstance(self.strategy, tf.distribute.MultiWorkerMirroredStrategy):
            return None
        return StepPacer(target_s=PACE_TARGET_S, cap=PACE_CAP)

    def callback(self, *, num_samples: int, batch_size: int, monitor: str | None = "val_loss",
                 sample=None, sample_interval_s: float = 0.0, pacer=None):
        """Returns the job callback for `model.fit` (see `trainer.callback`); `fit` passes it,
        a runner with its own loop may call it instead.

        Args:
            num_samples: training samples per epoch (for samples/s).
            batch_size: samples per step.
            monitor: as for `fit`.
            sample, sample_interval_s: as for `fit`.
            pacer: the `StepPacer` whose `prepare` ran on the model (`fit` passes `pacer()`'s).
        """
        from trainer.callback import job_callback_class

        return job_callback_class()(
            self.events, self.workdir, patience=self.hp.get("patience", 0),
            batch_size=batch_size, num_samples=num_samples, batch_interval=self.batch_interval,
            sample=sample, sample_interval=sample_interval_s, monitor=monitor, resume=self.resume, reported_epochs=self.reported_epochs,
            retention=self.retention, pacer=pacer,
            tensorboard_dir=self.workdir / "tensorboard" if self.tensorboard else None,
        )

    def export_options(self) -> dict[str, Any]:
        """Returns the keyword arguments every `trainer.export` call of a runner passes on."""
        return {"max_tfjs_bytes": self.max_tfjs_bytes, "log": self.events.log}

    def publish_artifacts(self, artifacts: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Sends an `artifact` event for each of `artifacts`; returns them."""
        for artifact in artifacts:
            self.events.on_event("artifact", artifact)
        return artifacts

    def _fit_summary(self, callback, history, fit_seconds: float, num_samples: int) -> dict[str, Any]:
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
