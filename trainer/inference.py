"""Predictions from an exported Keras `.h5` model, for the web process.

TensorFlow is imported on the first load, not when this module is imported, so a web process
that never predicts never pays for it. Loaded models stay in a small LRU cache keyed by path and
modification time: a re-exported file is loaded afresh, a hot one is not reloaded per request.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

CACHE_SIZE = 4

_cache: OrderedDict[tuple[str, int], Any] = OrderedDict()
# One lock for lookups *and* loads: loads are rare, and two requests loading the same model at
# once would only double the memory and the wait.
_lock = threading.Lock()


@dataclass
class Prediction:
    """Class probabilities for a batch, and how long the model took to compute them."""

    probabilities: np.ndarray  # (batch, classes), float32
    latency_ms: float

    @property
    def classes(self) -> list[int]:
        return [int(k) for k in np.argmax(self.probabilities, axis=1)]


def load_model(path: str | os.PathLike):
    """Returns the tf_keras model saved at `path`, from the cache when it is unchanged.

    Args:
        path: a `.h5` file written by `trainer.export.export_model`.

    Raises:
        FileNotFoundError: there is no file at `path`.
    """
    path = Path(path).resolve()
    key = (str(path), path.stat().st_mtime_ns)
    with _lock:
        model = _cache.get(key)
        if model is not None:
            _cache.move_to_end(key)
            return model
        import tf_keras as keras

        model = keras.models.load_model(path, compile=False)
        for stale in [k for k in _cache if k[0] == key[0]]:
            del _cache[stale]
        _cache[key] = model
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
        return model


def input_shape(path: str | os.PathLike) -> tuple[int, ...]:
    """Returns the shape of one sample the model at `path` takes, e.g. (8, 8, 1)."""
    return tuple(int(d) for d in load_model(path).input_shape[1:])


def predict(path: str | os.PathLike, batch: np.ndarray) -> Prediction:
    """Runs the model at `path` on a batch.

    Args:
        path: a `.h5` file written by `trainer.export.export_model`.
        batch: float array shaped `(n, *input_shape(path))`.

    Returns:
        The model's output per sample (softmax probabilities for the classifiers) and the
        time the forward pass took, loading excluded.
    """
    model = load_model(path)
    start = time.perf_counter()
    # A direct call, not model.predict(): no per-call tf.data pipeline for a handful of samples.
    probabilities = model(np.asarray(batch, dtype=np.float32), training=False).numpy()
    return Prediction(probabilities, (time.perf_counter() - start) * 1000)


def clear_cache() -> None:
    """Forgets every loaded model (tests; freeing memory)."""
    with _lock:
        _cache.clear()
