"""Snapshots of a model while it trains: a float32 TF.js export of the latest epoch, so the try
pages work during training ("epoch k of N — still training").

Each snapshot goes to `<workdir>/snapshot/<epoch>/`; `snapshot/latest.json` names the newest
(written last, atomically), and the one before it is kept so a page that is loading it does
not lose its shards. The cost is bounded by construction: after a snapshot that took c
seconds, the next waits at least max(PLAYGROUND_SNAPSHOT_INTERVAL_S, c / budget) seconds, so
snapshots take at most `budget` (3 %) of the training time.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

from trainer.artifacts import Artifact

logger = logging.getLogger(__name__)

FOLDER = "snapshot"
LATEST = "latest.json"
BUDGET = 0.03


def latest(workdir: str | os.PathLike) -> dict[str, Any] | None:
    """The newest snapshot of a job folder: `{"epoch", "epochs", "artifact": {...}}`, or None."""
    path = Path(workdir) / FOLDER / LATEST
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def served_files(workdir: str | os.PathLike) -> set[str]:
    """The files under the job folder that snapshot URLs may serve: the latest's and the one
    kept before it."""
    folder = Path(workdir) / FOLDER
    if not folder.is_dir():
        return set()
    return {path.relative_to(workdir).as_posix() for path in folder.rglob("*")
            if path.is_file() and path.name != LATEST and not path.parent.name.endswith(".partial")}


def snapshot_callback_class():
    import tf_keras as keras

    class SnapshotCallback(keras.callbacks.Callback):
        """Writes a snapshot at the end of an epoch when the interval and the budget allow."""

        def __init__(self, workdir: str | os.PathLike, epochs: int, min_interval_s: float = 2.0,
                     budget: float = BUDGET) -> None:
            super().__init__()
            self.workdir = Path(workdir)
            self.epochs = epochs
            self.min_interval_s = min_interval_s
            self.budget = budget
            self.wait_s = 0.0
            self.last = None
            self.cost_s = 0.0  # every snapshot's time, for the benchmark

        def on_train_begin(self, logs=None) -> None:
            self.last = time.perf_counter()  # the first waits an interval too

        def on_epoch_end(self, epoch: int, logs=None) -> None:
            if self.model.stop_training or time.perf_counter() - self.last < max(self.min_interval_s, self.wait_s):
                return
            started = time.perf_counter()
            try:
                write(self.workdir, self.model, epoch + 1, self.epochs)
            except Exception:
                logger.exception("Snapshot after epoch %s failed; training goes on.", epoch + 1)
            cost = time.perf_counter() - started
            self.cost_s += cost
            self.wait_s = cost / self.budget
            self.last = time.perf_counter()

    return SnapshotCallback


def write(workdir: str | os.PathLike, model, epoch: int, epochs: int) -> dict[str, Any]:
    """Exports `model` as the snapshot of `epoch` and makes it the latest."""
    from tensorflowjs import converters

    from trainer.export import as_float32

    workdir = Path(workdir)
    folder = workdir / FOLDER
    target = folder / str(epoch)
    partial = folder / f"{epoch}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    converters.save_keras_model(as_float32(model), str(partial))
    shutil.rmtree(target, ignore_errors=True)
    os.replace(partial, target)
    manifest = json.loads((target / "model.json").read_text())
    shards = [target / p for group in manifest["weightsManifest"] for p in group["paths"]]
    record = {"epoch": epoch, "epochs": epochs,
              "artifact": Artifact.written(workdir, "tfjs", "float32", target / "model.json",
                                           [target / "model.json", *shards]).to_dict()}
    previous = latest(workdir)
    pointer = folder / LATEST
    pointer.with_suffix(".partial").write_text(json.dumps(record))
    os.replace(pointer.with_suffix(".partial"), pointer)
    keep = {str(epoch), str(previous["epoch"]) if previous else None}
    for old in folder.iterdir():
        if old.is_dir() and old.name not in keep and not old.name.endswith(".partial"):
            shutil.rmtree(old, ignore_errors=True)
    return record
