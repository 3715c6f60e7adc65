"""Hyperparameter schemas: one `Param` per knob, validated without TensorFlow."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

PARAM_TYPES = ("int", "float", "str", "bool", "int_list", "str_list")


@dataclass(frozen=True)
class Param:
    """Schema of one hyperparameter.

    Attributes:
        type: one of "int", "float", "str", "bool", "int_list", "str_list" (distinct items of
            `choices`, in the order given).
        default: value used when the job does not set it.
        min: smallest allowed value (for "int_list": of each item).
        max: largest allowed value (for "int_list": of each item).
        choices: allowed values, for "str" parameters (items, for "str_list").
        help: one line for forms and API docs.
        min_items: shortest allowed list, for "int_list" and "str_list".
        max_items: longest allowed list, for "int_list" and "str_list".
        jobs: a "str" parameter that also takes "job:<id>", another job of the same owner
            (the web side checks the owner and status; the worker gets that job's exported
            model as `train(base_models={name: path})`).
    """

    type: str
    default: Any
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] | None = None
    help: str = ""
    min_items: int | None = None
    max_items: int | None = None
    jobs: bool = False

    def __post_init__(self) -> None:
        if self.type not in PARAM_TYPES:
            raise ValueError(f"Unknown parameter type {self.type!r}.")
        # A default that fails its own schema would only surface when someone submits a job.
        self.validate(self.default)

    def schema(self) -> dict[str, Any]:
        """Returns the JSON description used by the recipe catalog (None keys left out)."""
        schema = {
            "type": self.type,
            "default": list(self.default) if self.type.endswith("_list") else self.default,
            "min": self.min,
            "max": self.max,
            "choices": list(self.choices) if self.choices else None,
            "min_items": self.min_items,
            "max_items": self.max_items,
            "jobs": self.jobs or None,
            "help": self.help,
        }
        return {key: value for key, value in schema.items() if value is not None}

    def with_default(self, default: Any) -> Param:
        """Returns a copy with another default (recipes tune the common parameters)."""
        return dataclasses.replace(self, default=default)

    def validate(self, value: Any) -> Any:
        """Returns the value in its canonical type.

        Raises:
            ValueError: with a message meant for the user, e.g. "Must be between 1 and 500.".
        """
        if self.type.endswith("_list"):
            kind = "integers" if self.type == "int_list" else "strings"
            if not isinstance(value, (list, tuple)):
                raise ValueError(f"Expected a list of {kind}, got {value!r}.")
            if self.min_items is not None and len(value) < self.min_items:
                raise ValueError(f"Must have at least {self.min_items} item(s).")
            if self.max_items is not None and len(value) > self.max_items:
                raise ValueError(f"Must have at most {self.max_items} item(s).")
            if self.type == "int_list":
                return [self._check_range(_as_int(item)) for item in value]
            strange = [item for item in value if not isinstance(item, str) or item not in (self.choices or ())]
            if strange:
                raise ValueError(f"Items must be some of: {', '.join(self.choices or ())}; not {strange[0]!r}.")
            if len(set(value)) != len(value):
                raise ValueError("Each item may appear once.")
            return list(value)
        if self.type == "int":
            return self._check_range(_as_int(value))
        if self.type == "float":
            return self._check_range(_as_float(value))
        if self.type == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"Expected true or false, got {value!r}.")
            return value
        if not isinstance(value, str):
            raise ValueError(f"Expected a string, got {value!r}.")
        if self.jobs and job_reference(value) is not None:
            return value
        if self.choices is not None and value not in self.choices:
            also = ", or job:<id> (one of your succeeded jobs)" if self.jobs else ""
            raise ValueError(f"Must be one of: {', '.join(self.choices)}{also}.")
        return value

    def _check_range(self, value: int | float) -> int | float:
        too_low = self.min is not None and value < self.min
        too_high = self.max is not None and value > self.max
        if too_low or too_high:
            if self.min is not None and self.max is not None:
                raise ValueError(f"Must be between {self.min} and {self.max}.")
            if too_low:
                raise ValueError(f"Must be at least {self.min}.")
            raise ValueError(f"Must be at most {self.max}.")
        return value


JOB_PREFIX = "job:"


def job_reference(value: Any) -> int | None:
    """The id of a "job:<id>" value (a positive integer without leading zeros), else None."""
    if not isinstance(value, str) or not value.startswith(JOB_PREFIX):
        return None
    number = value[len(JOB_PREFIX):]
    return int(number) if number.isdigit() and not number.startswith("0") else None


def _as_int(value: Any) -> int:
    # bool is an int subclass, but `true` for a layer size is a client bug worth reporting.
    # Strings are not coerced: the API takes JSON, and "10" for an integer is a client bug too.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"Expected an integer, got {value!r}.")
    return value


def _as_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"Expected a number, got {value!r}.")
    if not math.isfinite(value):
        raise ValueError(f"Expected a finite number, got {value!r}.")
    return float(value)


OPTIMIZERS = ("sgd", "momentum", "adagrad", "rmsprop", "adam")

COMMON: dict[str, Param] = {
    "epochs": Param("int", 10, min=1, max=500, help="Passes over the training set."),
    "batch_size": Param("int", 32, min=1, max=4096, help="Samples per gradient step."),
    "learning_rate": Param("float", 0.001, min=1e-06, max=10.0, help="Optimizer step size."),
    "optimizer": Param(
        "str", "adam", choices=OPTIMIZERS, help="Update rule (momentum = SGD with momentum 0.9)."
    ),
    "validation_split": Param(
        "float", 0.1, min=0.05, max=0.5,
        help="Fraction of the training set held out to validate each epoch.",
    ),
    "patience": Param(
        "int", 0, min=0, max=100,
        help="Stop after this many epochs without a better val_loss and keep the best (0 = off).",
    ),
    "seed": Param("int", 42, min=0, max=2**31 - 1, help="Random seed for weights and splits."),
}
