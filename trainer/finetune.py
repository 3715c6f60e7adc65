"""Fine-tuning and forks: start a model from another job's checkpoint, optionally with every
layer but the last frozen; and the class-restricted digits datasets of the offline demo
(LeNet pretrained on digits 0-4, fine-tuned on 5-9)."""

from __future__ import annotations

import os
from typing import Callable

import numpy as np

from trainer import datasets
from trainer.checkpoint import load_checkpoint, read_weights

FREEZE_MODES = ("none", "all_but_last")


def prepare_model(model, initial_weights: str | os.PathLike | None, freeze: str = "none",
                  log: Callable[[str], None] | None = None) -> list[str]:
    """Loads a parent checkpoint into a freshly built model and freezes layers; call it
    before `compile` (Keras reads `trainable` when it compiles).

    Args:
        model: the recipe's model, built with the parent's architecture.
        initial_weights: a `.weights.npz` checkpoint, or None to keep the fresh weights.
        freeze: "none", or "all_but_last" (only the last layer with weights trains).
        log: told when the parent's last layer did not fit and starts fresh.

    Returns:
        The names of the frozen layers.

    Raises:
        ValueError: the checkpoint does not fit the model, or an unknown freeze mode.
    """
    if freeze not in FREEZE_MODES:
        raise ValueError(f"Unknown freeze mode {freeze!r}. Choose one of: {', '.join(FREEZE_MODES)}.")
    with_weights = [layer for layer in model.layers if layer.weights]
    if initial_weights is not None:
        head = with_weights[-1]
        if not load_body_and_head(model, initial_weights, head) and log is not None:
            log(f"The parent's last layer does not fit {head.name}'s output shape "
                f"{tuple(head.output_shape[1:])}; it starts from fresh weights.")
    if freeze == "none":
        return []
    frozen = with_weights[:-1]
    for layer in frozen:
        layer.trainable = False
    return [layer.name for layer in frozen]


def load_body_and_head(model, path: str | os.PathLike, head) -> bool:
    """Loads a checkpoint into `model`; when only the `head` layer's shapes differ (a parent
    with another number of classes, e.g. CIFAR-10's 10 → cars vs horses' 2), loads every other
    layer and keeps the head's fresh weights. Returns whether the head was loaded too.

    Raises:
        ValueError: any other layer does not match (naming both lists of shapes).
    """
    weights = read_weights(path)
    current = model.get_weights()
    n_head = len(head.get_weights())
    same_body = (len(weights) == len(current) and n_head
                 and [w.shape for w in weights[:-n_head]] == [w.shape for w in current[:-n_head]])
    if not same_body or [w.shape for w in weights] == [w.shape for w in current]:
        load_checkpoint(model, path)  # all of it, or a ValueError naming both shapes
        return True
    # Layers are stored in order, so the head (the last layer with weights) is the tail.
    model.set_weights(weights[:-n_head] + current[-n_head:])
    return False


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
        shape=((8, 8, 1), 10), train_samples={"digits_0_4": 721, "digits_5_9": 716}[_name],
    ))


# Datasets whose inputs have the same shape, so one's model fits the other's: all of it when
# the class counts match too, all but a fresh head when not (cifar10 → cifar10_cars_horses).
_FAMILIES = {"digits_0_4": "digits", "digits_5_9": "digits", "fashion_mnist": "mnist",
             "cifar10_cars_horses": "cifar10"}


def dataset_family(name: str) -> str:
    """Returns the name shared by datasets whose models a fork can load (see `_FAMILIES`)."""
    return _FAMILIES.get(name, name)


def architecture_differences(recipe, parent_hp: dict, child_hp: dict) -> list[str]:
    """Returns the hyperparameters that shape the model (all but the common training ones)
    on which a fork differs from its parent; a fork may change only training ones."""
    from trainer.hyperparams import COMMON

    return sorted(name for name in recipe.hyperparameters
                  if name not in COMMON and parent_hp.get(name) != child_hp.get(name))
