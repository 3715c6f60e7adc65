"""What a recipe serves once a job has trained: its in-browser pages and its extra API actions,
declared as data on the `Recipe` (`pages=`, `actions=`) and routed by the web side
(playground/demos/urls.py → /try/<page>/<id>/, playground/urls.py → /api/v1/jobs/<id>/<action>/).

The hooks here never see Django: the web side hands them a `JobView` (the job's public facts,
its artifacts as `trainer.artifacts.Artifact` records, its workdir and its action URLs) and
turns their `ActionRefused` into an HTTP error.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainer import artifacts as artifact_records
from trainer.artifacts import Artifact


@dataclass(frozen=True)
class JobView:
    """A job as a serving hook sees it.

    Attributes:
        pk: the job's id.
        recipe, dataset: what it trained.
        status: "queued", "running", "succeeded", ...
        artifacts: what it exported, in export order.
        test_metrics: its test figures ({} before it succeeded).
        workdir: the folder its artifacts' paths are relative to.
        action_url: `action_url(name)` → the URL of POST /api/v1/jobs/<id>/<name>/.
        snapshot: a running job's latest TF.js snapshot (trainer.snapshot): `{"epoch",
            "epochs", "artifact": Artifact}`, its URL set; None when there is none.
        last_seq: the job's last event seq (a page follows its events from there).
    """

    pk: int
    recipe: str
    dataset: str
    status: str
    artifacts: list[Artifact]
    test_metrics: dict[str, Any]
    workdir: Path
    action_url: Callable[[str], str]
    snapshot: dict[str, Any] | None = None
    last_seq: int = 0

    def artifact(self, kind: str, variant: str | None = None, *, model: str | None = None) -> Artifact | None:
        """The first artifact of `kind` (and `variant`, `model`), or None."""
        found = artifact_records.find(self.artifacts, kind, variant, model=model)
        return found[0] if found else None

    def artifacts_of(self, kind: str, *, model: str | None = None) -> list[Artifact]:
        """Every artifact of `kind` (of `model` when given), in export order."""
        return artifact_records.find(self.artifacts, kind, model=model)


class ActionRefused(Exception):
    """A serving hook cannot answer: `status` (409 not servable, 413 too large) and a message."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


def _resolve(dotted: str) -> Any:
    module, _, name = dotted.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class Page:
    """An in-browser page for a succeeded job: /try/<name>/<id>/.

    Attributes:
        name: the URL segment.
        template: its Django template (extends demos/try_base.html).
        module: its ES module under static/, e.g. "js/try_digits.js".
        does: what the page does, for "this page <does>, so it needs ...".
        exported: what it loads, for "Job N is running; <exported> when it succeeds", e.g.
            "its generator is exported".
        missing: `"module:function"`, `missing(job: JobView) -> str`: why the exported files do
            not suffice ("" when they do).
        config: `"module:function"`, `config(job: JobView) -> dict`: the JSON the module reads
            from #try-config.
        datasets: the datasets it can show; None: any of the recipe's.
        live: it works while the job trains, from the worker's snapshot of the latest epoch.
        context: extra template context, as (variable, "module:NAME") pairs.
        landing: a path at the site's root (e.g. "classify/") that opens the page on the user's
            newest succeeded job of a declaring recipe, or, without one, says how to get one.
        landing_note: `"module:function"`, `landing_note(data_dir) -> str`: what the landing
            page adds when there is no job yet (e.g. which weights this server has).

    Hooks are dotted names, imported on first use: declaring a page imports nothing.
    """

    name: str
    template: str
    module: str
    does: str
    exported: str
    missing: str
    config: str
    datasets: tuple[str, ...] | None = None
    live: bool = False
    context: tuple[tuple[str, str], ...] = ()
    landing: str | None = None
    landing_note: str | None = None

    def note(self, data_dir) -> str:
        return _resolve(self.landing_note)(data_dir) if self.landing_note else ""

    def unavailable_reason(self, job: JobView, recipes: list[str]) -> str:
        """Why `job` cannot be tried here ("" when it can), in words a user can act on;
        `recipes` are those that declare this page."""
        if job.recipe not in recipes or (self.datasets is not None and job.dataset not in self.datasets):
            on = f" on {either(self.datasets)}" if self.datasets else ""
            return (f"Job #{job.pk} trained {job.recipe} on {job.dataset}; this page {self.does}, so it needs "
                    f"{article(recipes[0])} {either(recipes)} job{on}.")
        if job.status == "running" and self.live:
            if job.snapshot is None:
                return (f"Job #{job.pk} is training; this page works from its first snapshot, taken after an "
                        "epoch (every few seconds at most). Reload in a moment.")
            return ""
        if job.status != "succeeded":
            return f"Job #{job.pk} is {job.status}; {self.exported} when it succeeds."
        return _resolve(self.missing)(job)

    def page_config(self, job: JobView) -> dict[str, Any]:
        return _resolve(self.config)(job)

    def template_context(self) -> dict[str, Any]:
        return {name: _resolve(dotted) for name, dotted in self.context}


@dataclass(frozen=True)
class Action:
    """An extra API action on a succeeded job: POST /api/v1/jobs/<id>/<name>/ (URL name
    "job-<name>").

    Attributes:
        name: the URL segment.
        summary: one line for the API docs.
        needs: what it needs, for "Job N is running; <name> needs <needs>" (409s).
        handler: `"module:function"`, `handler(job: JobView, body: dict) -> dict`, given the
            validated body; raises `ActionRefused` (409/413) when the job cannot answer.
        request: `"module:Class"`, a rest_framework Serializer class validating the body
            (serving modules that define one run only in the web process).
        response: `"module:NAME"`, the response's OpenAPI component (an inline_serializer).
        request_context: optional `"module:function"`, `request_context(job) -> dict`: the
            request serializer's context (e.g. ranges that depend on the job's export).
    """

    name: str
    summary: str
    needs: str
    handler: str
    request: str
    response: str
    request_context: str | None = None

    def resolve(self, hook: str) -> Any:
        return _resolve(getattr(self, hook))


def either(names) -> str:
    """ "a", "a or b", "a, b or c": for messages that name recipes or datasets."""
    names = list(names)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def article(name: str) -> str:
    """ "a" or "an" before a recipe name read aloud."""
    # Read aloud: "an mlp" (em-el-pee), "a lenet", "a seq2seq", "an xor".
    vowel_sound = name[0] in "aeio" or (name[0] in "fhlmnrsx" and len(name) > 1 and name[1] not in "aeiou")
    return "an" if vowel_sound else "a"


# ---- the classifier page, shared by every image classifier ------------------------------------

IMAGE_DATASETS = ("digits", "mnist", "fashion_mnist")

DIGITS_PAGE = Page(
    name="digits", template="demos/try_digits.html", module="js/try_digits.js",
    does="draws images", exported="its TF.js models are exported",
    missing="trainer.serving:classifier_missing", config="trainer.serving:classifier_config",
    datasets=IMAGE_DATASETS, live=True,
)


def classifier_missing(job: JobView) -> str:
    if not job.artifacts_of("tfjs"):
        return f"Job #{job.pk} has no TF.js models to load; train it again to export them."
    return ""


def classifier_config(job: JobView) -> dict[str, Any]:
    from trainer.datasets import DATASETS

    if job.status == "running" and job.snapshot:
        # Still training: the latest epoch's snapshot; the page follows the job's events and
        # loads each newer one.
        snapshot = job.snapshot["artifact"]
        variants = {"float32": {"url": snapshot.url, "bytes": snapshot.bytes, "accuracy": None}}
        training = {"epoch": job.snapshot["epoch"], "epochs": job.snapshot["epochs"], "lastSeq": job.last_seq}
    else:
        variants = {a.variant: {"url": a.url, "bytes": a.bytes, "accuracy": a.metric("accuracy")}
                    for a in job.artifacts_of("tfjs")}
        training = None
    return {
        "job": job.pk,
        "dataset": job.dataset,
        "classNames": list(DATASETS[job.dataset].class_names),
        "datasets": list(IMAGE_DATASETS),
        "variants": variants,
        "training": training,
        "predictUrl": job.action_url("predict"),
    }
