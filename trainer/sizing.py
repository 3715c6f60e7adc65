"""How much memory and disk a job's model takes, estimated from its spec without building it.

Building the model to count it would allocate the very weights a limit is there to refuse (an
mlp of [4096]*8 on digits has 117,776,394 parameters: 471 MB of float32), and would import
TensorFlow into the web process; each recipe counts its layers arithmetically instead
(`Recipe.count`), and tests hold those counts to `model.count_params()` of built models.
Importing this module does not import TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trainer.checkpoint import Retention
from trainer.recipes import ModelCount, get_recipe
from trainer.spec import JobSpec

BYTES_PER_FLOAT = 4  # weights are float32 variables even under mixed precision
# A training step keeps each layer's output for the backward pass, and the backward pass holds
# gradients of the same shapes while it runs. Measured on CPU: an mlp [2048]*4 at batch 4096
# peaked 338 MB above its batch-16 twin for 136 MB of layer outputs (2.5x); 3 covers the
# pre-activation tensors that convolutions and batch norms keep besides.
BACKPROP_FACTOR = 3
# Variables per weight each optimizer keeps (tf_keras defaults: RMSprop without momentum,
# "momentum" is SGD with momentum 0.9). Checkpoints hold them, and so does a classifier's .h5.
OPTIMIZER_SLOTS = {"sgd": 0, "momentum": 1, "adagrad": 1, "rmsprop": 1, "adam": 2}
# Bytes per weight of the TF.js variants trainer.export writes: float32, float16, uint8.
TFJS_BYTES_PER_WEIGHT = 4 + 2 + 1

class UnsizedDataset(KeyError):
    """A dataset without a registered `shape`, so its jobs cannot be sized."""


@dataclass(frozen=True)
class ModelSize:
    """A job's model in numbers and bytes.

    Attributes:
        params: weights of the model (what `model.count_params()` says).
        batch_size: samples per training step.
        activation_bytes: memory a training step's activations take at `batch_size`
            (layer outputs × BACKPROP_FACTOR).
        checkpoint_bytes: one checkpoint file: the weights and the optimizer's slots.
        checkpoint_files: the most checkpoint files the run holds at once.
        export_bytes: the exported `.h5` plus every TF.js variant.
        tfjs_bytes: weights of the float32 TF.js variant, the one a browser loads by default;
            0 when the recipe exports no TF.js model.
    """

    params: int
    batch_size: int
    activation_bytes: int
    checkpoint_bytes: int
    checkpoint_files: int
    export_bytes: int
    tfjs_bytes: int

    @property
    def disk_bytes(self) -> int:
        """The most bytes the job's folder holds: checkpoints at their peak plus exports."""
        return self.checkpoint_bytes * self.checkpoint_files + self.export_bytes

    @property
    def activation_bytes_per_sample(self) -> int:
        return self.activation_bytes // self.batch_size


def dataset_shape(spec: JobSpec, shape: tuple[tuple[int, ...], int] | None = None) -> tuple[tuple[int, ...], int]:
    """Returns `(input_shape, num_classes)` of the spec's dataset, without loading it.

    Args:
        spec: a validated job spec.
        shape: `(input_shape, num_classes)` known by the caller (an uploaded dataset, whose
            figures the web side keeps); None looks the dataset up in the registry.

    Raises:
        UnsizedDataset: a dataset registered without a `shape`.
    """
    from trainer.datasets import DATASETS

    if shape is not None:
        return tuple(shape[0]), shape[1]
    info = DATASETS.get(spec.dataset)
    shape = info.shape_for(spec.hyperparameters) if info else None
    if shape is None:
        raise UnsizedDataset(spec.dataset)
    return shape


def count(spec: JobSpec, shape: tuple[tuple[int, ...], int] | None = None) -> ModelCount:
    """Returns the recipe's `ModelCount` for the spec's hyperparameters and dataset (`shape`:
    as for `dataset_shape`)."""
    recipe = get_recipe(spec.recipe)
    input_shape, num_classes = dataset_shape(spec, shape)
    return recipe.count({**recipe.defaults(), **spec.hyperparameters}, input_shape, num_classes)


def estimate(spec: JobSpec, retention: Retention | None = None,
             shape: tuple[tuple[int, ...], int] | None = None) -> ModelSize:
    """Returns what training `spec` takes in memory and on disk, without TensorFlow.

    Args:
        spec: a validated job spec.
        retention: the per-epoch checkpoints the run keeps, as given to `trainer.run.train`;
            None keeps every epoch's (train()'s default too).
        shape: as for `dataset_shape`.
    """
    hp: dict[str, Any] = {**get_recipe(spec.recipe).defaults(), **spec.hyperparameters}
    counted = count(spec, shape)
    slots = OPTIMIZER_SLOTS[hp["optimizer"]] * counted.trainable
    retention = retention or Retention(keep_every=1, keep_last=0)
    h5 = BYTES_PER_FLOAT * (counted.exported + (slots if counted.exports_optimizer else 0))
    return ModelSize(
        params=counted.params,
        batch_size=hp["batch_size"],
        activation_bytes=counted.activations * hp["batch_size"] * BYTES_PER_FLOAT * BACKPROP_FACTOR,
        checkpoint_bytes=BYTES_PER_FLOAT * (counted.params + slots),
        checkpoint_files=retention.most_files(hp["epochs"]),
        export_bytes=(h5 + TFJS_BYTES_PER_WEIGHT * counted.exported) if counted.exported else 0,
        tfjs_bytes=BYTES_PER_FLOAT * counted.exported,
    )


def format_bytes(n: int, decimals: int | None = None) -> str:
    """Returns `n` bytes in decimal units for messages, e.g. "1.4 GB", "512 MB", "800 bytes".

    Args:
        n: a byte count.
        decimals: digits after the point (trailing zeros dropped); None: one below 10 units,
            none above.
    """
    for unit, size in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= size:
            value = n / size
            places = decimals if decimals is not None else (1 if value < 10 else 0)
            text = f"{value:,.{places}f}"
            return f"{text.rstrip('0').rstrip('.') if '.' in text else text} {unit}"
    return f"{n:,} bytes"


def format_over(value: int, limit: int) -> tuple[str, str]:
    """Returns `value` and `limit` as `format_bytes` writes them, with as many more decimals as
    it takes for a value just over its limit not to read the same ("2.002 GB", not "2 GB"), or
    both in bytes when that is closer still."""
    for decimals in (None, 1, 2, 3):
        shown = format_bytes(value, decimals), format_bytes(limit, decimals)
        if shown[0] != shown[1]:
            return shown
    return f"{value:,} bytes", f"{limit:,} bytes"
