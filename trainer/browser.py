"""The server's half of training in the browser (docs/browser-training.md).

`prepare` builds the job's model with the recipe's own builder and the job's seed and writes it
as a TF.js layers-model with its initial weights, plus the job's train/validation/test split as
tensor bundles (cached across jobs by dataset, options, split and seed). The tab trains and
sends the weights back as a tensor bundle: `read_weights` checks them against the topology
issued, `save_checkpoint` stores an epoch's as a resumable checkpoint (a worker continues from
it), and `finish` evaluates and exports them exactly like a worker's run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import struct
from pathlib import Path
from typing import Any

import numpy as np

from trainer import checkpoint, datasets
from trainer.recipes import Recipe, get_recipe
from trainer.spec import JobSpec

logger = logging.getLogger(__name__)

FOLDER = "browser"           # under the job's workdir: model/ and job.json
SPLITS = ("train", "validation", "test")
DTYPES = {"float32": np.float32, "int32": np.int32}
MAX_HEADER_BYTES = 1 << 20


class BundleError(ValueError):
    """A tensor bundle that is malformed or does not match what was expected; says how."""


def can_train(recipe: Recipe) -> bool:
    """Whether the browser can train this recipe: a classifier on the shared runner, or a head
    on a frozen base (`Recipe.browser_parts`); the others have their own training loops,
    losses or data."""
    return recipe.run is None or recipe.browser_parts is not None


def engine_errors(spec: JobSpec) -> list[str]:
    """Why `spec` cannot train in a browser ([] when it can)."""
    from trainer.recipes import RECIPES

    recipe = get_recipe(spec.recipe)
    if not can_train(recipe):
        able = ", ".join(name for name, r in RECIPES.items() if can_train(r))
        return [f"{spec.recipe} trains only on a server: its runner has its own training loop. "
                f"Browsers train {able}."]
    errors = list(recipe.browser_errors({**recipe.defaults(), **spec.hyperparameters})) if recipe.browser_errors else []
    if spec.strategy != "default":
        errors.append(f"A browser trains on one device: strategy must be default, not {spec.strategy}.")
    if spec.gpus:
        errors.append("A browser job cannot ask for GPUs: gpus must be 0.")
    if spec.precision != "float32":
        errors.append(f"A browser trains in float32, not {spec.precision}.")
    return errors


# ---- tensor bundles -------------------------------------------------------------------------

def encode_bundle(tensors: list[tuple[str, np.ndarray]]) -> bytes:
    """A uint32 header length, the JSON header, then each tensor's little-endian values."""
    specs, payload = [], []
    for name, array in tensors:
        dtype = "int32" if np.issubdtype(array.dtype, np.integer) else "float32"
        array = np.ascontiguousarray(array, dtype=np.dtype(DTYPES[dtype]).newbyteorder("<"))
        specs.append({"name": name, "shape": list(array.shape), "dtype": dtype})
        payload.append(array.tobytes())
    header = json.dumps(specs).encode()
    return struct.pack("<I", len(header)) + header + b"".join(payload)


def decode_bundle(data: bytes, expected: list[dict[str, Any]] | None = None) -> list[np.ndarray]:
    """Returns a bundle's tensors, in order.

    Args:
        expected: `[{name, shape, dtype}]` the bundle must list exactly (a weights upload).

    Raises:
        BundleError: truncated, a bad header, another list of tensors, or extra bytes.
    """
    if len(data) < 4:
        raise BundleError(f"The body is {len(data)} bytes, too short for a tensor bundle's header length.")
    (length,) = struct.unpack_from("<I", data)
    if length > MAX_HEADER_BYTES or 4 + length > len(data):
        raise BundleError(f"The header says it is {length:,} bytes; the body has {len(data) - 4:,} after the length.")
    try:
        specs = json.loads(data[4:4 + length])
        specs = [{"name": str(s["name"]), "shape": [int(d) for d in s["shape"]], "dtype": str(s["dtype"])}
                 for s in specs]
    except (ValueError, TypeError, KeyError) as exc:
        raise BundleError(f"The header is not a JSON list of {{name, shape, dtype}}: {exc}.") from None
    if expected is not None:
        _check_specs(specs, expected)
    tensors, offset = [], 4 + length
    for spec in specs:
        if spec["dtype"] not in DTYPES or any(d < 0 for d in spec["shape"]):
            raise BundleError(f"Tensor {spec['name']!r}: dtype must be float32 or int32 and the shape non-negative.")
        dtype = np.dtype(DTYPES[spec["dtype"]]).newbyteorder("<")
        size = int(np.prod(spec["shape"], dtype=np.int64)) * dtype.itemsize
        if offset + size > len(data):
            raise BundleError(f"Tensor {spec['name']!r} needs {size:,} bytes; only {len(data) - offset:,} are left.")
        tensors.append(np.frombuffer(data, dtype=dtype, count=size // dtype.itemsize, offset=offset)
                       .reshape(spec["shape"]).astype(DTYPES[spec["dtype"]]))
        offset += size
    if offset != len(data):
        raise BundleError(f"{len(data) - offset:,} bytes follow the last tensor.")
    return tensors


def _check_specs(specs: list[dict], expected: list[dict]) -> None:
    if len(specs) != len(expected):
        raise BundleError(f"The bundle has {len(specs)} tensors; the model has {len(expected)} weights.")
    for got, want in zip(specs, expected):
        if (got["name"], got["shape"], got["dtype"]) != (want["name"], want["shape"], want["dtype"]):
            raise BundleError(f"Weight {got['name']!r} {got['shape']} {got['dtype']} is not the model's "
                              f"{want['name']!r} {want['shape']} {want['dtype']}.")


# ---- preparing a job ------------------------------------------------------------------------

def _models(recipe: Recipe, hp: dict, dataset, data_dir, base_models) -> tuple[Any, Any]:
    """(frozen base or None, the model the tab trains) for a job."""
    if recipe.browser_parts is not None:
        return recipe.browser_parts(hp, dataset, data_dir, dict(base_models or {}))
    return None, recipe.build(hp, dataset.input_shape, dataset.num_classes)


def prepare(spec: JobSpec, workdir: str | os.PathLike, data_dir: str | os.PathLike | None = None,
            dataset: datasets.Dataset | None = None, base_models: dict[str, Any] | None = None) -> dict[str, Any]:
    """Writes the job's TF.js model (initial weights) and its data bundles; returns the job's
    facts: weights `[{name, shape, dtype}]` in the model.json's order, `data` (split → bundle
    path), `input_shape`, `num_classes`, `class_names`, `samples` per split. Idempotent.

    `dataset`: the job's data when the caller has it (an upload), as `train()` takes it; its
    bundles are the job's own, in the workdir. Registered datasets are loaded and their bundles
    shared between jobs under `data_dir`. A recipe with `browser_parts` also gets its frozen
    base as a TF.js model with its weights (`base/`), whose outputs the tab trains on; facts
    then say `"base": true`. `base_models`: as `train()` takes them."""
    folder = Path(workdir) / FOLDER
    facts_file = folder / "job.json"
    if facts_file.exists():
        return json.loads(facts_file.read_text())
    recipe = get_recipe(spec.recipe)
    hp = {**recipe.defaults(), **spec.hyperparameters}
    if dataset is None:
        datasets.ensure_files(spec.dataset, data_dir)
        dataset = datasets.load(spec.dataset, data_dir, **{name: hp[name] for name in recipe.dataset_options})
        data = _data_bundles(spec, hp, dataset, Path(data_dir or datasets.default_data_dir()) / "browser")
    else:
        data = _data_bundles(spec, hp, dataset, Path(workdir) / "browser-data")

    import tf_keras as keras
    from tensorflowjs import converters

    keras.utils.set_random_seed(hp["seed"])
    base, model = _models(recipe, hp, dataset, data_dir, base_models)
    staging = folder.with_name(FOLDER + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    converters.save_keras_model(model, str(staging / "model"))
    if base is not None:
        converters.save_keras_model(base, str(staging / "base"))
    manifest = json.loads((staging / "model" / "model.json").read_text())
    weights = [{"name": w["name"], "shape": list(w["shape"]), "dtype": w["dtype"]}
               for group in manifest["weightsManifest"] for w in group["weights"]]
    keras_names = [w.name.split(":")[0] for w in model.weights]
    if sorted(w["name"] for w in weights) != sorted(keras_names):
        raise ValueError(f"The TF.js weights {[w['name'] for w in weights]} are not the model's {keras_names}.")
    facts = {
        "weights": weights,
        # Where each TF.js weight goes in model.get_weights() (the checkpoints' order).
        "keras_order": [keras_names.index(w["name"]) for w in weights],
        "data": data, "input_shape": list(dataset.input_shape), "num_classes": dataset.num_classes,
        "class_names": list(dataset.class_names),
        "samples": {split: _samples(path) for split, path in data.items()},
        "base": base is not None,
    }
    (staging / "job.json").write_text(json.dumps(facts))
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(staging, folder)
    return facts


def model_files(workdir: str | os.PathLike) -> dict[str, Path]:
    """The files of the issued model by name (model.json and its shards), and of its frozen
    base where it has one, as "base/<name>"."""
    found = {}
    for prefix, name in (("", "model"), ("base/", "base")):
        folder = Path(workdir) / FOLDER / name
        if folder.is_dir():
            found.update({prefix + path.name: path for path in folder.iterdir()})
    return found


def _data_bundles(spec: JobSpec, hp: dict, dataset, root: Path) -> dict[str, str]:
    from trainer.fitting import split_validation

    options = {"dataset": spec.dataset, "hp": {k: hp[k] for k in get_recipe(spec.recipe).dataset_options},
               "validation_split": hp["validation_split"], "seed": hp["seed"]}
    key = hashlib.sha256(json.dumps(options, sort_keys=True).encode()).hexdigest()[:16]
    folder = root / key
    paths = {split: str(folder / f"{split}.bin") for split in SPLITS}
    if dataset.probe is not None:  # inputs whose outputs the tab reports (trainer.probe)
        paths["probe"] = str(folder / "probe.bin")
    if all(Path(p).exists() for p in paths.values()):
        return paths
    x_train, y_train, x_val, y_val = split_validation(dataset.x_train, dataset.y_train,
                                                      hp["validation_split"], hp["seed"])
    folder.mkdir(parents=True, exist_ok=True)
    for split, (x, y) in zip(SPLITS, ((x_train, y_train), (x_val, y_val), (dataset.x_test, dataset.y_test))):
        partial = Path(paths[split] + ".partial")
        partial.write_bytes(encode_bundle([("x", x), ("y", y)]))
        os.replace(partial, paths[split])
    if dataset.probe is not None:
        partial = Path(paths["probe"] + ".partial")
        partial.write_bytes(encode_bundle([("x", dataset.probe)]))
        os.replace(partial, paths["probe"])
    return paths


def _samples(path: str) -> int:
    with open(path, "rb") as stream:
        (length,) = struct.unpack("<I", stream.read(4))
        return json.loads(stream.read(length))[0]["shape"][0]


# ---- weights coming back ---------------------------------------------------------------------

def read_weights(workdir: str | os.PathLike, body: bytes) -> list[np.ndarray]:
    """The uploaded weights in `model.get_weights()` order, checked against the issued topology.

    Raises:
        BundleError: names, shapes, dtypes or sizes differ, or a value is not finite.
    """
    facts = json.loads((Path(workdir) / FOLDER / "job.json").read_text())
    tensors = decode_bundle(body, facts["weights"])
    for spec, tensor in zip(facts["weights"], tensors):
        if not np.all(np.isfinite(tensor)):
            raise BundleError(f"Weight {spec['name']!r} holds NaN or infinite values.")
    ordered: list[np.ndarray | None] = [None] * len(tensors)
    for tensor, index in zip(tensors, facts["keras_order"]):
        ordered[index] = tensor
    return ordered


def save_checkpoint(workdir: str | os.PathLike, weights: list[np.ndarray], state: checkpoint.ResumeState) -> None:
    """Stores an epoch's uploaded weights as the job's latest checkpoint (no optimizer state:
    a worker that continues the job starts its optimizer afresh)."""
    checkpoint.save_weights_epoch(workdir, weights, state)


def finish(spec: JobSpec, weights: list[np.ndarray], reporter, workdir: str | os.PathLike,
           data_dir: str | os.PathLike | None = None, *, history: dict[str, list[float]] | None = None,
           max_tfjs_bytes: int | None = None, dataset: datasets.Dataset | None = None,
           base_models: dict[str, Any] | None = None) -> dict[str, Any]:
    """Evaluates and exports the weights a browser trained, exactly as a worker's run ends:
    `{"test_metrics", "analysis", "warnings", "artifacts", "precision", "devices", ...}`.
    `dataset`, `base_models`: as for `prepare` (a head's weights are put on its base)."""
    import tf_keras as keras

    from trainer.context import SafeReporter
    from trainer.fitting import evaluate_classifier, export_classifier, make_optimizer

    recipe = get_recipe(spec.recipe)
    hp = {**recipe.defaults(), **spec.hyperparameters}
    events = SafeReporter(reporter)
    if dataset is None:
        dataset = datasets.load(spec.dataset, data_dir, **{name: hp[name] for name in recipe.dataset_options})
    keras.mixed_precision.set_global_policy("float32")
    base, model = _models(recipe, hp, dataset, data_dir, base_models)
    model.set_weights(weights)
    if base is not None:
        model = keras.Model(base.input, model.layers[-1](base.output), name=f"{spec.recipe}_browser")
    model.compile(optimizer=make_optimizer(hp["optimizer"], hp["learning_rate"]),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    events.log("The browser's weights arrived; testing and exporting them on the server.")
    result = evaluate_classifier(model, dataset, history or {}, events)
    artifacts = export_classifier(model, dataset, workdir, max_tfjs_bytes=max_tfjs_bytes, log=events.log)
    for artifact in artifacts:
        events.on_event("artifact", artifact)
    return {**result, "artifacts": artifacts, "precision": "float32", "devices": ["browser"], "replicas": 1,
            "strategy": "default", "workers": 1, "global_batch_size": hp["batch_size"],
            "per_replica_batch_size": hp["batch_size"]}
