"""Fine-tuning and forks: start a model from another job's checkpoint, optionally with every
layer but the last frozen; and the class-restricted digits datasets of the offline demo
(LeNet pretrained on digits 0-4, fine-tuned on 5-9)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from trainer import datasets

FREEZE_MODES = ("none", "all_but_last")
CHECKPOINT_CHOICES = ("best", "latest")  # or an epoch number


def checkpoint_file(checkpoint_dir: str | os.PathLike, epoch: int | str) -> Path:
    """Returns the checkpoint file of `epoch` ("best", "latest" or a number ≥ 1) in a job's
    `checkpoints/` folder, whether or not it exists."""
    if isinstance(epoch, str) and epoch in CHECKPOINT_CHOICES:
        return Path(checkpoint_dir) / f"{epoch}.weights.npz"
    return Path(checkpoint_dir) / f"epoch-{int(epoch)}.weights.npz"


def saved_epochs(checkpoint_dir: str | os.PathLike) -> list[int]:
    """Returns the epochs that have a per-epoch checkpoint, ascending."""
    found = (re.fullmatch(r"epoch-(\d+)\.weights\.npz", p.name) for p in Path(checkpoint_dir).glob("*.npz"))
    return sorted(int(m.group(1)) for m in found if m)


def prepare_model(model, initial_weights: str | os.PathLike | None, freeze: str = "none") -> list[str]:
    """Loads a parent checkpoint into a freshly built model and freezes layers; call it
    before `compile` (Keras reads `trainable` when it compiles).

    Args:
        model: the recipe's model, built with the parent's architecture.
        initial_weights: a `.weights.npz` checkpoint, or None to keep the fresh weights.
        freeze: "none", or "all_but_last" (only the last layer with weights trains).

    Returns:
        The names of the frozen layers.

    Raises:
        ValueError: the checkpoint does not fit the model, or an unknown freeze mode.
    """
    from trainer.run import load_checkpoint

    if freeze not in FREEZE_MODES:
        raise ValueError(f"Unknown freeze mode {freeze!r}. Choose one of: {', '.join(FREEZE_MODES)}.")
    if initial_weights is not None:
        load_checkpoint(model, initial_weights)
    if freeze == "none":
        return []
    with_weights = [layer for layer in model.layers if layer.weights]
    frozen = with_weights[:-1]
    for layer in frozen:
        layer.trainable = False
    return [layer.name for layer in frozen]


def _subset_loader(classes: tuple[int, ...]):
    def load(info: datasets.DatasetInfo, data_dir) -> datasets.Dataset:
        full = datasets.load("digits", data_dir)
        train = np.isin(full.y_train, classes)
        test = np.isin(full.y_test, classes)
        # Labels keep their digit value and the model keeps 10 outputs, so a model trained on
        # one half has the same architecture as one for the other half: forks just load.
        return datasets.Dataset(info.name, full.x_train[train], full.y_train[train],
                                full.x_test[test], full.y_test[test], full.num_classes,
                                full.input_shape, list(full.class_names))
    return load


_DIGITS = tuple(str(i) for i in range(10))
for _name, _classes in (("digits_0_4", (0, 1, 2, 3, 4)), ("digits_5_9", (5, 6, 7, 8, 9))):
    datasets.register(datasets.DatasetInfo(
        _name, f"scikit-learn digits {_classes[0]}-{_classes[-1]} only (8x8)", _DIGITS,
        _subset_loader(_classes),
        homepage="https://scikit-learn.org/stable/datasets/toy_dataset.html#digits-dataset",
    ))


# Datasets whose inputs and classes have the same shapes, so one's model fits the other's.
_FAMILIES = {"digits_0_4": "digits", "digits_5_9": "digits", "fashion_mnist": "mnist"}


def dataset_family(name: str) -> str:
    """Returns the name shared by datasets of the same input shape and class count."""
    return _FAMILIES.get(name, name)


def architecture_differences(recipe, parent_hp: dict, child_hp: dict) -> list[str]:
    """Returns the hyperparameters that shape the model (all but the common training ones)
    on which a fork differs from its parent; a fork may change only training ones."""
    from trainer.hyperparams import COMMON

    return sorted(name for name in recipe.hyperparameters
                  if name not in COMMON and parent_hp.get(name) != child_hp.get(name))
