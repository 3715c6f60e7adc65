"""Export a trained model as Keras .h5 and as TF.js LayersModel variants."""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

from trainer.artifacts import Artifact

logger = logging.getLogger(__name__)

# HDF5 is "legacy" to Keras, but it is the format the TF.js converter reads (and it calls
# model.save(".h5") itself), so the warning on every export says nothing actionable.
warnings.filterwarnings("ignore", message="You are saving your model as an HDF5 file")

# Quantization maps for tensorflowjs.converters.save_keras_model ("*" = every weight).
TFJS_VARIANTS: dict[str, dict[str, str] | None] = {
    "float32": None,
    "float16": {"float16": "*"},
    "uint8": {"uint8": "*"},
}


def export_model(model, workdir: str | os.PathLike, x_test: np.ndarray,
                 y_test: np.ndarray, **options: Any) -> list[dict[str, Any]]:
    """Exports a classifier and records each artifact's test accuracy (see `export_keras_model`).

    Args:
        model: a trained tf_keras classifier.
        workdir: the job's folder; artifact paths are relative to it.
        x_test: test inputs.
        y_test: integer test labels.
        **options: `max_tfjs_bytes` and `log`, passed on to `export_keras_model`.
    """
    return export_keras_model(model, workdir, lambda loaded: {"accuracy": _accuracy(loaded, x_test, y_test)},
                              **options)


def export_keras_model(model, workdir: str | os.PathLike,
                       evaluate: Callable[[Any], dict[str, float]] | None = None,
                       name: str | None = None, *, max_tfjs_bytes: int | None = None,
                       log: Callable[[str], None] = logger.info) -> list[dict[str, Any]]:
    """Saves `model.h5` and `tfjs/<variant>/` under `workdir` and measures each artifact.

    Every artifact is loaded back the way its consumer would load it and passed to
    `evaluate`, so the recorded figures are those of the files, quantization included.

    Args:
        model: a trained tf_keras model (a mixed precision one is converted to float32 first).
        workdir: the job's folder; artifact paths are relative to it.
        evaluate: `evaluate(loaded_model) -> {metric: value}`, merged into each artifact.
        name: for jobs that export several models (an encoder and a decoder, a generator):
            files go to `<name>.h5` and `tfjs/<name>/<variant>/`, and artifacts carry
            `"model": name`.
        max_tfjs_bytes: no TF.js variant is written when the float32 weights are larger
            than this (a browser would not load them); `log` says so. None: no limit.
        log: receives that one message, e.g. the run's reporter's `log`.

    Returns:
        One dict per artifact: `{"kind": "keras" | "tfjs", "variant", "path", "files",
        "bytes", **metrics}` (+ `"model"` when `name` is given).

    Raises:
        ValueError: a TF.js export did not produce a layers-model.
    """
    import tf_keras as keras
    from tensorflowjs import converters

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    model = as_float32(model)
    evaluate = evaluate or (lambda loaded: {})
    extra = {"model": name} if name else {}

    h5_path = workdir / f"{name or 'model'}.h5"
    model.save(h5_path)
    artifacts = [_artifact(workdir, "keras", "h5", h5_path, [h5_path],
                           {**extra, **evaluate(keras.models.load_model(h5_path, compile=False))})]

    weight_bytes = 4 * model.count_params()
    if max_tfjs_bytes is not None and weight_bytes > max_tfjs_bytes:
        # The submission check refuses such jobs up front; this guards the jobs it exempts
        # (staff) or that were queued before a limit was lowered.
        log(f"TF.js export skipped for {name or 'the model'}: its float32 weights are "
            f"{weight_bytes:,} bytes ({model.count_params():,} parameters), above the "
            f"{max_tfjs_bytes:,} a browser is given; the Keras .h5 is exported.")
        return artifacts
    for variant, quantization in TFJS_VARIANTS.items():
        folder = workdir / "tfjs" / name / variant if name else workdir / "tfjs" / variant
        converters.save_keras_model(model, str(folder), quantization_dtype_map=quantization)
        model_json = folder / "model.json"
        manifest = json.loads(model_json.read_text())
        if manifest.get("format") != "layers-model":
            raise ValueError(f"{model_json} is not a TF.js layers-model.")
        shards = [folder / path for group in manifest["weightsManifest"]
                  for path in group["paths"]]
        loaded = converters.load_keras_model(str(model_json))
        artifacts.append(_artifact(workdir, "tfjs", variant, model_json, [model_json, *shards],
                                   {**extra, **evaluate(loaded)}))
    return artifacts


def as_float32(model):
    """Returns `model` itself if it computes in float32, else a float32 copy with its weights.

    The TF.js converter cannot handle float16 graphs, and the browser computes in float32
    anyway; the weights themselves are float32 variables under mixed precision.
    """
    if all(layer.dtype_policy.name == "float32" for layer in model.layers):
        return model
    config = _without_mixed_dtypes(model.get_config())
    copy = model.__class__.from_config(config)
    copy.set_weights(model.get_weights())
    return copy


def _without_mixed_dtypes(config: Any) -> Any:
    # Layer configs store their policy under "dtype", as a name or a serialized Policy.
    if isinstance(config, list):
        return [_without_mixed_dtypes(item) for item in config]
    if not isinstance(config, dict):
        return config
    return {
        key: "float32" if key == "dtype" and _is_mixed(value) else _without_mixed_dtypes(value)
        for key, value in config.items()
    }


def _is_mixed(dtype: Any) -> bool:
    if isinstance(dtype, dict):
        dtype = dtype.get("config", {}).get("name", "")
    return isinstance(dtype, str) and dtype.startswith("mixed_")


def _accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    predicted = np.argmax(model.predict(x, batch_size=256, verbose=0), axis=1)
    return float(np.mean(predicted == y))


def _artifact(workdir: Path, kind: str, variant: str, path: Path, files: list[Path],
              metrics: dict[str, Any]) -> dict[str, Any]:
    return Artifact.written(workdir, kind, variant, path, files, **metrics).to_dict()
