"""Resumable checkpoints: one uncompressed `.npz` per write holding everything a killed job
needs to carry on from its last completed epoch.

Layout of the file (numpy names):
    arr_0 .. arr_{n-1}   the model's weights, in `model.get_weights()` order (what
                         `trainer.run.load_checkpoint` reads, so older readers keep working);
    opt_0 .. opt_{m-1}   the optimizer's variables (iterations, slots: Adam's m and v, ...);
    state                a JSON string: completed epochs, best epoch and monitored value,
                         per-epoch history, the last epoch event, the seed.

Writing is atomic (temporary name + `os.replace`): a worker killed mid-write leaves the
previous checkpoint intact. Importing this module does not import TensorFlow.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ResumeState", "write_checkpoint", "read_resume_state", "restore_optimizer"]


@dataclass
class ResumeState:
    """What a checkpoint says about the run that wrote it (its `state` entry)."""

    completed_epochs: int = 0
    best_epoch: int = 0
    best_value: float | None = None  # None stands for +inf (JSON has no infinity)
    history: dict[str, list[float]] = field(default_factory=dict)
    last_epoch_event: dict[str, Any] | None = None
    seed: int | None = None


def write_checkpoint(path: str | os.PathLike, model, state: ResumeState) -> None:
    """Writes `model`'s weights, its optimizer's variables and `state` to `path`, atomically.

    Args:
        path: the checkpoint file (`.npz`).
        model: a compiled tf_keras model; an unbuilt optimizer contributes nothing.
        state: the run's bookkeeping, stored as JSON.
    """
    path = Path(path)
    partial = path.with_suffix(".partial.npz")
    optimizer = getattr(model, "optimizer", None)
    optimizer_arrays = {f"opt_{i}": v.numpy() for i, v in enumerate(_optimizer_variables(optimizer))}
    np.savez(partial, *model.get_weights(), **optimizer_arrays,
             state=np.array(json.dumps(state.__dict__)))
    os.replace(partial, path)


def read_resume_state(path: str | os.PathLike) -> ResumeState | None:
    """Returns the state stored in a checkpoint; None when there is none (or an old,
    weights-only checkpoint, which cannot resume an optimizer)."""
    path = Path(path)
    if not path.exists():
        return None
    with np.load(path) as stored:
        if "state" not in stored.files:
            return None
        return ResumeState(**json.loads(str(stored["state"])))


def restore_optimizer(model, path: str | os.PathLike) -> int:
    """Builds `model.optimizer` for the model's trainable variables and loads its variables
    from the checkpoint at `path`; returns how many variables it restored.

    Raises:
        ValueError: the checkpoint's optimizer variables do not match this optimizer's.
    """
    import tensorflow as tf

    optimizer = model.optimizer
    # Slot variables exist only once the optimizer is built; build it the way its first
    # apply_gradients would, under the model's strategy so mirrored slots stay mirrored.
    with model.distribute_strategy.scope(), tf.init_scope():
        optimizer.build(model.trainable_variables)
    variables = _optimizer_variables(optimizer)
    with np.load(path) as stored:
        arrays = [stored[f"opt_{i}"] for i in range(sum(n.startswith("opt_") for n in stored.files))]
    if [a.shape for a in arrays] != [tuple(v.shape) for v in variables]:
        raise ValueError(f"{path} holds {len(arrays)} optimizer variables that do not match "
                         f"this optimizer's {len(variables)}; was it written by another recipe?")
    for variable, array in zip(variables, arrays):
        variable.assign(array)
    return len(arrays)


def _optimizer_variables(optimizer) -> list:
    if optimizer is None:
        return []
    # A LossScaleOptimizer (mixed_float16) wraps the real one; its loss scale is restored too.
    return list(optimizer.variables)
