"""Pre-trained ImageNet CNNs: Keras' MobileNetV2 and DenseNet121 with their ImageNet weights,
and the 1,000 ImageNet class names. (ResNet50 would not fit: its 25.6 M parameters are over the
default PLAYGROUND_MAX_PARAMS and its 102 MB of float32 weights over what a browser is given.)

Every file comes through Keras' own downloader (`tf_keras.utils.get_file`) from the URL Keras
loads it from, into `<data_dir>/pretrained/`, and is checked against the hash Keras publishes for
it (DenseNet121's weights and the class index have one; Keras publishes none for MobileNetV2's
weights, which are checked by loading them into the architecture: every layer's name and shape).

A mirror, or a test that must not touch the network, puts `manifest.json` in that folder:
`{"<file>": {"origin": "<url>", "file_hash": "<md5 or sha256>"}}` replaces the origin and the
hash of the files it names.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainer.datasets import DatasetError

SUBDIR = "pretrained"
MANIFEST = "manifest.json"
_KERAS = "https://storage.googleapis.com/tensorflow/keras-applications/"


@dataclass(frozen=True)
class Source:
    """One downloadable file: its name in the cache, Keras' URL for it, its published hash."""

    file: str
    origin: str
    file_hash: str | None


@dataclass(frozen=True)
class Architecture:
    """A pre-trained CNN.

    Attributes:
        name: identifier in job specs ("mobilenet_v2").
        title: for pages and messages.
        application: the `tf_keras.applications` constructor.
        size: the side of the square RGB input, in pixels.
        preprocess: "tf" (pixels scaled to [-1, 1]) or "torch" (scaled to [0, 1], then each
            channel standardised with ImageNet's means and deviations), as Keras'
            `preprocess_input` of that model does.
        weights: the weights file's `Source`.
        params: `count_params()` of the 1,000-class model (held to the built model by a test).
    """

    name: str
    title: str
    application: str
    size: int
    preprocess: str
    weights: Source
    params: int


CLASS_INDEX = Source("imagenet_class_index.json",
                     "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json",
                     "c2c37ea517e94d9795004a39431a14cb")

ARCHITECTURES: dict[str, Architecture] = {
    arch.name: arch for arch in (
        Architecture("mobilenet_v2", "MobileNetV2", "MobileNetV2", 224, "tf",
                     Source("mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5",
                            _KERAS + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5",
                            None),
                     3_538_984),
        Architecture("densenet121", "DenseNet121", "DenseNet121", 224, "torch",
                     Source("densenet121_weights_tf_dim_ordering_tf_kernels.h5",
                            _KERAS + "densenet/densenet121_weights_tf_dim_ordering_tf_kernels.h5",
                            "9d60b8095a5708f2dcce2bca79d332c7"),
                     8_062_504),
    )
}

# Keras' torch-style preprocessing: (x / 255 - mean) / std per R, G, B channel.
TORCH_MEAN = (0.485, 0.456, 0.406)
TORCH_STD = (0.229, 0.224, 0.225)


class PretrainedUnavailable(DatasetError):
    """A file is absent and cannot be fetched, or is corrupt; the message says how to get it. A
    DatasetError, so a job (worker or browser claim) fails with this message, as for missing data."""


def cache_dir(data_dir: str | os.PathLike | None) -> Path:
    base = Path(data_dir) if data_dir is not None else Path.home() / ".cache" / "playground" / "data"
    return base / SUBDIR


def _sources(data_dir) -> dict[str, Source]:
    known = {CLASS_INDEX.file: CLASS_INDEX, **{a.weights.file: a.weights for a in ARCHITECTURES.values()}}
    manifest = cache_dir(data_dir) / MANIFEST
    if manifest.exists():
        try:
            entries = json.loads(manifest.read_text())
        except ValueError as exc:
            raise PretrainedUnavailable(f"{manifest} is not valid JSON ({exc}).") from None
        for file, entry in entries.items():
            known[file] = Source(file, entry["origin"], entry.get("file_hash"))
    return known


def _fetch_command(name: str) -> str:
    return f"python manage.py fetch_pretrained {name}"


def fetch_file(source: Source, data_dir, *, for_model: str) -> Path:
    """Returns the cached copy of `source`, downloading it first (Keras' `get_file`) when it is
    absent or does not match its hash.

    Raises:
        PretrainedUnavailable: it cannot be fetched, or what came does not match the hash.
    """
    from tf_keras.utils import get_file

    source = _sources(data_dir).get(source.file, source)
    folder = cache_dir(data_dir)
    target = folder / source.file
    was_cached = target.exists()
    try:
        return Path(get_file(source.file, source.origin, file_hash=source.file_hash,
                             cache_dir=str(folder.parent), cache_subdir=SUBDIR))
    except ValueError as exc:  # Keras: "Incomplete or corrupted file detected ..."
        target.unlink(missing_ok=True)
        raise PretrainedUnavailable(
            f"{source.file} from {source.origin} does not match its published hash {source.file_hash} "
            f"({exc}); it was removed. Run `{_fetch_command(for_model)}` again, or copy a good copy to "
            f"{target}.") from None
    except Exception as exc:  # Keras wraps URL and HTTP errors in a plain Exception
        if was_cached:  # Keras found it there, but not matching, and could not fetch a new one
            raise PretrainedUnavailable(
                f"The cached {target} does not match its published hash {source.file_hash}, and a new copy "
                f"could not be fetched from {source.origin} ({type(exc).__name__}: {exc}). Delete it and run "
                f"`{_fetch_command(for_model)}`.") from None
        raise PretrainedUnavailable(
            f"{source.file} is not in {folder} and could not be fetched from {source.origin} "
            f"({type(exc).__name__}: {exc}). On a machine that can reach it, run `{_fetch_command(for_model)}`, "
            f"or copy the file to {target}.") from None


def architecture(name: str) -> Architecture:
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise KeyError(f"Unknown pre-trained model {name!r}; choose one of: {', '.join(ARCHITECTURES)}.") from None


def build(name: str):
    """The architecture with random weights (the 1,000-class ImageNet head)."""
    import tf_keras as keras

    arch = architecture(name)
    return getattr(keras.applications, arch.application)(weights=None, input_shape=(arch.size, arch.size, 3))


def load(name: str, data_dir=None):
    """Returns the model with its ImageNet weights, fetched and verified.

    Raises:
        PretrainedUnavailable: as `fetch_file`, or the weights do not fit the architecture.
    """
    arch = architecture(name)
    path = fetch_file(arch.weights, data_dir, for_model=name)
    model = build(name)
    try:
        model.load_weights(str(path))
    except Exception as exc:  # h5py's OSError on a damaged file, Keras' ValueError on a wrong one
        raise PretrainedUnavailable(
            f"{path} is not {arch.title}'s ImageNet weights ({type(exc).__name__}: {exc}). Delete it and run "
            f"`{_fetch_command(name)}`.") from None
    return model


def class_names(data_dir=None, *, for_model: str = "mobilenet_v2") -> list[str]:
    """The 1,000 ImageNet class names, in the models' output order ("tench", "goldfish", ...)."""
    path = fetch_file(CLASS_INDEX, data_dir, for_model=for_model)
    try:
        index = json.loads(path.read_text())
        names = [index[str(i)][1].replace("_", " ") for i in range(1000)]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise PretrainedUnavailable(f"{path} is not ImageNet's class index ({type(exc).__name__}: {exc}).") from None
    return names


def preprocess(pixels, name: str):
    """Turns RGB pixels (..., size, size, 3) in 0..255 into the model's input, as Keras'
    `preprocess_input` for that model does."""
    import numpy as np

    x = np.asarray(pixels, dtype=np.float32)
    if architecture(name).preprocess == "tf":
        return x / 127.5 - 1.0
    return (x / 255.0 - np.asarray(TORCH_MEAN, dtype=np.float32)) / np.asarray(TORCH_STD, dtype=np.float32)


def status(data_dir=None) -> list[dict[str, Any]]:
    """What is cached: per architecture, whether its weights file is there and its size."""
    folder = cache_dir(data_dir)
    rows = []
    for arch in ARCHITECTURES.values():
        path = folder / arch.weights.file
        rows.append({"model": arch.name, "title": arch.title, "file": str(path), "cached": path.exists(),
                     "bytes": path.stat().st_size if path.exists() else 0,
                     "hash": arch.weights.file_hash or "none published (checked by loading)"})
    return rows
