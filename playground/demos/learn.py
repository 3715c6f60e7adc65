"""The /learn/ pages: an activation-function explorer, "how training works" with presets
(their data: trainer/lessons.py), and the 2-D decision-boundary playground."""

from __future__ import annotations

from django.http import JsonResponse
from django.shortcuts import render

from trainer import toy2d
from trainer.lessons import ACTIVATION_RECIPE, ACTIVATIONS, PLAYGROUND_RECIPE, PRESETS
from trainer.recipes import get_recipe

__all__ = ["ACTIVATIONS", "PRESETS", "activations", "playground", "playground_points", "training"]

POINT_OPTIONS = ("points", "noise", "test_ratio", "seed")


def activations(request):
    return render(request, "demos/learn_activations.html", {
        "activations": ACTIVATIONS,
        "recipe": get_recipe(ACTIVATION_RECIPE),
        "activation_titles": {a.name: a.title for a in ACTIVATIONS},
    })


def training(request):
    return render(request, "demos/learn_training.html", {
        "presets": PRESETS,
        "preset_bodies": {key: preset.body for key, preset in PRESETS.items()},
    })


def playground(request):
    """TensorFlow Playground's page: the whole setup is in the query; the page trains the recipe
    in this tab or on a worker and draws what the sample events say (static/js/learn_playground.js)."""
    recipe = get_recipe(PLAYGROUND_RECIPE)
    entry = recipe.catalog_entry()
    config = {
        "recipe": recipe.name, "datasets": list(recipe.datasets), "default_dataset": recipe.default_dataset,
        "hyperparameters": entry["hyperparameters"], "features": list(toy2d.FEATURES),
        "extent": toy2d.EXTENT, "grid": toy2d.GRID, "class_names": list(toy2d.CLASS_NAMES),
        "logged_in": request.user.is_authenticated,
    }
    return render(request, "demos/learn_playground.html", {"config": config, "recipe": recipe})


def playground_points(request):
    """GET ?dataset=&points=&noise=&test_ratio=&seed= → the generated points, split as a job on
    that setup splits them: {"train": [[x1, x2, label], ...], "test": [...]}; 400 names a bad field."""
    recipe = get_recipe(PLAYGROUND_RECIPE)
    options, errors = {}, {}
    dataset = request.GET.get("dataset", recipe.default_dataset)
    if dataset not in recipe.datasets:
        errors["dataset"] = [f"Must be one of: {', '.join(recipe.datasets)}."]
    for name in POINT_OPTIONS:
        param, raw = recipe.hyperparameters[name], request.GET.get(name)
        try:
            options[name] = param.validate(param.default if raw is None else _number(raw, param.type))
        except ValueError as exc:
            errors[name] = [str(exc)]
    if errors:
        return JsonResponse(errors, status=400)
    parts = toy2d.split(dataset, **options)

    def rows(x, y):
        return [[round(float(a), 3), round(float(b), 3), int(label)] for (a, b), label in zip(x, y)]

    return JsonResponse({"train": rows(parts["x_train"], parts["y_train"]),
                         "test": rows(parts["x_test"], parts["y_test"])})


def _number(raw: str, kind: str) -> int | float:
    try:
        number = float(raw)
    except ValueError:
        raise ValueError(f"Expected a number, got {raw!r}.") from None
    if kind == "int":
        if not number.is_integer():
            raise ValueError(f"Must be a whole number, got {raw!r}.")
        return int(number)
    return number
