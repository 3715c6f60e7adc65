"""Job specs: the validated description of one training run, shared by API, forms and CLI."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from trainer import user_data
from trainer.recipes import RECIPES

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16", "auto")
STRATEGIES = ("default", "mirrored")
# "mirrored:<n>" asks for n devices (GPUs, or logical CPUs on a worker without GPUs);
# "multi_worker:<n>" for n Celery workers training as one TensorFlow cluster.
MAX_REPLICAS = 64
MAX_WORKERS = 64
# GPUs one job may ask for: it runs on a worker with at least that many (playground/ops).
MAX_GPUS = 8


@dataclass(frozen=True)
class JobSpec:
    """What to train: a recipe, its dataset and complete hyperparameters.

    Attributes:
        recipe: a key of `trainer.recipes.RECIPES`.
        dataset: one of the recipe's datasets, or "user:<id>" (an upload, `trainer.user_data`).
        hyperparameters: every hyperparameter of the recipe, validated, defaults filled in.
        precision: "float32", "mixed_float16", "mixed_bfloat16" or "auto".
        strategy: "default" (one device), "mirrored" (all the worker's GPUs, or its logical
            CPU devices when it has none), "mirrored:<n>" (the first n of them) or
            "multi_worker:<n>" (n workers in one TensorFlow cluster, each with its GPUs or CPU).
        gpus: GPUs the job needs on its worker, 0 to MAX_GPUS; the web side routes it to a
            worker that has them, and "mirrored" then replicates over that many.
    """

    recipe: str
    dataset: str
    hyperparameters: dict[str, Any]
    precision: str = "float32"
    strategy: str = "default"
    gpus: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Returns a JSON-safe dict that `validate_spec` turns back into an equal spec."""
        return {
            "recipe": self.recipe,
            "dataset": self.dataset,
            "hyperparameters": copy.deepcopy(self.hyperparameters),
            "precision": self.precision,
            "strategy": self.strategy,
            "gpus": self.gpus,
        }


class SpecError(ValueError):
    """A job spec with problems; `errors` maps each field to its messages.

    Hyperparameter problems nest one level: `{"hyperparameters": {name: [message, ...]}}`.
    """

    def __init__(self, errors: dict[str, Any]) -> None:
        self.errors = errors
        super().__init__(f"Invalid job spec: {errors}")


def validate_spec(data: Mapping[str, Any]) -> JobSpec:
    """Returns a complete `JobSpec` for submitted data (e.g. a POST /api/v1/jobs/ body).

    Args:
        data: `recipe` (required), `dataset`, `hyperparameters`, `precision`, `strategy`,
            `gpus`. Other keys are ignored, as DRF serializers ignore unknown fields.

    Raises:
        SpecError: listing every problem found, not just the first.
    """
    if not isinstance(data, Mapping):
        raise SpecError({"non_field_errors": [
            f"Expected an object with recipe, dataset and hyperparameters, got {data!r}."
        ]})
    errors: dict[str, Any] = {}

    recipe = None
    recipe_name = data.get("recipe")
    if recipe_name is None:
        errors["recipe"] = ["This field is required."]
    elif not isinstance(recipe_name, str) or recipe_name not in RECIPES:
        errors["recipe"] = [f"Unknown recipe {recipe_name!r}. Choose one of: {', '.join(RECIPES)}."]
    else:
        recipe = RECIPES[recipe_name]

    dataset = data.get("dataset")
    if recipe is not None:
        if dataset is None:
            dataset = recipe.default_dataset
        elif isinstance(dataset, str) and dataset.startswith(user_data.PREFIX):
            # Which uploads exist, whose they are and of which kind is the web side's to say.
            if not recipe.user_data:
                errors["dataset"] = [f"Recipe {recipe.name} does not train on uploaded datasets. "
                                     f"Choose one of: {', '.join(recipe.datasets)}."]
            elif user_data.dataset_id(dataset) is None:
                errors["dataset"] = [f"Invalid dataset {dataset!r}: an uploaded dataset is named "
                                     "user:<id>, its id from GET /api/v1/datasets/."]
        elif dataset not in recipe.datasets:
            errors["dataset"] = [
                f"Unknown dataset {dataset!r} for recipe {recipe.name}. "
                f"Choose one of: {', '.join(recipe.datasets)}."
            ]

    hyperparameters = data.get("hyperparameters")
    if hyperparameters is None:
        hyperparameters = {}
    if not isinstance(hyperparameters, Mapping):
        errors["hyperparameters"] = [
            f"Expected an object mapping hyperparameter names to values, got {hyperparameters!r}."
        ]
    elif recipe is not None:
        hyperparameters, hp_errors = _validate_hyperparameters(recipe.hyperparameters,
                                                               hyperparameters)
        if hp_errors:
            errors["hyperparameters"] = hp_errors

    for field, choices, default in (("precision", PRECISIONS, "float32"),
                                    ("strategy", STRATEGIES, "default")):
        value = data.get(field, default)
        if field == "strategy" and isinstance(value, str) and value.startswith("mirrored:"):
            if parse_strategy(value)[1] is None:
                errors[field] = [f"Invalid strategy {value!r}: mirrored:<n> takes a whole "
                                 f"number of devices from 1 to {MAX_REPLICAS}."]
        elif field == "strategy" and isinstance(value, str) and value.startswith("multi_worker"):
            if parse_strategy(value)[1] is None:
                errors[field] = [f"Invalid strategy {value!r}: multi_worker:<n> takes a whole "
                                 f"number of workers from 2 to {MAX_WORKERS}."]
        elif value not in choices:
            errors[field] = [f"Unknown {field} {value!r}. Choose one of: {', '.join(choices)}"
                             + (", mirrored:<n> (n devices), multi_worker:<n> (n workers)."
                                if field == "strategy" else ".")]

    gpus = data.get("gpus", 0)
    if isinstance(gpus, bool) or not isinstance(gpus, int) or not 0 <= gpus <= MAX_GPUS:
        errors["gpus"] = [f"Expected a whole number of GPUs from 0 to {MAX_GPUS}, got {gpus!r}."]
    elif gpus and "strategy" not in errors:
        name, count = parse_strategy(data.get("strategy", "default"))
        if name == "mirrored" and count is not None and count > gpus:
            errors["strategy"] = [f"mirrored:{count} needs {count} devices but the job asks for "
                                  f"{gpus} GPU(s); ask for gpus: {count} or mirrored:{gpus}."]

    if errors:
        raise SpecError(errors)
    return JobSpec(
        recipe=recipe.name,
        dataset=dataset,
        hyperparameters=hyperparameters,
        precision=data.get("precision", "float32"),
        strategy=data.get("strategy", "default"),
        gpus=gpus,
    )


def parse_strategy(strategy: str) -> tuple[str, int | None]:
    """Returns `(name, count)`: "mirrored:2" → ("mirrored", 2); "mirrored" → ("mirrored", None);
    "multi_worker:3" → ("multi_worker", 3), the count being workers rather than devices.

    `count` None means every device of the worker; a malformed count also gives None
    (`validate_spec` reports it), and so does a multi_worker strategy without n >= 2.
    """
    name, _, count = strategy.partition(":")
    low, high = (2, MAX_WORKERS) if name == "multi_worker" else (1, MAX_REPLICAS)
    if not count:
        return name, None
    number = int(count) if count.isdigit() else 0
    return name, number if low <= number <= high else None


def gang_size(strategy: str) -> int:
    """Returns how many workers train a job together: n for "multi_worker:<n>", else 1."""
    name, count = parse_strategy(strategy)
    return (count or 1) if name == "multi_worker" else 1


def _validate_hyperparameters(schema, submitted: Mapping[str, Any]):
    values = {name: copy.deepcopy(param.default) for name, param in schema.items()}
    errors: dict[str, list[str]] = {}
    for name, value in submitted.items():
        if name not in schema:
            errors[str(name)] = [
                f"Unknown hyperparameter {name!r}. Allowed: {', '.join(sorted(schema))}."
            ]
            continue
        try:
            values[name] = schema[name].validate(value)
        except ValueError as error:
            errors[name] = [str(error)]
    return values, errors
