"""The job callback: one Keras callback that reports progress, checkpoints every epoch
(trainer.checkpoint), resumes, stops early, honours cancellation and catches a NaN loss.

Importing this module does not import TensorFlow: the class subclasses a Keras class, so it
is defined on first use (`job_callback_class()`).
"""

from __future__ import annotations

import functools
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING

from trainer import checkpoint
from trainer.errors import TrainingFailed

if TYPE_CHECKING:
    from trainer.context import SafeReporter


@functools.cache
def job_callback_class():
    """Returns the job callback class (`RunContext.callback` makes one per fit)."""
    # The callback subclasses a Keras class, so it is defined on first use: importing this
    # module must not import TensorFlow.
    import tf_keras as keras

    class _JobCallback(keras.callbacks.Callback):
        """Reports progress, checkpoints, stops early, honours cancellation, catches NaN.

        One callback does it all so Keras makes one Python call per batch, and it leaves
        batch logs as tensors (`_supports_tf_logs`) unless it actually emits an event:
        reading a value forces a device sync, which would cost throughput on a GPU.
        """

        def __init__(self, events: SafeReporter, workdir: Path, *, patience: int,
                     batch_size: int, num_samples: int, batch_interval: float,
                     sample=None, sample_interval: float = 0.0, monitor: str | None = "val_loss", resume=None,
                     reported_epochs: int | None = None, tensorboard_dir: Path | None = None,
                     retention=None, pacer=None) -> None:
            super().__init__()
            # TensorBoard scalars are written here from the epoch logs we already hold:
            # keras.callbacks.TensorBoard cost 6% of the MLP's throughput (overhead.py A/B)
            # even with update_freq="epoch", through its per-batch hooks.
            self.tensorboard_dir = tensorboard_dir
            self.summary_writer = None
            self.retention = retention
            self._supports_tf_logs = True
            self.events = events
            self.workdir = workdir  # where trainer.checkpoint keeps this job's checkpoints
            self.patience = patience
            self.batch_size = batch_size
            self.num_samples = num_samples
            self.batch_interval = batch_interval
            # A trainer.pacing.StepPacer, or None: Keras then calls back after every step.
            self.pacer = pacer
            self.sample = sample
            self.sample_interval = sample_interval  # seconds between samples; the last epoch's always goes
            self.sampled_at = -math.inf
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
            self.epochs = self.params["epochs"]
            self.steps = self.params["steps"]

        def on_epoch_begin(self, epoch: int, logs=None) -> None:
            if self.resume and not getattr(self, "_restored", False):
                self._restore(epoch)
            self.epoch = epoch + 1
            self.epoch_started = self.last_emit = self.execution_ended = time.perf_counter()
            self.last_emit -= self.batch_interval  # the first batch may be reported at once
            self.last_step = 0

        def on_train_batch_end(self, batch: int, logs=None) -> None:
            # With steps_per_execution N, Keras calls this once per N steps with the last
            # step's index (and running-mean logs up to it): every step number below is
            # exact, only the ones in between are not seen.
            now = time.perf_counter()
            step = batch + 1
            if self.pacer is not None:
                self.pacer.after_execution(step - self.last_step, now - self.execution_ended,
                                           None if self.steps is None else self.steps - step)
            self.last_step, self.execution_ended = step, now
            if self.events.should_stop():
                self.cancelled = True
                self.model.stop_training = True
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
            if self.sample is not None and new and (
                    self.epoch == self.epochs or time.perf_counter() - self.sampled_at >= self.sample_interval):
                self.sampled_at = time.perf_counter()
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
            # One file per epoch too, so a fork can start from any epoch (trainer.finetune),
            # less those the retention policy prunes.
            checkpoint.save_epoch(self.workdir, self.model, checkpoint.ResumeState(
                completed_epochs=self.epoch, best_epoch=self.best_epoch,
                best_value=self.best_val_loss if math.isfinite(self.best_val_loss) else None,
                history=self.history, last_epoch_event=self.last_epoch_event,
            ), improved=improved, retention=self.retention)

        def _restore(self, epoch: int) -> None:
            # First epoch of a resumed run: load the checkpoint into the freshly built model
            # and optimizer before the first step.
            self._restored = True
            if epoch != self.initial_epoch:
                self.events.log(f"This recipe's runner does not resume; retraining from epoch "
                                f"{epoch + 1} without reporting epochs 1-{self.initial_epoch} again.")
                return
            checkpoint.restore_latest(self.workdir, self.model)
            self.resumed_fit = True
            if self.patience:
                self.best_weights = checkpoint.best_weights(self.workdir)
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


def _floats(logs) -> dict[str, float]:
    return {name: float(value) for name, value in (logs or {}).items()}
