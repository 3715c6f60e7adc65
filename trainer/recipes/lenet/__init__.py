"""LeNet-style convolutional network (conv 20@5x5, pool, conv 50@5x5, pool, dense 500)."""

from __future__ import annotations

from typing import Any

from trainer.hyperparams import COMMON, Param
from trainer.recipes import ModelCount, Recipe
from trainer.serving import DIGITS_PAGE


def build_lenet(hp: dict[str, Any], input_shape: tuple[int, ...], num_classes: int):
    """Returns the LeNet model from the classic Caffe/MXNet tutorials.

    Args:
        hp: hyperparameters with `activation`.
        input_shape: shape of one image, (height, width, channels).
        num_classes: width of the softmax layer.
    """
    import tf_keras as keras

    activation = hp["activation"]
    # padding="same" keeps 8x8 digits at 8→4→2 instead of shrinking below the 5x5 kernel.
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            keras.layers.Conv2D(20, 5, padding="same", activation=activation),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(50, 5, padding="same", activation=activation),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(500, activation=activation),
            keras.layers.Dense(num_classes, activation="softmax", dtype="float32"),
        ],
        name="lenet",
    )


def count_lenet(hp: dict[str, Any], input_shape: tuple[int, ...], num_classes: int) -> ModelCount:
    """Returns the size of `build_lenet`'s model without building it."""
    height, width, channels = input_shape
    pooled = (height // 2) * (width // 2)   # after the first 2x2 pool ("same" convs keep sizes)
    flat = (height // 2 // 2) * (width // 2 // 2) * 50
    params = (25 * channels * 20 + 20) + (25 * 20 * 50 + 50) + (flat * 500 + 500) \
        + (500 * num_classes + num_classes)
    activations = height * width * 20 + pooled * 20 + pooled * 50 + flat * 2 + 500 + num_classes
    return ModelCount(params, params, params, activations)


RECIPE = Recipe(
    name="lenet",
    title="LeNet convolutional network",
    task="classification",
    description=(
        "Two convolution + pooling stages and a dense layer, as in LeCun's LeNet.\n"
        "Learns local strokes first, so it beats the MLP on handwritten digits."
    ),
    datasets=("digits", "mnist", "fashion_mnist", "digits_0_4", "digits_5_9"),
    default_dataset="digits",
    hyperparameters={
        **COMMON,
        "epochs": COMMON["epochs"].with_default(10),
        "activation": Param("str", "relu", choices=("relu", "tanh"), help="Activation."),
    },
    build=build_lenet,
    count=count_lenet,
    pages=(DIGITS_PAGE,),
    user_data=("images",),
)
