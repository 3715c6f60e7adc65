from __future__ import annotations

import json

import numpy as np
import pytest

from trainer.datasets import load
from trainer.recipes import RECIPES, get_recipe, recipe_catalog


def layer_summary(model) -> list[tuple]:
    summary = []
    for layer in model.layers:
        config = layer.get_config()
        summary.append((type(layer).__name__, config.get("filters") or config.get("units"),
                        config.get("kernel_size") or config.get("pool_size"),
                        config.get("activation")))
    return summary


def test_the_catalog_lists_every_recipe_with_its_datasets_and_hyperparameter_schema():
    catalog = json.loads(json.dumps(recipe_catalog()))

    names = [entry["name"] for entry in catalog]
    assert names[:3] == ["mlp", "lenet", "fizzbuzz"] and len(set(names)) == len(names)
    for entry in catalog:
        assert set(entry) == {"name", "title", "task", "description", "datasets",
                              "default_dataset", "hyperparameters", "try_page", "engines", "user_data"}
        assert entry["task"] in {"classification", "generation", "recommendation", "translation"}
        assert entry["default_dataset"] in entry["datasets"]
        assert len(entry["description"].splitlines()) == 2
        for schema in entry["hyperparameters"].values():
            assert {"type", "default", "help"} <= set(schema)
            assert None not in schema.values()
    engines = {entry["name"]: entry["engines"] for entry in catalog}
    assert engines["mlp"] == engines["lenet"] == engines["fizzbuzz"] == ["server", "browser"]
    assert engines["dcgan"] == engines["seq2seq"] == engines["matrix_factorization"] == ["server"]
    mlp = catalog[0]["hyperparameters"]
    assert mlp["optimizer"]["choices"] == ["sgd", "momentum", "adagrad", "rmsprop", "adam"]
    assert mlp["epochs"]["min"] == 1 and mlp["epochs"]["max"] == 500


def test_get_recipe_names_the_choices_for_an_unknown_recipe():
    with pytest.raises(KeyError, match="mlp, lenet, fizzbuzz"):
        get_recipe("gan")


def test_the_mlp_stacks_the_hidden_layers_it_is_given_before_a_float32_softmax():
    hp = {**RECIPES["mlp"].defaults(), "hidden_layers": [32, 16, 8], "activation": "tanh",
          "dropout": 0.2}

    model = RECIPES["mlp"].build(hp, (8, 8, 1), 10)

    assert layer_summary(model) == [
        ("Flatten", None, None, None),
        ("Dense", 32, None, "tanh"), ("Dropout", None, None, None),
        ("Dense", 16, None, "tanh"), ("Dropout", None, None, None),
        ("Dense", 8, None, "tanh"), ("Dropout", None, None, None),
        ("Dense", 10, None, "softmax"),
    ]
    assert model.layers[-1].dtype_policy.name == "float32"


@pytest.mark.parametrize("input_shape, flat_units", [((8, 8, 1), 2 * 2 * 50),
                                                     ((28, 28, 1), 7 * 7 * 50)])
def test_lenet_has_the_classic_layers_and_fits_8x8_and_28x28_images(input_shape, flat_units):
    hp = RECIPES["lenet"].defaults()

    model = RECIPES["lenet"].build(hp, input_shape, 10)

    assert layer_summary(model) == [
        ("Conv2D", 20, (5, 5), "relu"), ("MaxPooling2D", None, (2, 2), None),
        ("Conv2D", 50, (5, 5), "relu"), ("MaxPooling2D", None, (2, 2), None),
        ("Flatten", None, None, None),
        ("Dense", 500, None, "relu"), ("Dense", 10, None, "softmax"),
    ]
    assert model.layers[4].output_shape == (None, flat_units)
    assert model.output_shape == (None, 10)


def test_fizzbuzz_builds_one_hidden_layer_over_the_binary_digits():
    hp = {**RECIPES["fizzbuzz"].defaults(), "hidden_units": 64}

    model = RECIPES["fizzbuzz"].build(hp, (10,), 4)

    assert layer_summary(model) == [("Dense", 64, None, "relu"), ("Dense", 4, None, "softmax")]
    assert model.input_shape == (None, 10)


def test_the_fizzbuzz_sample_spells_out_the_predictions_for_1_to_100():
    data = load("fizzbuzz", num_digits=8)

    class Oracle:  # a "model" that always answers correctly
        def __call__(self, x, training=False):
            return np.eye(4)[data.y_test]

    sample = RECIPES["fizzbuzz"].sample(Oracle(), data.x_test, data.y_test)

    assert sample["predictions"][:15] == ["1", "2", "fizz", "4", "buzz", "fizz", "7", "8",
                                          "fizz", "buzz", "11", "fizz", "13", "14", "fizzbuzz"]
    assert sample["accuracy"] == 1.0
