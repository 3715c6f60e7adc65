"""Decision boundary: TensorFlow Playground's small network on a 2-D toy dataset.

The inputs are the chosen features of each point (x1, x2, x1², ...; `trainer.toy2d`), a few
dense layers of at most 8 neurons, and a two-class softmax. Every sample event carries each
neuron's output over a lattice of the plane (`trainer.probe`), which /learn/playground/ draws as
the neurons' pictures and the decision boundary, whichever engine trains it.
"""

from __future__ import annotations

from typing import Any

from trainer.hyperparams import COMMON, Param
from trainer.recipes import ModelCount, Recipe
from trainer.toy2d import FEATURES, SHAPES

ACTIVATIONS = ("tanh", "relu", "sigmoid", "linear")
REGULARIZATIONS = ("none", "l1", "l2")


def build_plane(hp: dict[str, Any], input_shape: tuple[int, ...], num_classes: int):
    """Returns Dense(units, activation) per hidden layer (L1/L2 on the kernels) → softmax."""
    import tf_keras as keras

    rate = hp["regularization_rate"] if hp["regularization"] != "none" else 0.0
    # L1L2, not L1 or L2: TF.js deserialises this class (the tab trains the same loss).
    regularizer = keras.regularizers.L1L2(l1=rate if hp["regularization"] == "l1" else 0.0,
                                          l2=rate if hp["regularization"] == "l2" else 0.0) if rate else None
    layers: list[keras.layers.Layer] = [keras.Input(shape=input_shape)]
    for index, units in enumerate(hp["hidden_layers"], start=1):
        layers.append(keras.layers.Dense(units, activation=hp["activation"], kernel_regularizer=regularizer,
                                         name=f"hidden_{index}"))
    layers.append(keras.layers.Dense(num_classes, activation="softmax", kernel_regularizer=regularizer,
                                     dtype="float32", name="output"))
    return keras.Sequential(layers, name="plane")


def count_plane(hp: dict[str, Any], input_shape: tuple[int, ...], num_classes: int) -> ModelCount:
    """Returns the size of `build_plane`'s model without building it."""
    width, params, activations = input_shape[0], 0, 0
    for units in [*hp["hidden_layers"], num_classes]:
        params += width * units + units
        activations += units
        width = units
    return ModelCount(params, params, params, activations)


RECIPE = Recipe(
    name="plane",
    title="Decision boundary (2-D)",
    task="classification",
    description=(
        "TensorFlow Playground's network: a few neurons separate two classes of points in a plane.\n"
        "Pick the data, the features and the layers, and watch each neuron and the boundary learn."
    ),
    datasets=SHAPES,
    default_dataset="circle",
    hyperparameters={
        **COMMON,
        # TensorFlow Playground's defaults: SGD at 0.03 in batches of 10, tanh, layers of 4 and 2.
        "epochs": COMMON["epochs"].with_default(100),
        "batch_size": COMMON["batch_size"].with_default(10),
        "learning_rate": COMMON["learning_rate"].with_default(0.03),
        "optimizer": COMMON["optimizer"].with_default("sgd"),
        "hidden_layers": Param("int_list", [4, 2], min=1, max=8, min_items=0, max_items=6,
                               help="Neurons of each hidden layer (up to 6 layers of 8)."),
        "activation": Param("str", "tanh", choices=ACTIVATIONS, help="Hidden layer activation."),
        "regularization": Param("str", "none", choices=REGULARIZATIONS, help="Penalty on the weights."),
        "regularization_rate": Param("float", 0.0, min=0.0, max=10.0, help="Strength of the penalty."),
        "features": Param("str_list", ["x1", "x2"], choices=tuple(FEATURES), min_items=1, max_items=len(FEATURES),
                          help="Inputs computed from each point (x1, x2 its coordinates)."),
        "points": Param("int", 500, min=50, max=2000, help="Points generated."),
        "noise": Param("float", 0.0, min=0.0, max=0.5, help="How far the points stray (0 to 0.5)."),
        "test_ratio": Param("float", 0.5, min=0.1, max=0.9, help="Fraction of the points held out for testing."),
    },
    build=build_plane,
    count=count_plane,
    dataset_options=("points", "noise", "test_ratio", "features", "seed"),
)
