"""Predictions from an exported Keras `.h5` model, for the web process.

TensorFlow is imported on the first load, not when this module is imported, so a web process
that never predicts never pays for it. Loaded models stay in a small LRU cache keyed by path and
modification time: a re-exported file is loaded afresh, a hot one is not reloaded per request.
The cache is bounded in models (CACHE_SIZE) and in weight bytes (CACHE_BYTES): a predict call on
a 471 MB model once raised the web process from 106 to 1,399 MB, and four of them would stay.
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
# Weight bytes of the models kept loaded; the web sets it from PLAYGROUND_PREDICT_CACHE_BYTES
# (`configure`). A model bigger than this on its own is refused, not loaded.
CACHE_BYTES = 256_000_000

# key → (model, its weight bytes)
_cache: OrderedDict[tuple[str, int], tuple[Any, int]] = OrderedDict()
# One lock for lookups *and* loads: loads are rare, and two requests loading the same model at
# once would only double the memory and the wait.
_lock = threading.Lock()


class ModelTooLarge(ValueError):
    """A model whose weights alone exceed the cache's byte budget; the message gives both."""


def configure(cache_bytes: int) -> None:
    """Sets the byte budget of the loaded-model cache (0: no byte limit, only CACHE_SIZE)."""
    global CACHE_BYTES
    CACHE_BYTES = cache_bytes


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
        ModelTooLarge: its weights are more bytes than CACHE_BYTES; nothing was loaded.
    """
    path = Path(path).resolve()
    key = (str(path), path.stat().st_mtime_ns)
    with _lock:
        cached = _cache.get(key)
        if cached is not None:
            _cache.move_to_end(key)
            return cached[0]
        size = weight_bytes(path)
        if CACHE_BYTES and size > CACHE_BYTES:
            raise ModelTooLarge(f"The model's weights are {size:,} bytes; the server loads models of at most "
                                f"{CACHE_BYTES:,} bytes. Run it in the browser instead, or train a smaller one.")
        import tf_keras as keras

        for stale in [k for k in _cache if k[0] == key[0]]:
            del _cache[stale]
        # Evict before loading, so the process never holds the budget and the new model at once.
        while _cache and (len(_cache) >= CACHE_SIZE or (CACHE_BYTES and cached_bytes() + size > CACHE_BYTES)):
            _cache.popitem(last=False)
        model = keras.models.load_model(path, compile=False)
        _cache[key] = (model, size)
        return model


def weight_bytes(path: str | os.PathLike) -> int:
    """Returns the bytes of the model weights stored in the `.h5` at `path`, read from its
    metadata without loading them (a classifier's file also holds optimizer slots, which a
    loaded model leaves on disk, so the file size would count Adam's weights three times)."""
    import h5py

    sizes: list[int] = []

    def add(_name: str, item) -> None:
        if isinstance(item, h5py.Dataset):
            sizes.append(item.size * item.dtype.itemsize)

    with h5py.File(path, "r") as stored:
        # model.save() nests the weights under model_weights; save_weights() at the top level.
        (stored["model_weights"] if "model_weights" in stored else stored).visititems(add)
    return sum(sizes)


def cached_bytes() -> int:
    """Returns the weight bytes of the models the cache holds now."""
    return sum(size for _, size in _cache.values())


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
