"""The play form's "Race / sweep" section: pick one of the recipe's number or text
hyperparameters and type its values, comma-separated; the rest of the form is the shared spec.
Values are parsed by the hyperparameter's type here and validated by playground.jobs.sweeps
exactly as POST /api/v1/races/ validates `vary` and `values`."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from playground.jobs.sweeps import MAX_VALUES, MIN_VALUES, sweep_specs
from trainer.spec import JobSpec, SpecError

SWEEPABLE_TYPES = ("int", "float", "str")
# Offered first when the recipe has it.
PREFERRED = "learning_rate"
_EXPECTED = {"int": "a whole number", "float": "a number"}


@dataclass(frozen=True)
class SweepChoice:
    name: str
    help: str
    example: str
    selected: bool


def sweep_choices(recipe: dict, chosen: str | None = None) -> list[SweepChoice]:
    """The hyperparameters a sweep can vary, each with what it takes and an example list."""
    names = [name for name, schema in recipe["hyperparameters"].items() if schema["type"] in SWEEPABLE_TYPES]
    chosen = chosen if chosen in names else PREFERRED if PREFERRED in names else (names or [None])[0]
    return [SweepChoice(name, _takes(recipe["hyperparameters"][name]), _example(recipe["hyperparameters"][name]),
                        name == chosen) for name in names]


def _takes(schema: dict) -> str:
    if schema.get("choices"):
        return "One of: " + ", ".join(map(str, schema["choices"])) + "."
    kind = "Whole numbers" if schema["type"] == "int" else "Numbers" if schema["type"] == "float" else "Values"
    if schema.get("min") is not None and schema.get("max") is not None:
        return f"{kind} from {schema['min']} to {schema['max']}."
    return f"{kind}."


def _example(schema: dict) -> str:
    """Three values around the default, inside the schema's range (or its first choices)."""
    if schema.get("choices"):
        return ", ".join(map(str, schema["choices"][:3]))
    default = schema["default"]
    low, high = schema.get("min", -math.inf), schema.get("max", math.inf)
    if schema["type"] == "float" and default > 0:
        values = [default / 10, default, default * 10]
    elif schema["type"] == "int":
        values = [max(default // 2, 1), default, default * 2] if default > 0 else [default, default + 1, default + 2]
    else:
        return str(default)
    shown = [value for value in dict.fromkeys(values) if low <= value <= high]
    return ", ".join(f"{value:g}" if isinstance(value, float) else str(value) for value in shown)


def _parse(kind: str, raw: str) -> Any:
    if kind == "int":
        return int(raw)
    if kind == "float":
        return float(raw)
    return raw


def sweep_from_form(recipe: dict, spec: JobSpec, data) -> tuple[list[JobSpec] | None, dict[str, list[str]]]:
    """Returns (one spec per value, {}) or (None, field → messages) for the fields `vary` and
    `values`, or for the spec's own fields where the sweep's values meet their limits."""
    vary = data.get("vary", "")
    schema = recipe["hyperparameters"].get(vary)
    if schema is None or schema["type"] not in SWEEPABLE_TYPES:
        return None, {"vary": [f"Choose a hyperparameter of {recipe['title']} to vary."]}
    parts = [part.strip() for part in data.get("values", "").split(",") if part.strip()]
    if not MIN_VALUES <= len(parts) <= MAX_VALUES:
        return None, {"values": [f"Give {MIN_VALUES} to {MAX_VALUES} values of {vary}, separated by commas "
                                 f"(got {len(parts)})."]}
    values, errors = [], []
    for number, raw in enumerate(parts, 1):
        try:
            values.append(_parse(schema["type"], raw))
        except ValueError:
            errors.append(f"Value {number}: expected {_EXPECTED[schema['type']]}, got {raw!r}.")
    if errors:
        return None, {"values": errors}
    try:
        return sweep_specs(spec.to_dict(), vary, values), {}
    except SpecError as exc:
        return None, _form_errors(exc.errors, parts)


def _form_errors(errors: dict, parts: list[str]) -> dict[str, list[str]]:
    """The API's sweep errors as the form shows them: a refused value named by its place."""
    found: dict[str, list[str]] = {}
    for field, messages in errors.items():
        if field == "values" and isinstance(messages, dict):
            found["values"] = [f"Value {int(index) + 1} ({parts[int(index)]}): {message}"
                               for index, texts in messages.items() for message in texts]
        elif field == "hyperparameters" and isinstance(messages, dict):
            for name, texts in messages.items():
                found.setdefault(name, []).extend(texts)
        else:
            found.setdefault(field, []).extend(messages if isinstance(messages, list) else [str(messages)])
    return found
