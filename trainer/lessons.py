"""The lessons of the /learn/ pages, as data: the presets of "how training works" (each one a
POST /api/v1/jobs/ body) and the activation functions of the explorer, with the recipe whose
`activation` hyperparameter the explorer links to.

Every preset was trained with the real trainer (`trainer.run.train`) on this repo's 2-core CPU;
the comment next to it is what came out, so the prose on the page promises only what the chart
will show. Re-measure after changing one (tests/playground/demos/test_learn_presets.py checks
the diverging, overfitting and early-stopping ones).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trainer.recipes import get_recipe

# The explorer's "train a network with this activation" links open this recipe's play page.
ACTIVATION_RECIPE = "mlp"
# /learn/playground/ trains this recipe: points in a plane, each neuron's picture of it.
PLAYGROUND_RECIPE = "plane"


@dataclass(frozen=True)
class Preset:
    """One button on /learn/training/: a job body plus what it is meant to show."""

    key: str
    label: str
    shows: str
    body: dict[str, Any]


# The big network, small training set (validation_split 0.5 → 719 digits to learn from) and a
# brisk Adam that the overfitting and early-stopping presets share.
_OVERFIT = {"hidden_layers": [512, 512], "dropout": 0.0, "validation_split": 0.5,
            "optimizer": "adam", "learning_rate": 0.003, "batch_size": 16, "seed": 42}

PRESETS: dict[str, Preset] = {preset.key: preset for preset in [
    # Measured: fails "loss became NaN at epoch 1" (~1 s). With relu instead of linear the
    # network dies rather than overflowing: loss 16.1 after epoch 1, then stuck at chance (2.35).
    Preset("lr_too_large", "Learning rate 10 (too large)",
           "The first steps overshoot so far that the loss overflows: the job fails with "
           "\"loss became NaN at epoch 1\".",
           {"recipe": "mlp", "dataset": "digits", "hyperparameters": {
               "epochs": 10, "optimizer": "sgd", "learning_rate": 10.0, "activation": "linear",
               "hidden_layers": [128, 64], "seed": 42}}),
    # Measured: loss 2.351 → 2.340 in 10 epochs, val_accuracy stays 0.076 (~2 s).
    Preset("lr_too_small", "Learning rate 0.0001 (too small)",
           "Ten epochs and the loss barely moves (2.35 → 2.34); accuracy stays at chance.",
           {"recipe": "mlp", "dataset": "digits", "hyperparameters": {
               "epochs": 10, "optimizer": "sgd", "learning_rate": 0.0001,
               "hidden_layers": [128, 64], "seed": 42}}),
    # Measured: loss 1.83 → 0.11, val_accuracy 0.67 → 0.97 in 10 epochs (~2 s).
    Preset("lr_good", "Learning rate 0.1 (about right)",
           "Same network and optimizer: the loss drops from 1.8 to 0.11 and validation accuracy "
           "reaches about 97%.",
           {"recipe": "mlp", "dataset": "digits", "hyperparameters": {
               "epochs": 10, "optimizer": "sgd", "learning_rate": 0.1,
               "hidden_layers": [128, 64], "seed": 42}}),
    # Measured: val_accuracy 0.965 after 5 epochs, 162 steps per epoch (~2 s).
    Preset("batch_small", "Batch size 8",
           "162 small, noisy steps per epoch: after 5 epochs validation accuracy is about 96%.",
           {"recipe": "mlp", "dataset": "digits", "hyperparameters": {
               "epochs": 5, "optimizer": "sgd", "learning_rate": 0.05, "batch_size": 8,
               "hidden_layers": [128, 64], "seed": 42}}),
    # Measured: val_accuracy 0.42 after 5 epochs (loss 2.34 → 2.17), 3 steps per epoch (~1 s).
    Preset("batch_large", "Batch size 512",
           "3 smooth steps per epoch with the same learning rate: after 5 epochs validation "
           "accuracy is only about 42%.",
           {"recipe": "mlp", "dataset": "digits", "hyperparameters": {
               "epochs": 5, "optimizer": "sgd", "learning_rate": 0.05, "batch_size": 512,
               "hidden_layers": [128, 64], "seed": 42}}),
    # Measured: best val_loss 0.085 at epoch 12, then it climbs steadily to 0.108 at epoch 40
    # while the training loss falls to 0.000 (train accuracy 100%, val 98%) (~8-15 s).
    Preset("overfit", "40 epochs, big network, half the data",
           "Validation loss bottoms out around epoch 12 and then climbs for the rest of the run "
           "while the training loss keeps falling to zero: the network memorises its 719 "
           "training digits.",
           {"recipe": "mlp", "dataset": "digits",
            "hyperparameters": {"epochs": 40, **_OVERFIT, "patience": 0}}),
    # Measured: stops after epoch 17, best epoch 12 (val_loss 0.085), weights of epoch 12 kept
    # (~4 s).
    Preset("early_stopping", "The same with patience 5",
           "Validation loss is best at epoch 12; five epochs without improvement later, training "
           "stops at epoch 17 of 40 and keeps epoch 12's weights.",
           {"recipe": "mlp", "dataset": "digits",
            "hyperparameters": {"epochs": 40, **_OVERFIT, "patience": 5}}),
]}

@dataclass(frozen=True)
class Activation:
    name: str
    title: str
    formula: str
    derivative: str
    keras_name: str | None  # its name in Keras, which ACTIVATION_RECIPE's `activation` takes

    @property
    def offered(self) -> bool:
        """Whether ACTIVATION_RECIPE's `activation` hyperparameter offers this function."""
        return self.keras_name in get_recipe(ACTIVATION_RECIPE).hyperparameters["activation"].choices


# The curves themselves are computed in static/js/learn_activations.js, keyed by `name`.
ACTIVATIONS = [
    Activation("identity", "Identity", "f(x) = x", "f′(x) = 1", "linear"),
    Activation("binary_step", "Binary step", "f(x) = 0 if x < 0, 1 if x ≥ 0",
               "f′(x) = 0 (undefined at 0)", None),
    Activation("logistic", "Logistic (sigmoid)", "f(x) = 1 / (1 + e^−x)",
               "f′(x) = f(x) · (1 − f(x))", "sigmoid"),
    Activation("tanh", "tanh", "f(x) = (e^x − e^−x) / (e^x + e^−x)", "f′(x) = 1 − f(x)²", "tanh"),
    Activation("arctan", "arctan", "f(x) = tan⁻¹(x)", "f′(x) = 1 / (x² + 1)", None),
    Activation("softsign", "Softsign", "f(x) = x / (1 + |x|)", "f′(x) = 1 / (1 + |x|)²",
               "softsign"),
    Activation("relu", "ReLU", "f(x) = max(0, x)", "f′(x) = 0 if x < 0, 1 if x > 0", "relu"),
    Activation("elu", "ELU (α = 1)", "f(x) = α(e^x − 1) if x < 0, x if x ≥ 0",
               "f′(x) = f(x) + α if x < 0, 1 if x ≥ 0", "elu"),
    Activation("selu", "SELU", "f(x) = λ·α(e^x − 1) if x < 0, λ·x if x ≥ 0 "
               "(λ ≈ 1.0507, α ≈ 1.6733)", "f′(x) = λ·α·e^x if x < 0, λ if x ≥ 0", "selu"),
]
