"""Every job state transition lives here. Each one is a conditional UPDATE on the current
status, so a redelivered task or a racing cancel can never move a job twice."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from playground.jobs import events
from playground.jobs.models import Job
from trainer.spec import JobSpec

log = logging.getLogger(__name__)
Status = Job.Status


class JobConflict(Exception):
    """The job is in a state that does not allow the requested change."""


class LeaseLost(Exception):
    """Another worker took the job over (this one was presumed dead); it must not finish it."""


def job_workdir(job_id: int) -> Path:
    return Path(settings.MEDIA_ROOT) / "jobs" / str(job_id)


def visible_jobs(user):
    """Jobs a user may see: their own; staff see all."""
    jobs = Job.objects.select_related("owner")
    return jobs if user.is_staff else jobs.filter(owner=user)


def _publish_status(job_id: int, status: str, **extra) -> None:
    events.publish(job_id, "status", {"status": status, **extra})


def create_job(owner, spec: JobSpec, **fields) -> Job:
    """Queues a job; `fields` are extra Job fields (parent, parent_epoch, freeze, group)."""
    from playground.jobs.tasks import run_job

    with transaction.atomic():
        job = Job.objects.create(
            owner=owner,
            recipe=spec.recipe,
            dataset=spec.dataset,
            hyperparameters=spec.hyperparameters,
            **fields,
            precision=spec.precision,
            strategy=spec.strategy,
            progress={"epoch": 0, "epochs": spec.hyperparameters.get("epochs"), "step": 0, "steps": None},
        )
        _publish_status(job.pk, Status.QUEUED)
        run_job.delay_on_commit(job.pk)
    job.refresh_from_db()
    return job


def claim_job(job_id: int, worker: str) -> bool:
    """queued → running; False when someone else has it (or it was cancelled meanwhile)."""
    claimed = Job.objects.filter(pk=job_id, status=Status.QUEUED).update(
        status=Status.RUNNING, started_at=timezone.now(), worker=worker
    )
    if claimed:
        _publish_status(job_id, Status.RUNNING, worker=worker)
    return bool(claimed)


def _finish(job_id: int, status: str, **fields) -> bool:
    finished = Job.objects.filter(pk=job_id, status=Status.RUNNING).update(
        status=status, finished_at=timezone.now(), **fields
    )
    if finished:
        extra = {"error": fields["error"]} if fields.get("error") else {}
        _publish_status(job_id, status, **extra)
    return bool(finished)


def succeed_job(job_id: int, result: dict) -> bool:
    return _finish(
        job_id,
        Status.SUCCEEDED,
        test_metrics=result.get("test_metrics"),
        analysis=result.get("analysis"),
        best_epoch=result.get("best_epoch"),
        run_info={k: result[k] for k in ("precision", "devices", "replicas", "per_replica_batch_size",
                                            "epochs_run") if k in result},
    )


def cancel_running_job(job_id: int, result: dict | None = None) -> bool:
    return _finish(job_id, Status.CANCELLED)


def fail_job(job_id: int, reason: str) -> bool:
    return _finish(job_id, Status.FAILED, error=reason)


def request_cancel(job: Job) -> Job:
    """Cancel a queued job at once; ask a running one to stop at its next batch."""
    if Job.objects.filter(pk=job.pk, status=Status.QUEUED).update(
        status=Status.CANCELLED, cancel_requested=True, finished_at=timezone.now()
    ):
        _publish_status(job.pk, Status.CANCELLED)
    elif Job.objects.filter(pk=job.pk, status=Status.RUNNING, cancel_requested=False).update(cancel_requested=True):
        events.publish(job.pk, "log", {"message": "Cancel requested; stopping after the current batch."})
    else:
        job.refresh_from_db()
        if job.is_finished:
            raise JobConflict(f"Job {job.pk} already {job.status}; there is nothing to cancel.")
    job.refresh_from_db()
    return job


def fork_options(job: Job) -> dict:
    """`train()` keyword arguments of a fork: the parent's checkpoint and the freeze mode."""
    if job.parent_id is None:
        return {}
    from trainer.finetune import checkpoint_file

    path = checkpoint_file(job_workdir(job.parent_id) / "checkpoints", job.parent_epoch or "best")
    if not path.exists():
        raise FileNotFoundError(f"the parent job's checkpoint {path.name} is gone; fork it again")
    return {"initial_weights": path, "freeze": job.freeze}


def run_job(job_id: int, worker: str) -> None:
    """Claim a job and train it. Called by the Celery task; never raises for training errors."""
    from playground.jobs.reporter import JobReporter
    from trainer.errors import TrainingFailed
    from trainer.run import train
    from trainer.spec import SpecError, validate_spec

    from playground.jobs import leases

    # A queued job, or a running one whose worker stopped heartbeating (leases.py).
    lease = leases.acquire(job_id, worker)
    if lease is None:
        log.info("job %s is not queued nor abandoned; skipping (redelivery or cancel)", job_id)
        return
    job = Job.objects.get(pk=job_id)
    reporter = JobReporter(job_id, lease=lease)
    workdir = job_workdir(job_id)
    reported_epochs = None
    if lease.resumed:
        # The workdir holds the last attempt's checkpoint; train() resumes from it.
        reported_epochs = job.events.filter(type="epoch").count()
        _log_resume(job_id, workdir, lease)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        spec = validate_spec(job.spec_dict())
        with leases.keep_alive(lease):
            result = train(spec, reporter, workdir, data_dir=settings.PLAYGROUND_DATA_DIR,
                           reported_epochs=reported_epochs, **fork_options(job))
        if reporter.lease_lost:
            raise LeaseLost
    except LeaseLost:
        log.warning("job %s: lease lost to another worker; %s stops without finishing it", job_id, worker)
    except TrainingFailed as exc:
        fail_job(job_id, str(exc))
    except SpecError as exc:
        fail_job(job_id, f"The job's specification is no longer valid: {exc.errors}")
    except Exception as exc:
        log.exception("job %s crashed", job_id)
        fail_job(job_id, f"Training stopped with an unexpected error {reporter.where()}: {type(exc).__name__}: {exc}")
    else:
        if result.get("status") == "cancelled":
            cancel_running_job(job_id, result)
        else:
            succeed_job(job_id, result)


def _log_resume(job_id: int, workdir: Path, lease) -> None:
    from trainer.checkpoint import read_resume_state
    from trainer.run import CHECKPOINT_LATEST

    state = read_resume_state(workdir / "checkpoints" / CHECKPOINT_LATEST)
    if state and state.completed_epochs:
        message = f"Resumed from epoch {state.completed_epochs} on {lease.worker} (attempt {lease.attempt})."
    else:
        message = (f"Restarted from epoch 1 on {lease.worker} (attempt {lease.attempt}): the previous "
                   "attempt left no checkpoint.")
    events.publish(job_id, "log", {"message": message})
