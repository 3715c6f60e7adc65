from __future__ import annotations

import json

import pytest

from trainer.hyperparams import COMMON, Param
from trainer.recipes import RECIPES
from trainer.spec import JobSpec, SpecError, gang_size, parse_strategy, validate_spec


def errors_for(data) -> dict:
    with pytest.raises(SpecError) as raised:
        validate_spec(data)
    return raised.value.errors


def test_it_fills_in_the_default_dataset_and_every_hyperparameter():
    spec = validate_spec({"recipe": "mlp"})

    assert spec == JobSpec("mlp", "digits", RECIPES["mlp"].defaults(), "float32", "default")
    assert spec.hyperparameters["hidden_layers"] == [128, 64]


def test_it_keeps_submitted_values_and_fills_in_the_rest():
    spec = validate_spec({"recipe": "lenet", "dataset": "mnist", "precision": "mixed_bfloat16",
                          "strategy": "mirrored",
                          "hyperparameters": {"epochs": 3, "activation": "tanh"}})

    assert (spec.dataset, spec.precision, spec.strategy) == ("mnist", "mixed_bfloat16", "mirrored")
    assert spec.hyperparameters["epochs"] == 3
    assert spec.hyperparameters["activation"] == "tanh"
    assert spec.hyperparameters["batch_size"] == RECIPES["lenet"].defaults()["batch_size"]


def test_to_dict_is_json_safe_and_validates_back_to_the_same_spec():
    spec = validate_spec({"recipe": "mlp", "hyperparameters": {"hidden_layers": [32]}})

    assert validate_spec(json.loads(json.dumps(spec.to_dict()))) == spec


def test_it_requires_a_recipe():
    assert errors_for({}) == {"recipe": ["This field is required."]}


def test_it_rejects_an_unknown_recipe_naming_the_choices():
    message = errors_for({"recipe": "resnet"})["recipe"][0]

    assert "resnet" in message and "mlp, lenet, fizzbuzz" in message


def test_it_rejects_a_dataset_the_recipe_does_not_offer_listing_the_ones_it_does():
    message = errors_for({"recipe": "fizzbuzz", "dataset": "mnist"})["dataset"][0]

    assert "'mnist'" in message and "fizzbuzz" in message.split("Choose one of:")[1]


def test_it_rejects_unknown_hyperparameters_naming_the_allowed_ones():
    errors = errors_for({"recipe": "mlp", "hyperparameters": {"momentum": 0.9}})

    message = errors["hyperparameters"]["momentum"][0]
    assert "Unknown hyperparameter" in message and "learning_rate" in message


def test_it_rejects_a_string_for_an_integer_instead_of_coercing_it():
    errors = errors_for({"recipe": "mlp", "hyperparameters": {"epochs": "abc", "batch_size": "10"}})

    assert errors["hyperparameters"] == {"epochs": ["Expected an integer, got 'abc'."],
                                         "batch_size": ["Expected an integer, got '10'."]}


def test_it_rejects_a_boolean_for_an_integer_or_a_number():
    errors = errors_for({"recipe": "mlp", "hyperparameters": {"epochs": True, "dropout": False}})

    assert set(errors["hyperparameters"]) == {"epochs", "dropout"}


def test_it_accepts_an_integer_where_a_float_is_expected():
    spec = validate_spec({"recipe": "mlp", "hyperparameters": {"learning_rate": 1}})

    assert spec.hyperparameters["learning_rate"] == 1.0
    assert isinstance(spec.hyperparameters["learning_rate"], float)


@pytest.mark.parametrize("name, value, message", [
    ("epochs", 0, "Must be between 1 and 500."),
    ("epochs", 501, "Must be between 1 and 500."),
    ("dropout", 0.95, "Must be between 0.0 and 0.9."),
    ("learning_rate", -0.1, "Must be between 1e-06 and 10.0."),
    ("hidden_layers", [64, 0], "Must be between 1 and 4096."),
    ("hidden_layers", [], "Must have at least 1 item(s)."),
    ("hidden_layers", [8] * 9, "Must have at most 8 item(s)."),
    ("hidden_layers", 64, "Expected a list of integers, got 64."),
    ("learning_rate", float("nan"), "Expected a finite number, got nan."),
])
def test_it_rejects_out_of_range_values_naming_the_range(name, value, message):
    errors = errors_for({"recipe": "mlp", "hyperparameters": {name: value}})

    assert errors["hyperparameters"] == {name: [message]}


def test_it_rejects_a_value_outside_the_choices_listing_them():
    errors = errors_for({"recipe": "mlp", "hyperparameters": {"activation": "gelu"}})

    message = errors["hyperparameters"]["activation"][0]
    assert message.startswith("Must be one of: relu, tanh, sigmoid")


@pytest.mark.parametrize("field", ["precision", "strategy"])
def test_it_rejects_an_unknown_precision_or_strategy(field):
    message = errors_for({"recipe": "mlp", field: "fast"})[field][0]

    assert "'fast'" in message and "Choose one of:" in message


def test_it_reports_every_problem_at_once():
    errors = errors_for({"recipe": "mlp", "dataset": "cifar", "precision": "half",
                         "hyperparameters": {"epochs": -1, "optimizer": "lbfgs", "nope": 1}})

    assert set(errors) == {"dataset", "precision", "hyperparameters"}
    assert set(errors["hyperparameters"]) == {"epochs", "optimizer", "nope"}


def test_it_still_checks_the_other_fields_when_the_recipe_is_unknown():
    errors = errors_for({"recipe": "nope", "strategy": "ring", "hyperparameters": [1]})

    assert set(errors) == {"recipe", "strategy", "hyperparameters"}


@pytest.mark.parametrize("data", [None, [], "mlp"])
def test_it_rejects_data_that_is_not_an_object(data):
    assert "non_field_errors" in errors_for(data)


def test_it_rejects_hyperparameters_that_are_not_an_object():
    errors = errors_for({"recipe": "mlp", "hyperparameters": [["epochs", 3]]})

    assert errors["hyperparameters"][0].startswith("Expected an object mapping hyperparameter names to values")


def test_every_recipe_offers_the_core_training_parameters_with_the_common_schema():
    # validation_split and patience only where a recipe has a validation set to split/watch.
    core = {"epochs", "batch_size", "learning_rate", "optimizer", "seed"}
    for recipe in RECIPES.values():
        assert core <= set(recipe.hyperparameters), recipe.name
        for name in core:
            assert recipe.hyperparameters[name].type == COMMON[name].type, (recipe.name, name)


def test_a_param_rejects_a_default_that_fails_its_own_schema():
    with pytest.raises(ValueError, match="between 1 and 5"):
        Param("int", 9, min=1, max=5)


def test_a_param_schema_leaves_out_unset_keys():
    assert Param("bool", True, help="Shuffle.").schema() == {"type": "bool", "default": True,
                                                             "help": "Shuffle."}


def test_it_accepts_multi_worker_with_a_number_of_workers():
    spec = validate_spec({"recipe": "mlp", "strategy": "multi_worker:3"})

    assert spec.strategy == "multi_worker:3"
    assert (parse_strategy(spec.strategy), gang_size(spec.strategy)) == (("multi_worker", 3), 3)
    assert gang_size("mirrored:2") == gang_size("default") == 1


@pytest.mark.parametrize("strategy", ["multi_worker", "multi_worker:1", "multi_worker:0", "multi_worker:two",
                                      "multi_worker:2.5", "multi_worker:-2", "multi_worker:65"])
def test_it_rejects_multi_worker_without_a_whole_number_of_at_least_two_workers(strategy):
    message = errors_for({"recipe": "mlp", "strategy": strategy})["strategy"][0]

    assert message == (f"Invalid strategy {strategy!r}: multi_worker:<n> takes a whole number of "
                       "workers from 2 to 64.")
