"""The recipe form: fields generated from a recipe's hyperparameter schema. Browsers send
strings; they are parsed by the schema's types here, then validated by trainer.spec exactly as
the API validates JSON, so form and API accept and reject the same things."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trainer.spec import MAX_GPUS, PRECISIONS, STRATEGIES, SpecError, validate_spec

TOP_FIELDS = ("dataset", "precision", "strategy", "gpus")


@dataclass
class Field:
    name: str
    schema: dict
    value: Any
    errors: list[str]

    @property
    def options(self) -> list[tuple[str, str, bool]]:
        """(value, label, selected) for a choice field; labels from schema["labels"] if any."""
        labels = self.schema.get("labels", {})
        return [(str(choice), labels.get(choice, str(choice)), str(choice) == self.input_value)
                for choice in self.schema["choices"]]

    @property
    def label(self) -> str:
        """The name as people write it: "batch_size" → "Batch size"."""
        return self.name.replace("_", " ").capitalize()

    @property
    def input_value(self) -> str:
        if self.schema["type"].endswith("_list") and isinstance(self.value, list):
            return ", ".join(str(v) for v in self.value)
        return "" if self.value is None else str(self.value)


def _parse(kind: str, raw: str) -> Any:
    raw = raw.strip()
    if kind == "int":
        return int(raw)
    if kind == "float":
        return float(raw)
    if kind == "bool":
        return raw.lower() in ("1", "true", "on", "yes")
    if kind == "int_list":
        return [int(part) for part in raw.replace(" ", "").split(",") if part]
    if kind == "str_list":
        return [part for part in raw.replace(" ", "").split(",") if part]
    return raw


_EXPECTED = {"int": "a whole number", "float": "a number", "int_list": "whole numbers separated by commas"}


def _unparsed(kind: str, raw: str) -> str:
    """What a form field that does not parse as `kind` is told ("Enter a whole number." for an
    empty one, not "got ''")."""
    expected = _EXPECTED.get(kind, "a value")
    if not raw.strip():
        return f"Enter {expected}."
    return f"Must be {expected}, not {raw.strip()!r}."


def parse_submission(recipe: dict, data) -> tuple[dict, dict]:
    """Returns (spec data, errors) from a query dict; values not given keep their defaults."""
    hyperparameters, errors = {}, {}
    for name, schema in recipe["hyperparameters"].items():
        if name not in data:
            continue
        raw = data.get(name, "")
        try:
            hyperparameters[name] = _parse(schema["type"], raw)
        except ValueError:
            errors[name] = [_unparsed(schema["type"], raw)]
    spec = {"recipe": recipe["name"], "hyperparameters": hyperparameters}
    spec.update({name: data[name] for name in TOP_FIELDS if data.get(name)})
    if "gpus" in spec:
        try:
            spec["gpus"] = _parse("int", spec["gpus"])
        except ValueError:
            errors["gpus"] = [_unparsed("int", spec.pop("gpus"))]
    return spec, errors


def validate_submission(recipe: dict, data) -> tuple[Any, dict]:
    """Returns (JobSpec or None, field → messages)."""
    spec_data, errors = parse_submission(recipe, data)
    try:
        spec = validate_spec(spec_data)
    except SpecError as exc:
        for field, messages in exc.errors.items():
            if field == "hyperparameters" and isinstance(messages, dict):
                for name, hp_messages in messages.items():
                    errors.setdefault(name, []).extend(hp_messages)
            else:
                errors.setdefault(field, []).extend(messages if isinstance(messages, list) else [str(messages)])
        spec = None
    return (None if errors else spec), errors


def form_fields(recipe: dict, data, errors: dict, uploads: dict[str, str] | None = None,
                jobs: dict[str, str] | None = None) -> tuple[list[Field], dict]:
    """Hyperparameter fields and the top-level choices, prefilled from `data` (query or POST);
    `uploads` adds the user's own datasets the recipe takes ("user:<id>" → label), `jobs` the
    user's jobs to the choices of a parameter that takes one ("job:<id>" → label)."""
    def with_jobs(schema: dict) -> dict:
        if not schema.get("jobs"):
            return schema
        return {**schema, "choices": [*schema["choices"], *(jobs or {})], "labels": dict(jobs or {})}

    hp_fields = [
        Field(name, with_jobs(schema), data.get(name, schema["default"]), errors.get(name, []))
        for name, schema in recipe["hyperparameters"].items()
    ]
    top = {
        "dataset": Field("dataset", dataset_schema(recipe["datasets"], uploads or {}),
                         data.get("dataset", recipe["default_dataset"]), errors.get("dataset", [])),
        "precision": Field("precision", {"type": "str", "choices": list(PRECISIONS)},
                           data.get("precision", "float32"), errors.get("precision", [])),
        "strategy": Field("strategy", {"type": "str", "choices": list(STRATEGIES)},
                          data.get("strategy", "default"), errors.get("strategy", [])),
        "gpus": Field("gpus", {"type": "int", "min": 0, "max": MAX_GPUS, "default": 0,
                               "help": "GPUs on the worker; the job waits for a worker that has them"},
                      data.get("gpus", 0), errors.get("gpus", [])),
    }
    return hp_fields, top


def job_choices(user) -> dict[str, str]:
    """The user's newest succeeded jobs that exported a Keras model, as "job:<id>" → label."""
    from playground.jobs.models import Job

    if not user.is_authenticated:
        return {}
    found = {}
    for job in Job.objects.filter(owner=user, status=Job.Status.SUCCEEDED).order_by("-created_at")[:50]:
        if job.artifact("keras") is not None and len(found) < 20:
            accuracy = (job.test_metrics or {}).get("accuracy")
            found[f"job:{job.pk}"] = (f"job {job.pk}: {job.recipe} on {job.dataset}"
                                      + (f" (accuracy {accuracy:.3f})" if isinstance(accuracy, float) else ""))
    return found


def dataset_schema(names: list[str], uploads: dict[str, str] | None = None) -> dict:
    """The dataset field, each choice saying whether it must be downloaded and whether this
    server already has it: a job on a dataset it cannot download fails in seconds, and the
    form should say so before anyone presses Train. `uploads` ("user:<id>" → label) follow."""
    from django.conf import settings

    from trainer import datasets

    labels = {}
    for name in names:
        if datasets.needs_download(name):
            cached = datasets.is_cached(name, settings.PLAYGROUND_DATA_DIR)
            labels[name] = f"{name} (download: {'cached here' if cached else 'not cached yet'})"
    help = ("Datasets marked 'not cached yet' are downloaded by the worker on first use; without "
            "internet access such a job fails at once, saying where to put the files.") if labels else ""
    labels.update(uploads or {})
    return {"type": "str", "choices": [*names, *(uploads or {})], "labels": labels, "help": help}
