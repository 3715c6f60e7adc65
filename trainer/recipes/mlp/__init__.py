"""Multilayer perceptron: the "hello world" of deep learning."""

from __future__ import annotations

import math
from typing import Any

from trainer.hyperparams import COMMON, Param
from trainer.recipes import ModelCount, Recipe
from trainer.serving import DIGITS_PAGE

ACTIVATIONS = ("relu", "tanh", "sigmoid", "softsign", "elu", "selu", "linear")


def build_mlp(hp: dict[str, Any], input_shape: tuple[int, ...], num_classes: int):
    """Returns Flatten → Dense(units, activation)[+ Dropout] per hidden layer → softmax.

    Args:
        hp: hyperparameters with `hidden_layers`, `activation` and `dropout`.
        input_shape: shape of one sample, e.g. (8, 8, 1).
        num_classes: width of the softmax layer.
    """
    import tf_keras as keras

    layers: list[keras.layers.Layer] = [keras.Input(shape=input_shape), keras.layers.Flatten()]
    for units in hp["hidden_layers"]:
        layers.append(keras.layers.Dense(units, activation=hp["activation"]))
        if hp["dropout"] > 0:
            layers.append(keras.layers.Dropout(hp["dropout"]))
    # Under a mixed precision policy the softmax still runs in float32 for a stable loss.
    layers.append(keras.layers.Dense(num_classes, activation="softmax", dtype="float32"))
    return keras.Sequential(layers, name="mlp")


def count_mlp(hp: dict[str, Any], input_shape: tuple[int, ...], num_classes: int) -> ModelCount:
    """Returns the size of `build_mlp`'s model, layer by layer, without building it."""
    width = math.prod(input_shape)
    params, activations = 0, width  # Flatten
    for units in hp["hidden_layers"]:
        params += width * units + units
        activations += units * (2 if hp["dropout"] > 0 else 1)
        width = units
    params += width * num_classes + num_classes
    return ModelCount(params, params, params, activations + num_classes)


RECIPE = Recipe(
    name="mlp",
    title="Multilayer perceptron",
    task="classification",
    description=(
        "Fully connected layers on flattened pixels.\n"
        "Try more layers, other activations or dropout and watch the validation curve."
    ),
    datasets=("digits", "mnist", "fashion_mnist"),
    default_dataset="digits",
    hyperparameters={
        **COMMON,
        "epochs": COMMON["epochs"].with_default(20),
        "hidden_layers": Param(
            "int_list", [128, 64], min=1, max=4096, min_items=1, max_items=8,
            help="Units of each hidden layer.",
        ),
        "activation": Param("str", "relu", choices=ACTIVATIONS, help="Hidden layer activation."),
        "dropout": Param("float", 0.0, min=0.0, max=0.9, help="Dropout after each hidden layer."),
    },
    build=build_mlp,
    count=count_mlp,
    pages=(DIGITS_PAGE,),
    user_data=("images", "tabular"),
)
