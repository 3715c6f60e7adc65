"""The /learn/ pages: an activation-function explorer and "how training works" with presets
(their data: trainer/lessons.py)."""

from __future__ import annotations

from django.shortcuts import render

from trainer.lessons import ACTIVATION_RECIPE, ACTIVATIONS, PRESETS
from trainer.recipes import get_recipe

__all__ = ["ACTIVATIONS", "PRESETS", "activations", "training"]


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
