"""Forks: a job that starts from another job's checkpoint (validation of the `parent` field
of POST /api/v1/jobs/ and the recipe form)."""
from __future__ import annotations

from typing import Any

from playground.jobs import files, services
from trainer.checkpoint import CHECKPOINT_CHOICES, checkpoint_path, epochs_named
from trainer.finetune import FREEZE_MODES, architecture_differences, dataset_family
from trainer.recipes import get_recipe
from trainer.spec import JobSpec


class ForkError(ValueError):
    """The `parent` field is not usable; the message says why."""


def parent_fields(user, parent: Any, spec: JobSpec) -> dict:
    """Returns the Job fields (parent, parent_epoch, freeze) of a validated `parent` object
    `{"job": id, "epoch": k | "best" | "latest", "freeze": "none" | "all_but_last"}`.

    Raises:
        ForkError: not an object, a job the user cannot see ("no such job", never more),
            another recipe or architecture, or no checkpoint for that epoch.
    """
    if not isinstance(parent, dict):
        raise ForkError('Expected {"job": <id>, "epoch": <k> | "best" | "latest", "freeze": "none" | "all_but_last"}.')
    unknown = sorted(set(parent) - {"job", "epoch", "freeze"})
    if unknown:
        raise ForkError(f"Unknown key(s) {', '.join(unknown)}; allowed: job, epoch, freeze.")
    job_id = parent.get("job")
    job = None
    if isinstance(job_id, int) and not isinstance(job_id, bool):
        job = services.visible_jobs(user).filter(pk=job_id).first()
    if job is None:
        raise ForkError(f"No such job: {job_id!r}.")
    epoch = parent.get("epoch", "best")
    if not (epoch in CHECKPOINT_CHOICES or (isinstance(epoch, int) and not isinstance(epoch, bool) and epoch >= 1)):
        raise ForkError(f"epoch must be a whole number ≥ 1, \"best\" or \"latest\"; got {epoch!r}.")
    freeze = parent.get("freeze", "none")
    if freeze not in FREEZE_MODES:
        raise ForkError(f"Unknown freeze {freeze!r}. Choose one of: {', '.join(FREEZE_MODES)}.")
    if job.recipe != spec.recipe:
        raise ForkError(f"Job {job.pk} trained {job.recipe}; a fork must use the same recipe, not {spec.recipe}.")
    if dataset_family(job.dataset) != dataset_family(spec.dataset):
        raise ForkError(f"Job {job.pk} trained on {job.dataset}, whose inputs and classes do not fit {spec.dataset}.")
    differences = architecture_differences(get_recipe(spec.recipe), job.hyperparameters, spec.hyperparameters)
    if differences:
        raise ForkError(f"A fork keeps the parent's architecture; these differ from job {job.pk}: "
                        f"{', '.join(differences)}.")
    if not files.exists(job.pk, checkpoint_path("", epoch).as_posix()):
        # Jobs keep only some epochs' checkpoints (settings.PLAYGROUND_CHECKPOINT_KEEP_*).
        have = epochs_named(files.names(job.pk, "checkpoints"))
        raise ForkError(f"Job {job.pk} has no checkpoint for epoch {epoch!r}"
                        + (f"; choose one of epochs {', '.join(map(str, have))}, \"best\" or \"latest\"."
                           if have else "; it has not finished an epoch yet."))
    return {"parent": job, "parent_epoch": str(epoch), "freeze": freeze}


def form_parent_fields(user, data, spec: JobSpec | None) -> tuple[dict, list[str]]:
    """The recipe form's fork fields (`parent`, `parent_epoch`, `freeze`): returns
    (Job fields, error messages); ({}, []) when the form is not a fork."""
    raw = (data.get("parent") or "").strip()
    if not raw or spec is None:
        return {}, []
    epoch = (data.get("parent_epoch") or "best").strip()
    parent = {"job": int(raw) if raw.isdigit() else raw,
              "epoch": int(epoch) if epoch.isdigit() else epoch,
              "freeze": data.get("freeze") or "none"}
    try:
        return parent_fields(user, parent, spec), []
    except ForkError as exc:
        return {}, [str(exc)]
