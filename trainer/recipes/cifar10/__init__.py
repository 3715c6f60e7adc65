"""A small VGG-style CNN for CIFAR-10: blocks of (conv-BN-ReLU) x2 + max-pool, then a dense head."""

from __future__ import annotations

from typing import Any

from trainer.hyperparams import COMMON, Param
from trainer.recipes import ModelCount, Recipe


def build_cifar10(hp: dict[str, Any], input_shape: tuple[int, ...], num_classes: int):
    """Returns the CNN: `blocks` stages of two 3x3 conv-BN-ReLU and a 2x2 max-pool, filters
    doubling per stage, then dense-ReLU, dropout and the softmax.

    Args:
        hp: hyperparameters with `filters`, `blocks`, `dense_units` and `dropout`.
        input_shape: shape of one image, (height, width, channels), e.g. (32, 32, 3).
        num_classes: width of the softmax layer (10 for CIFAR-10, 2 for cars vs horses).
    """
    import tf_keras as keras

    layers = [keras.Input(shape=input_shape)]
    for block in range(hp["blocks"]):
        for _ in range(2):
            # No conv bias: the batch norm's beta does that job.
            layers += [keras.layers.Conv2D(hp["filters"] * 2**block, 3, padding="same", use_bias=False),
                       keras.layers.BatchNormalization(),
                       keras.layers.ReLU()]
        layers.append(keras.layers.MaxPooling2D(2))
    layers += [
        keras.layers.Flatten(),
        keras.layers.Dense(hp["dense_units"], activation="relu"),
        keras.layers.Dropout(hp["dropout"]),
        keras.layers.Dense(num_classes, activation="softmax", dtype="float32"),
    ]
    return keras.Sequential(layers, name="cifar10_cnn")


def count_cifar10(hp: dict[str, Any], input_shape: tuple[int, ...], num_classes: int) -> ModelCount:
    """Returns the size of `build_cifar10`'s model without building it."""
    height, width, channels = input_shape
    params = frozen = activations = 0
    for block in range(hp["blocks"]):
        filters = hp["filters"] * 2**block
        for _ in range(2):
            # A bias-free 3x3 conv, then batch norm: gamma and beta train, the moving mean and
            # variance do not. Conv, BN and ReLU each output a full feature map.
            params += 9 * channels * filters + 4 * filters
            frozen += 2 * filters
            activations += 3 * height * width * filters
            channels = filters
        height, width = height // 2, width // 2
        activations += height * width * channels
    flat, dense = height * width * channels, hp["dense_units"]
    params += flat * dense + dense + dense * num_classes + num_classes
    activations += flat + 2 * dense + num_classes  # Flatten, Dense, Dropout, softmax
    return ModelCount(params, params - frozen, params, activations)


RECIPE = Recipe(
    name="cifar10",
    title="CIFAR-10 convolutional network",
    task="classification",
    description=(
        "A small VGG-style CNN (conv-batchnorm-ReLU pairs, pooling) on 32x32 colour photos.\n"
        "Fork it onto cars vs horses with frozen convolutions: only a new 2-class head trains."
    ),
    datasets=("cifar10", "cifar10_cars_horses"),
    default_dataset="cifar10",
    hyperparameters={
        **COMMON,
        "epochs": COMMON["epochs"].with_default(15),
        "batch_size": COMMON["batch_size"].with_default(64),
        "filters": Param("int", 32, min=4, max=256, help="Filters of the first stage (doubles per stage)."),
        "blocks": Param("int", 3, min=1, max=4,
                        help="Conv-conv-pool stages (3 takes 32x32 images down to 4x4)."),
        "dense_units": Param("int", 128, min=8, max=2048, help="Width of the dense layer before the softmax."),
        "dropout": Param("float", 0.3, min=0.0, max=0.9, help="Dropout rate before the softmax."),
    },
    build=build_cifar10,
    count=count_cifar10,
)
