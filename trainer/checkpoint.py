"""A job's checkpoint folder, `<workdir>/checkpoints/`, and the files in it. This module is
the folder's only owner: the trainer and the Django side ask it ("what can this workdir resume
from?", "which epochs can a fork start from?") instead of building paths themselves.

The folder holds `latest.weights.npz` (written after every epoch: what a killed job resumes
from), `best.weights.npz` (the best epoch so far) and `epoch-<k>.weights.npz` (what forks start
from, less those a `Retention` prunes). Each is one uncompressed `.npz` holding everything a
killed job needs to carry on from that epoch.

Layout of a file (numpy names):
    arr_0 .. arr_{n-1}   the model's weights, in `model.get_weights()` order (what
                         `load_checkpoint` reads, so older readers keep working);
    opt_0 .. opt_{m-1}   the optimizer's variables (iterations, slots: Adam's m and v, ...);
    state                a JSON string: completed epochs, best epoch and monitored value,
                         per-epoch history, the last epoch event, the seed.

Writing is atomic (temporary name + `os.replace`): a worker killed mid-write leaves the
previous checkpoint intact. Importing this module does not import TensorFlow.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

__all__ = ["ResumeState", "Retention", "CHECKPOINT_CHOICES", "checkpoint_path", "saved_epochs", "resume_point",
           "epochs_named", "save_epoch", "restore_latest", "best_weights", "load_checkpoint", "read_weights",
           "write_checkpoint", "read_resume_state", "restore_optimizer", "optimizer_targets"]

CHECKPOINT_CHOICES = ("best", "latest")  # the named checkpoints; any other is an epoch number
_FOLDER = "checkpoints"
_EPOCH_FILE = re.compile(r"epoch-(\d+)\.weights\.npz")


@dataclass
class ResumeState:
    """What a checkpoint says about the run that wrote it (its `state` entry)."""

    completed_epochs: int = 0
    best_epoch: int = 0
    best_value: float | None = None  # None stands for +inf (JSON has no infinity)
    history: dict[str, list[float]] = field(default_factory=dict)
    last_epoch_event: dict[str, Any] | None = None
    seed: int | None = None


@dataclass(frozen=True)
class Retention:
    """Which per-epoch checkpoints (`epoch-<k>.weights.npz`, what forks start from) a run
    keeps; `latest` and `best` are separate files and always kept.

    Attributes:
        keep_every: keep every epoch that is a multiple of this (0: none for that reason;
            1: every epoch, nothing is pruned).
        keep_last: keep this many most recent epochs (the latest one always is).
    """

    keep_every: int = 5
    keep_last: int = 3

    def __post_init__(self) -> None:
        if self.keep_every < 0 or self.keep_last < 0:
            raise ValueError(f"keep_every and keep_last must be ≥ 0, got {self.keep_every} and "
                             f"{self.keep_last}.")

    def kept(self, epochs: Iterable[int], latest: int, best: int) -> set[int]:
        """Returns those of `epochs` to keep after epoch `latest`, the best so far being `best`
        (kept too, so a fork from the best epoch by number works)."""
        return {epoch for epoch in epochs
                if epoch in (latest, best) or epoch > latest - self.keep_last
                or (self.keep_every and epoch % self.keep_every == 0)}

    def most_files(self, epochs: int) -> int:
        """Returns the most checkpoint files a run of `epochs` epochs holds at once (sizing a
        job's disk), the best epoch being one that nothing else keeps (the worst case).

        The peak is at the last epoch: the per-epoch files kept after the one before it, plus
        `latest`, `best` and either the temporary file `write_checkpoint` renames or the new
        epoch's copy (the older ones are pruned after it). The per-epoch count only grows with
        the epoch: the keep_every multiples accumulate, the keep_last window does not.
        """
        if epochs < 1:
            return 0
        earlier = range(1, epochs)
        kept = self.kept(earlier, latest=epochs - 1, best=epochs - 1)
        unprotected_best = 1 if len(kept) < len(earlier) else 0
        return len(kept) + unprotected_best + 3


def checkpoint_path(workdir: str | os.PathLike, epoch: int | str) -> Path:
    """Returns the checkpoint file of `epoch` ("best", "latest" or a number ≥ 1) of the job
    folder `workdir`, whether or not it exists."""
    folder = Path(workdir) / _FOLDER
    if isinstance(epoch, str) and epoch in CHECKPOINT_CHOICES:
        return folder / f"{epoch}.weights.npz"
    return folder / f"epoch-{int(epoch)}.weights.npz"


def saved_epochs(workdir: str | os.PathLike) -> list[int]:
    """Returns the epochs of the job folder `workdir` that have a per-epoch checkpoint (what a
    fork can start from besides "best" and "latest"), ascending."""
    return epochs_named(p.name for p in (Path(workdir) / _FOLDER).glob("*.npz"))


def epochs_named(names: Iterable[str]) -> list[int]:
    """Returns the epochs of the per-epoch checkpoint files among `names` (file names in a
    checkpoint folder, wherever it is stored), ascending."""
    found = (_EPOCH_FILE.fullmatch(name) for name in names)
    return sorted(int(m.group(1)) for m in found if m)


def resume_point(workdir: str | os.PathLike) -> ResumeState | None:
    """Returns what the job folder `workdir` can resume from: its latest checkpoint's state
    when that has at least one completed epoch; None when there is nothing to resume (no
    checkpoint, or an old weights-only one)."""
    state = read_resume_state(checkpoint_path(workdir, "latest"))
    return state if state and state.completed_epochs > 0 else None


def save_epoch(workdir: str | os.PathLike, model, state: ResumeState, *, improved: bool,
               retention: Retention | None = None) -> None:
    """Checkpoints the epoch `state.completed_epochs` just ended: `latest`, `best` too when it
    `improved`, and its per-epoch file; then deletes the per-epoch files `retention` does not
    keep (None keeps every one).

    Latest is written to a temporary name and renamed (`write_checkpoint`), so a crash never
    leaves half a file; best and the per-epoch file are file copies of it rather than more
    serialisations.
    """
    latest = checkpoint_path(workdir, "latest")
    latest.parent.mkdir(parents=True, exist_ok=True)
    write_checkpoint(latest, model, state)
    if improved:
        _copy(latest, checkpoint_path(workdir, "best"))
    epoch = state.completed_epochs
    _copy(latest, checkpoint_path(workdir, epoch))
    if retention is not None:
        saved = saved_epochs(workdir)
        for pruned in set(saved) - retention.kept(saved, epoch, state.best_epoch):
            checkpoint_path(workdir, pruned).unlink(missing_ok=True)


def _copy(source: Path, target: Path) -> None:
    # Whole or not at all, like write_checkpoint: a reader (a fork, an upload to the storage
    # while the next epoch trains) never sees half a copy.
    partial = target.with_name(target.name + ".partial")
    shutil.copyfile(source, partial)
    os.replace(partial, target)


def save_weights_epoch(workdir: str | os.PathLike, weights: list[np.ndarray], state: ResumeState) -> None:
    """Checkpoints an epoch from bare weights (in `model.get_weights()` order) without a model
    or optimizer: what a browser uploads (trainer/browser.py). Written like `save_epoch`'s
    latest (atomically), with its per-epoch copy; a run resuming from it starts its optimizer
    afresh (`restore_optimizer` finds no optimizer state)."""
    latest = checkpoint_path(workdir, "latest")
    latest.parent.mkdir(parents=True, exist_ok=True)
    partial = latest.with_suffix(".partial.npz")
    np.savez(partial, *weights, state=np.array(json.dumps(state.__dict__)))
    os.replace(partial, latest)
    if state.best_epoch == state.completed_epochs:
        _copy(latest, checkpoint_path(workdir, "best"))
    _copy(latest, checkpoint_path(workdir, state.completed_epochs))


def restore_latest(workdir: str | os.PathLike, model) -> None:
    """Loads the job folder's latest checkpoint into a freshly built, compiled model: its
    weights, then its optimizers' state (see `restore_optimizer`).

    Raises:
        ValueError: the checkpoint does not match the model or its optimizers.
    """
    latest = checkpoint_path(workdir, "latest")
    load_checkpoint(model, latest)
    # Metrics tracked as layers (a GAN's) were saved at their end-of-epoch totals; Keras has
    # already reset them for the epoch that is starting.
    model.reset_metrics()
    restore_optimizer(model, latest)


def best_weights(workdir: str | os.PathLike) -> list[np.ndarray] | None:
    """Returns the weights of the job folder's best checkpoint; None when it has none."""
    best = checkpoint_path(workdir, "best")
    return read_weights(best) if best.exists() else None


def load_checkpoint(model, path: str | os.PathLike) -> None:
    """Loads a checkpoint file written during training (any of `checkpoint_path`'s) into a
    model built with the same recipe and hyperparameters.

    Raises:
        ValueError: the checkpoint does not match the model's weights.
    """
    weights = read_weights(path)
    expected = [w.shape for w in model.get_weights()]
    if [w.shape for w in weights] != expected:
        raise ValueError(f"{path} holds weights of shapes {[w.shape for w in weights]}, "
                         f"the model expects {expected}.")
    model.set_weights(weights)


def read_weights(path: str | os.PathLike) -> list[np.ndarray]:
    """Returns the model weights stored in a checkpoint file, in `model.get_weights()` order."""
    with np.load(path) as stored:
        # arr_<i> are the model's weights; a resumable checkpoint also holds opt_<i> and state.
        return [stored[f"arr_{i}"] for i in range(sum(n.startswith("arr_") for n in stored.files))]


def write_checkpoint(path: str | os.PathLike, model, state: ResumeState) -> None:
    """Writes `model`'s weights, its optimizer's variables and `state` to `path`, atomically.

    Args:
        path: the checkpoint file (`.npz`).
        model: a compiled tf_keras model; an unbuilt optimizer contributes nothing.
        state: the run's bookkeeping, stored as JSON.
    """
    path = Path(path)
    partial = path.with_suffix(".partial.npz")
    variables = [v for optimizer, _ in optimizer_targets(model) for v in _optimizer_variables(optimizer)]
    optimizer_arrays = {f"opt_{i}": v.numpy() for i, v in enumerate(variables)}
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


def optimizer_targets(model) -> list[tuple[Any, list]]:
    """Returns the `(optimizer, variables it updates)` pairs whose state a checkpoint holds:
    the compiled optimizer with the trainable variables, or, for a model that steps several
    optimizers in its own `train_step` (a GAN), the pairs its `resumable_optimizers` lists."""
    custom = getattr(model, "resumable_optimizers", None)
    if custom is not None:
        return list(custom)
    optimizer = getattr(model, "optimizer", None)
    return [] if optimizer is None else [(optimizer, model.trainable_variables)]


def restore_optimizer(model, path: str | os.PathLike) -> int:
    """Builds the model's optimizers (see `optimizer_targets`) for the variables they update
    and loads their variables from the checkpoint at `path`; returns how many it restored.

    Raises:
        ValueError: the checkpoint's optimizer variables do not match the optimizers'.
    """
    import tensorflow as tf

    variables = []
    for optimizer, updated in optimizer_targets(model):
        # Slot variables exist only once the optimizer is built; build it the way its first
        # apply_gradients would, under the model's strategy so mirrored slots stay mirrored.
        with model.distribute_strategy.scope(), tf.init_scope():
            optimizer.build(updated)
        variables += _optimizer_variables(optimizer)
    with np.load(path) as stored:
        arrays = [stored[f"opt_{i}"] for i in range(sum(n.startswith("opt_") for n in stored.files))]
    if not arrays:
        return 0  # weights only (a browser's upload): the optimizer starts afresh
    if [a.shape for a in arrays] != [tuple(v.shape) for v in variables]:
        raise ValueError(f"{path} holds {len(arrays)} optimizer variables that do not match "
                         f"these optimizers' {len(variables)}; was it written by another recipe?")
    for variable, array in zip(variables, arrays):
        variable.assign(array)
    return len(arrays)


def _optimizer_variables(optimizer) -> list:
    if optimizer is None:
        return []
    # A LossScaleOptimizer (mixed_float16) wraps the real one; its loss scale is restored too.
    return list(optimizer.variables)
