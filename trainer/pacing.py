"""`StepPacer`: how many training steps Keras runs per call into TensorFlow (`steps_per_execution`),
chosen from the measured step time so that a job still reports and checks for cancellation
several times a second; `build_before_tracing`: one trace of `fit`'s train function, not two.

Keras calls back into Python after every execution; for a small model that round trip costs
as much as the step itself (the MLP on 8k MNIST: 25k samples/s at one step per execution,
36k at 16). Running N steps per execution removes it, but the job callback then sees only
every Nth step: batch events and the cancel check happen once per execution. So N is as large
as keeps one execution under `target_s`, at most `cap`.

`model.steps_per_execution` is a variable that Keras reads before every execution (and that
the compiled loop reads as its trip count), so N changes between executions without tracing
again. Keras builds the looping variant of a function only when the variable is above 1 at the
time it builds it, and that variant costs a second trace of the step (autograph probes the
loop body once to learn what it returns). So only the train function loops: the pacer keeps
N at 1 outside an epoch's training executions, and validation, `predict` and the callbacks'
own predictions run with Keras' ordinary one-step functions, built lazily as without pacing.
"""

from __future__ import annotations

import logging
import math

logger = logging.getLogger(__name__)


def build_before_tracing(model, x, y) -> None:
    """Creates, before `model.fit`, the variables its first trace would otherwise create: the
    optimizers' state and, for a model with Keras' own `train_step`, the compiled loss's and
    metrics' (built from the first 2 samples, as `fit` builds them from the first batch).

    A `tf.function` whose first trace creates variables is traced a second time, and `fit`'s
    train function is the costliest to trace: this makes it one trace.

    Args:
        model: a compiled, built model; anything else is left to `fit`.
        x, y: the training inputs and targets as given to `fit` (arrays or nests of them).
    """
    import tensorflow as tf
    import tf_keras as keras

    from trainer.checkpoint import optimizer_targets

    if not model.built:
        return  # its weights would be created here rather than in fit: leave the order be
    try:
        # As trainer.checkpoint.restore_optimizer builds them: under the model's strategy,
        # so mirrored slots stay mirrored. Building twice is a no-op.
        with model.distribute_strategy.scope():
            with tf.init_scope():
                for optimizer, variables in optimizer_targets(model):
                    optimizer.build(variables)
            if type(model).train_step is not keras.Model.train_step or y is None:
                return
            head = tf.nest.map_structure(lambda a: a[:2], x)
            y_pred = model(head, training=False)
            model.compiled_loss.build(y_pred)
            model.compiled_metrics.build(y_pred, tf.nest.map_structure(lambda a: tf.convert_to_tensor(a[:2]), y))
    except Exception:
        # Only a speed-up: fit builds whatever is missing, at the cost of a second trace.
        logger.warning("Could not build the optimizer and metrics before fit; it traces twice.",
                       exc_info=True)


class StepPacer:
    """Chooses `steps_per_execution` between executions of a `model.fit`.

    Args:
        target_s: the longest an execution should take; 0 keeps one step per execution.
        cap: the most steps per execution.
    """

    def __init__(self, target_s: float, cap: int = 64) -> None:
        self.target_s = target_s
        self.cap = max(1, cap)
        self.pace = 1  # steps per execution in the middle of an epoch
        self.steps = 1  # steps of the next execution
        self.model = None
        self.seen_first = False

    def prepare(self, model) -> None:
        """Builds the compiled model's train function in its looping form and sets 1 step per
        execution; call it after `compile`, before `fit`."""
        self.model = model
        model.steps_per_execution = 2  # any N > 1: Keras then builds the looping variant
        model.make_train_function(force=True)
        self._set(1)

    def after_execution(self, steps: int, seconds: float, remaining: int | None) -> int:
        """Records that the last execution ran `steps` steps in `seconds` (wall clock, from
        the end of the one before, or the epoch's start) and left `remaining` steps in the
        epoch (None: unknown); sets and returns the steps of the next execution."""
        if not self.seen_first:
            # The fit's first execution traces the function: seconds, not the step time.
            self.seen_first = True
        elif self.target_s > 0 and steps > 0 and seconds > 0:
            per_step = seconds / steps
            # Grow at most 4x per execution: a fast outlier cannot jump straight to the cap
            # (the first executions after tracing are the least representative); shrink at once.
            self.pace = min(self.cap, 4 * self.pace, max(1, math.floor(self.target_s / per_step)))
        # Never past the epoch's end: Keras' own shorter last execution would set the variable
        # back to what it read before it. At the end, 1 step, for what runs between epochs
        # (validation, predictions): their one-step functions must never see N > 1, or they
        # would run one step where Keras counts N. Unknown epoch length: 1 step, always.
        self._set(min(self.pace, remaining) if remaining else 1)
        return self.steps

    def finish(self) -> None:
        """Back to 1 step per execution after a fit, whichever way it ended (a cancel stops it
        mid-epoch), so later `predict`/`evaluate` calls run as they would without pacing."""
        if self.model is not None:
            self._set(1)

    def _set(self, steps: int) -> None:
        self.steps = steps
        if self.model is not None:
            self.model.steps_per_execution = steps
