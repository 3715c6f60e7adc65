"""`train(spec, reporter, workdir)`: the single entry point that runs one job.

It resolves the recipe, the precision and the distribution strategy, finds the resume point,
and hands a `trainer.context.RunContext` to the recipe's runner (`Recipe.run`, by default
`trainer.fitting.run_classification`), which fits, evaluates and exports through it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from trainer import checkpoint, datasets
from trainer.context import RunContext, SafeReporter
from trainer.errors import TrainingFailed
from trainer.fitting import resolve_precision, run_classification
from trainer.recipes import get_recipe
from trainer.reporter import Reporter
from trainer.spec import JobSpec, parse_strategy

__all__ = ["train", "TrainingFailed"]


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
    snapshot_interval_s: float | None = None,
    base_models: dict[str, str | os.PathLike] | None = None,
) -> dict[str, Any]:
    """Trains, evaluates and exports the model a job spec describes.

    Events go to `reporter` as they happen (`batch` throttled to one per `batch_interval`
    seconds, `epoch` never throttled, `sample`, `log`, `artifact`); status changes are the
    caller's business.

    Args:
        spec: a validated job spec (see `trainer.spec.validate_spec`).
        reporter: receives events; its `should_stop()` is polled at every batch end.
        workdir: where checkpoints (trainer.checkpoint) and exports (`model.h5`, `tfjs/`) go.
        data_dir: dataset cache folder; None → the datasets module's default.
        dataset: use this data instead of loading `spec.dataset` (tests, benchmarks).
        batch_interval: minimum seconds between two `batch` events.
        initial_weights: a checkpoint (`.weights.npz`) to start from instead of fresh weights.
        freeze: "none" or "all_but_last" (fine-tuning: only the last layer with weights trains).
        tensorboard: write TensorBoard epoch logs to `workdir/tensorboard`.
        resume: when `workdir` holds a resumable checkpoint (`trainer.checkpoint.resume_point`:
            a worker died mid-job), continue after its last completed epoch with its
            weights and optimizer state, and report only the epochs after it. False starts
            over. `RunContext.fit` resumes; a runner with its own `model.fit` that does not
            pass `initial_epoch=context.initial_epoch` retrains from epoch 1 without
            re-reporting.
        reported_epochs: epoch events the caller already has; an epoch whose checkpoint was
            written but whose event was lost with the worker is re-sent. None: all of them.
        retention: a `trainer.checkpoint.Retention` saying which per-epoch checkpoints to
            keep (the others are deleted as training goes on); None keeps every epoch's.
        max_tfjs_bytes: export no TF.js variant of a model whose float32 weights are larger
            (the run logs why); None exports them whatever their size.
        snapshot_interval_s: keep a float32 TF.js snapshot of the latest epoch under
            `workdir/snapshot/` (trainer.snapshot) at most this often, and within 3 % of the
            training time, so the try pages work while it trains; None: no snapshots.
        base_models: for each hyperparameter naming another job ("job:<id>", `Param.jobs`),
            that job's exported Keras model (`model.h5`), which the recipe builds on.

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
    state = checkpoint.resume_point(workdir) if resume else None
    # The RNG state of a killed process is gone; a resumed run reseeds from the seed and
    # the resume point, so it is reproducible (and equal to a fresh run "within noise").
    keras.utils.set_random_seed(hp["seed"] + 7919 * (state.completed_epochs if state else 0))
    from trainer.devices import make_strategy, replica_batch_size, resolve_precision_for_devices

    events = SafeReporter(reporter)
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
            max_tfjs_bytes=max_tfjs_bytes, snapshot_interval_s=snapshot_interval_s,
            base_models=dict(base_models or {}),
        )
        if state:
            context.events.log(f"Resuming after epoch {state.completed_epochs} from its checkpoint "
                               "(weights and optimizer state).")
        result = (recipe.run or run_classification)(context)
        return {**run_info, **result}
    finally:
        keras.mixed_precision.set_global_policy("float32")
