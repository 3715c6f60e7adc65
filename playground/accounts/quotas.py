"""Per-user limits on submissions: how many jobs may be queued or running at once, how much
training one job may ask for (epochs × training samples), how big its model may be (parameters,
activation memory, disk, TF.js download) and how much disk all of a user's jobs may keep. Staff
are exempt. Shared by the API, retry, races and the play form so all refuse with the same words."""
from __future__ import annotations

import json
from collections.abc import Sequence

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, Q, Sum

from playground.jobs.models import Job
from playground.jobs.services import checkpoint_retention, workdir_bytes
from trainer import sizing
from trainer.sizing import format_bytes, format_over
from trainer.spec import JobSpec, SpecError, validate_spec

class QuotaExceeded(Exception):
    """Too many jobs queued or running; the message says how many and what to do."""

    status = 429


class DiskQuotaExceeded(QuotaExceeded):
    """The user's jobs would keep more on disk than their quota; the message gives the figures.

    A 400, not a 429: waiting does not help, only smaller or fewer jobs do."""

    status = 400


def train_samples(spec: JobSpec) -> int | None:
    """Training samples per epoch of the spec's dataset (registered on it, or an upload's
    meta); None: unknown."""
    from playground.datasets.services import train_samples_of
    from trainer.datasets import DATASETS

    info = DATASETS.get(spec.dataset)
    return info.samples_per_epoch(spec.hyperparameters) if info else train_samples_of(spec)


def sample_epochs_error(user, spec: JobSpec) -> str | None:
    """Why `spec` asks for more training than one job may have, or None when it fits."""
    cap = settings.PLAYGROUND_QUOTA_SAMPLE_EPOCHS
    samples = train_samples(spec)
    epochs = spec.hyperparameters.get("epochs")
    if user.is_staff or not cap or samples is None or epochs is None or epochs * samples <= cap:
        return None
    return (f"{epochs} epochs × {samples:,} {spec.dataset} training samples = {epochs * samples:,}, above the "
            f"limit of {cap:,} per job. Use at most {max(cap // samples, 1)} epochs on {spec.dataset}.")


def reserve(user, specs: Sequence[JobSpec]) -> None:
    """`reserve_job_slots` and `reserve_disk` for `specs`, with one lock of the user's row and
    one read of their active jobs: the submission path (three queries instead of seven)."""
    if user.is_staff or not (settings.PLAYGROUND_QUOTA_CONCURRENT_JOBS or settings.PLAYGROUND_USER_DISK_QUOTA_BYTES):
        return
    _lock_user(user)
    active = _active_specs(user)
    _check_job_slots(sum(active.values()), len(specs))
    _check_disk(user, specs, active)


def reserve_job_slots(user, count: int = 1) -> None:
    """Raises QuotaExceeded unless `user` may queue `count` more jobs. Call it inside the
    transaction that creates them: it locks the user's row, so two simultaneous submissions
    cannot both take the last slot."""
    if user.is_staff or not settings.PLAYGROUND_QUOTA_CONCURRENT_JOBS:
        return
    _lock_user(user)
    active = Job.objects.filter(owner=user, status__in=[Job.Status.QUEUED, Job.Status.RUNNING]).count()
    _check_job_slots(active, count)


def _lock_user(user) -> None:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("quota reservations must run inside transaction.atomic()")
    get_user_model().objects.select_for_update().filter(pk=user.pk).first()


def _check_job_slots(active: int, count: int) -> None:
    limit = settings.PLAYGROUND_QUOTA_CONCURRENT_JOBS
    if limit and active + count > limit:
        adding = "" if count == 1 else f" and this adds {count}"
        raise QuotaExceeded(
            f"You have {active} job{'s' if active != 1 else ''} queued or running{adding}; the limit is {limit}. "
            "Wait for one to finish or cancel one."
        )


def model_size_errors(user, spec: JobSpec) -> list[str]:
    """Why `spec`'s model is too big for one job, one message per limit it passes (parameters,
    activation memory per batch, TF.js weights, disk); empty when it fits or `user` is staff."""
    size = None if user.is_staff else estimate(spec)
    if size is None:
        return []
    errors = []
    if settings.PLAYGROUND_MAX_PARAMS and size.params > settings.PLAYGROUND_MAX_PARAMS:
        errors.append(f"The model has {size.params:,} parameters; the limit is {settings.PLAYGROUND_MAX_PARAMS:,}. "
                      "Use fewer or smaller layers.")
    limit = settings.PLAYGROUND_MAX_ACTIVATION_BYTES
    if limit and size.activation_bytes > limit:
        fits = limit // max(size.activation_bytes_per_sample, 1)
        needed, allowed = format_over(size.activation_bytes, limit)
        errors.append(f"A batch of {size.batch_size:,} needs about {needed} of activation memory; the limit is {allowed}. "
                      + (f"Use a batch_size of at most {fits:,}." if fits else "Use a smaller model."))
    limit = settings.PLAYGROUND_MAX_TFJS_BYTES
    if limit and size.tfjs_bytes > limit:
        needed, allowed = format_over(size.tfjs_bytes, limit)
        errors.append(f"Its TF.js model would be {needed} of float32 weights; browsers are given at most {allowed}. "
                      "Use fewer or smaller layers.")
    limit = settings.PLAYGROUND_MAX_JOB_DISK_BYTES
    if limit and size.disk_bytes > limit:
        needed, allowed = format_over(size.disk_bytes, limit)
        errors.append(f"The job would keep up to {needed} on disk ({size.checkpoint_files} checkpoints of "
                      f"{format_bytes(size.checkpoint_bytes)} and {format_bytes(size.export_bytes)} of exports); "
                      f"the limit is {allowed} per job. Use fewer epochs or a smaller model.")
    return errors


def reserve_disk(user, specs: Sequence[JobSpec]) -> None:
    """Raises DiskQuotaExceeded unless `user`'s jobs plus the new ones fit their disk quota:
    finished jobs count what they left on disk, queued and running ones their estimate. Call it
    inside the transaction that creates the jobs: it locks the user's row, as
    `reserve_job_slots` does, so two submissions cannot both take the last bytes."""
    if user.is_staff or not settings.PLAYGROUND_USER_DISK_QUOTA_BYTES:
        return
    _lock_user(user)
    _check_disk(user, specs, _active_specs(user))


def _check_disk(user, specs: Sequence[JobSpec], active: dict[str, int]) -> None:
    quota = settings.PLAYGROUND_USER_DISK_QUOTA_BYTES
    if not quota:
        return
    used = _finished_disk_bytes(user) + _estimated_disk_bytes(active)
    needed = sum(disk_estimate(spec) for spec in specs)
    if used + needed > quota:
        total, allowed = format_over(used + needed, quota)
        raise DiskQuotaExceeded(
            f"Your jobs keep {format_bytes(used)} on disk and {'this job needs' if len(specs) == 1 else 'these jobs need'} "
            f"up to {format_bytes(needed)}, {total} in all; your quota is {allowed}. Jobs cannot be deleted from the "
            "API yet: ask an administrator to remove old ones, or submit a smaller job (fewer epochs or a smaller model)."
        )


def disk_used(user) -> int:
    """Bytes `user`'s jobs hold: measured for finished jobs, estimated for queued and running ones."""
    return _finished_disk_bytes(user) + _estimated_disk_bytes(_active_specs(user))


SPEC_COLUMNS = ("recipe", "dataset", "hyperparameters", "precision", "strategy", "gpus")


def _active_specs(user) -> dict[str, int]:
    """The user's queued and running jobs as {their spec, as JSON: how many}. Grouped in the
    database: reading and estimating every active job row made each submission cost more than
    the last (65 ms of CPU per submission with ~200 queued; benchmarks/submit_rate.py)."""
    rows = (Job.objects.filter(owner=user).exclude(status__in=Job.FINISHED)
            .values(*SPEC_COLUMNS).annotate(jobs=Count("pk")).order_by())
    active: dict[str, int] = {}
    for row in rows:
        # jsonb groups by value; SQLite by text, so equal specs may arrive as two rows.
        key = json.dumps({c: row[c] for c in SPEC_COLUMNS}, sort_keys=True)
        active[key] = active.get(key, 0) + row["jobs"]
    return active


def _estimated_disk_bytes(active: dict[str, int]) -> int:
    total = 0
    for key, jobs in active.items():
        try:
            spec = validate_spec(json.loads(key))
        except SpecError:
            continue  # no longer valid (a recipe's limits changed): not estimated
        total += jobs * disk_estimate(spec)
    return total


def _finished_disk_bytes(user) -> int:
    finished = Job.objects.filter(owner=user, status__in=Job.FINISHED)
    totals = finished.aggregate(total=Sum("disk_bytes"), unmeasured=Count("pk", filter=Q(disk_bytes__isnull=True)))
    if not totals["unmeasured"]:
        return totals["total"] or 0
    # Jobs that finished before disk_bytes was recorded (or never ran) are measured now; the
    # figure is kept when the submission's transaction commits.
    for pk in finished.filter(disk_bytes__isnull=True).values_list("pk", flat=True):
        Job.objects.filter(pk=pk).update(disk_bytes=workdir_bytes(pk))
    return finished.aggregate(total=Sum("disk_bytes"))["total"] or 0


def estimate(spec: JobSpec) -> sizing.ModelSize | None:
    """The spec's `trainer.sizing` estimate under the checkpoint retention jobs run with; None
    for a dataset sizing has no shape for (a test keeps every registered one listed), which is
    then not limited rather than answered with a 500."""
    from playground.datasets.services import shape_of

    try:
        # An upload's shape and classes come from its meta; registered datasets carry their own.
        return sizing.estimate(spec, checkpoint_retention(), shape=shape_of(spec))
    except sizing.UnsizedDataset:
        return None


def disk_estimate(spec: JobSpec) -> int:
    size = estimate(spec)
    return size.disk_bytes if size is not None else 0
