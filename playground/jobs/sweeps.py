"""Sweeps: one job spec trained once per value of one hyperparameter (POST /api/v1/races/ with
`vary` and `values`, or the play form's "Race / sweep" section). Every value is validated by the
recipe's own schema, exactly as a single job's would be."""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from trainer.recipes import RECIPES
from trainer.spec import JobSpec, SpecError, validate_spec

MIN_VALUES, MAX_VALUES = 2, 8


def sweep_specs(spec_data: Mapping[str, Any], vary: Any, values: Any) -> list[JobSpec]:
    """Returns one spec per value of `vary`, in the order given.

    Raises SpecError: at `vary` (not a hyperparameter of the recipe), at `values` (not a list
    of 2 to 8 distinct values: a list of messages; a value the schema refuses: {index: messages},
    the index as a string, as DRF reports a list's items), or at the spec's own fields.
    """
    recipe = RECIPES.get(spec_data.get("recipe"))
    if recipe is None:
        validate_spec(spec_data)  # names the unknown or missing recipe
    if not isinstance(vary, str) or vary not in recipe.hyperparameters:
        raise SpecError({"vary": [f"{recipe.name} has no hyperparameter {vary!r}. "
                                  f"Vary one of: {', '.join(recipe.hyperparameters)}."]})
    if not isinstance(values, list) or not MIN_VALUES <= len(values) <= MAX_VALUES:
        raise SpecError({"values": [f"Give {MIN_VALUES} to {MAX_VALUES} values of {vary} in a list."]})
    hyperparameters = spec_data.get("hyperparameters") or {}
    if not isinstance(hyperparameters, Mapping):
        validate_spec(spec_data)  # names the malformed hyperparameters
    specs, at_values, other = [], {}, {}
    for index, value in enumerate(values):
        try:
            specs.append(validate_spec({**spec_data, "hyperparameters": {**hyperparameters, vary: value}}))
        except SpecError as exc:
            errors = dict(exc.errors)
            at_hyperparameters = dict(errors.pop("hyperparameters", {}))
            if vary in at_hyperparameters:
                at_values[str(index)] = at_hyperparameters.pop(vary)
            if at_hyperparameters:
                errors["hyperparameters"] = at_hyperparameters
            other.update(errors)  # the same for every value: the rest of the spec
    if at_values or other:
        raise SpecError({**other, **({"values": at_values} if at_values else {})})
    seen: dict[str, int] = {}
    for index, spec in enumerate(specs):
        key = json.dumps(spec.hyperparameters[vary])
        if key in seen:
            raise SpecError({"values": [f"Give {MIN_VALUES} to {MAX_VALUES} distinct values: "
                                        f"value {index + 1} ({value_label(spec.hyperparameters[vary])}) "
                                        f"repeats value {seen[key] + 1}."]})
        seen[key] = index
    return specs


def value_label(value: Any) -> str:
    """A hyperparameter value as a person writes it: 0.01, adam, [64, 32], true."""
    return value if isinstance(value, str) else json.dumps(value)


def sweep_label(vary: str, value: Any) -> str:
    """One job of a sweep, e.g. "learning_rate = 0.01"."""
    return f"{vary} = {value_label(value)}"
