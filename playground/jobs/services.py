"""Every job state transition lives here. Each one is a conditional UPDATE on the current
status, so a redelivered task or a racing cancel can never move a job twice."""
from __future__ import annotations

import logging
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from playground.jobs import events, files
from playground.jobs.models import Job
from playground.ops.registry import queue_for
from trainer.spec import JobSpec, gang_size

log = logging.getLogger(__name__)
Status = Job.Status


class JobConflict(Exception):
    """The job is in a state that does not allow the requested change."""


class LeaseLost(Exception):
    """Another worker took the job over (this one was presumed dead); it must not finish it."""


def job_workdir(job_id: int) -> Path:
    """The job's folder on this machine (see playground/jobs/files.py for other machines')."""
    return files.local(job_id)


def workdir_bytes(job_id: int) -> int:
    """Bytes of the job's stored files (0 when it has none), for the disk quota."""
    return files.total_bytes(job_id)


def visible_jobs(user):
    """Jobs a user may see: their own; staff see all."""
    jobs = Job.objects.select_related("owner")
    return jobs if user.is_staff else jobs.filter(owner=user)


def _publish_status(job_id: int, status: str, **extra) -> None:
    events.publish(job_id, "status", {"status": status, **extra})


def create_job(owner, spec: JobSpec, *, engine: str = "server", **fields) -> Job:
    """Queues a job; `fields` are extra Job fields (parent, parent_epoch, freeze, group). A
    browser job (`engine="browser"`) waits for a tab to claim it: no task message is sent.

    Raises QueueUnavailable (and keeps nothing) when the broker refuses the task message.
    """
    from playground.jobs.browser import BROWSER_QUEUE

    # No savepoint inside submit_jobs' transaction: a failure here fails the submission whole.
    with transaction.atomic(savepoint=False):
        job = Job.objects.create(
            owner=owner,
            recipe=spec.recipe,
            dataset=spec.dataset,
            hyperparameters=spec.hyperparameters,
            **fields,
            precision=spec.precision,
            strategy=spec.strategy,
            gpus=spec.gpus,
            engine=engine,
            queue=BROWSER_QUEUE if engine == "browser" else queue_for(spec.gpus),
            progress={"epoch": 0, "epochs": spec.hyperparameters.get("epochs"), "step": 0, "steps": None},
            last_seq=1,  # the status event below; the row is then as the database has it
        )
        events.publish_first(job, "status", {"status": Status.QUEUED})
        if engine == "server":
            transaction.on_commit(lambda: _enqueue_or_withdraw(job))
    return job


class SubmissionRefused(Exception):
    """A submission over a limit. `errors` are by field, as the API's 400 body
    (`{"hyperparameters": {"epochs": [...]}}`, `{"hyperparameters": [...]}`, `{"strategy": [...]}`);
    or `detail` with `status` for a quota (429: too many jobs at once; 400: the disk quota)."""

    def __init__(self, errors: dict | None = None, detail: str = "", status: int = 400) -> None:
        self.errors, self.detail, self.status = errors or {}, detail, status
        super().__init__(detail or str(self.errors))

    def messages(self) -> list[str]:
        """Every message, flattened (for a page or a `detail`)."""
        def walk(value):
            if isinstance(value, dict):
                return [m for v in value.values() for m in walk(v)]
            return list(value) if isinstance(value, list) else [str(value)]

        return walk(self.errors) or [self.detail]


def submission_errors(user, specs: list[JobSpec]) -> dict:
    """Why `user` may not submit `specs` (one job, or a race's racers), by field; {} when they may.
    The first limit that fails answers: training asked for, model size, then workers for a gang."""
    from playground.accounts import quotas
    from playground.ops.registry import gang_error

    # Racers differ only in optimizer: one training size, but each its own model size (its slots).
    if too_much := quotas.sample_epochs_error(user, specs[0]):
        return {"hyperparameters": {"epochs": [too_much]}}
    if too_big := list(dict.fromkeys(e for spec in specs for e in quotas.model_size_errors(user, spec))):
        return {"hyperparameters": too_big}
    if too_few := gang_error(specs[0]):
        return {"strategy": [too_few]}
    return {}


def submit_jobs(owner, specs: list[JobSpec], *, group_kind: str | None = None, checked_by=None,
                engines: list[str] | None = None, vary: str | None = None, **fields) -> list[Job]:
    """The one way a user submits: checks the limits (for `checked_by`, by default the owner),
    reserves the job slots and disk in the transaction that creates the jobs (and their
    JobGroup, with `group_kind`; a sweep's group names the hyperparameter it varies in `vary`),
    and queues them. `engines` gives each job its own engine
    (an engine race); otherwise `fields` may name one for all. Raises SubmissionRefused,
    keeping nothing, or QueueUnavailable (create_job)."""
    from playground.accounts import quotas
    from playground.datasets.services import job_dataset_error
    from playground.jobs.models import JobGroup

    checked_by = checked_by or owner
    # An uploaded dataset ("user:<id>") must be the owner's and of a kind the recipe takes.
    for spec in specs:
        if refused := job_dataset_error(owner, spec):
            raise SubmissionRefused({"dataset": [refused]})
        if refused := job_reference_errors(owner, spec):
            raise SubmissionRefused({"hyperparameters": refused})
    errors = submission_errors(checked_by, specs)
    if errors:
        raise SubmissionRefused(errors)
    try:
        with transaction.atomic():
            quotas.reserve(checked_by, specs)
            group = JobGroup.objects.create(owner=owner, kind=group_kind, vary=vary or "") if group_kind else None
            extra = {"group": group} if group is not None else {}
            if engines is not None:
                return [create_job(owner, spec, engine=engine, **extra, **fields)
                        for spec, engine in zip(specs, engines, strict=True)]
            return [create_job(owner, spec, **extra, **fields) for spec in specs]
    except quotas.QuotaExceeded as exc:
        raise SubmissionRefused(detail=str(exc), status=exc.status) from None


def submit_job(owner, spec: JobSpec, **options) -> Job:
    """`submit_jobs` for one job; `options` as there (and Job fields: parent, freeze, ...)."""
    return submit_jobs(owner, [spec], **options)[0]


class QueueUnavailable(Exception):
    """The broker refused the task message; the job was withdrawn, so nothing is half-created."""


def enqueue(job_id: int, queue: str, members: int = 1, gang: bool | None = None) -> None:
    """Sends the job's task message, or for a multi_worker job (`gang`, by default members > 1)
    one `run_gang_member` message per member (playground/jobs/gang.py); raises
    QueueUnavailable when the broker cannot take it."""
    from kombu.exceptions import OperationalError

    from playground.jobs.tasks import run_gang_member, run_job

    try:
        if gang if gang is not None else members > 1:
            for _ in range(members):
                run_gang_member.apply_async((job_id,), queue=queue)
        else:
            run_job.apply_async((job_id,), queue=queue)
    except OperationalError as exc:
        raise QueueUnavailable(f"The job queue is unavailable ({broker_address()} refused the connection); "
                               "nothing was saved, try again shortly.") from exc


def _enqueue_or_withdraw(job: Job) -> None:
    # Runs after the commit (a worker must find the row), so a refused message cannot roll the
    # job back: delete it instead, with the rest of its race, and let the client retry (503).
    try:
        enqueue(job.pk, job.queue, gang_size(job.strategy))
    except QueueUnavailable:
        with transaction.atomic():
            if job.group_id is not None:
                Job.objects.filter(group_id=job.group_id).delete()
                job.group.delete()
            else:
                Job.objects.filter(pk=job.pk).delete()
        log.warning("job %s withdrawn: the broker refused its task message", job.pk)
        raise


def broker_address() -> str:
    """Where the broker is, without credentials: "Redis at host:port" or the transport name."""
    from urllib.parse import urlsplit

    url = urlsplit(settings.CELERY_BROKER_URL)
    if url.scheme.startswith("redis"):
        return f"Redis at {url.hostname}:{url.port or 6379}"
    return f"the {url.scheme} broker"


def _finish(job_id: int, status: str, lease=None, **fields) -> bool:
    # With the worker's lease, only while it still holds the job: a worker that was presumed
    # dead and taken over (or requeued by staff) must not finish its successor's attempt.
    holder = {"worker": lease.worker, "attempts": lease.attempt} if lease is not None else {}
    finished = Job.objects.filter(pk=job_id, status=Status.RUNNING, **holder).update(
        status=status, finished_at=timezone.now(), disk_bytes=workdir_bytes(job_id), **fields
    )
    if finished:
        extra = {"error": fields["error"]} if fields.get("error") else {}
        _publish_status(job_id, status, **extra)
    return bool(finished)


def succeed_job(job_id: int, result: dict, lease=None) -> bool:
    return _finish(
        job_id,
        Status.SUCCEEDED,
        lease,
        test_metrics=result.get("test_metrics"),
        analysis=result.get("analysis"),
        best_epoch=result.get("best_epoch"),
        warnings=result.get("warnings", []),
        run_info={k: result[k] for k in ("precision", "devices", "replicas", "per_replica_batch_size",
                                            "epochs_run", "strategy", "workers", "global_batch_size")
                  if k in result},
    )


def cancel_running_job(job_id: int, lease=None) -> bool:
    return _finish(job_id, Status.CANCELLED, lease)


def fail_job(job_id: int, reason: str, lease=None) -> bool:
    return _finish(job_id, Status.FAILED, lease, error=reason)


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


RETRYABLE = (Status.FAILED, Status.CANCELLED)


def retry_job(job: Job, checked_by=None) -> Job:
    """Runs a failed or cancelled job again as a new job (same owner, spec and fork origin),
    within `checked_by`'s limits when given (SubmissionRefused; the admin's actions pass none).

    A clone rather than a reset: the old job keeps its events, error and checkpoints for the
    record, and the new one starts from a clean workdir; each names the other in a log event.
    """
    from trainer.spec import SpecError, validate_spec

    job.refresh_from_db()
    if job.status not in RETRYABLE:
        raise JobConflict(f"Job {job.pk} is {job.status}; only failed or cancelled jobs can be retried.")
    try:
        spec = validate_spec(job.spec_dict())
    except SpecError as exc:
        raise JobConflict(f"Job {job.pk} cannot be retried: its specification is no longer valid: {exc.errors}") from None
    # A retried browser job is a browser job again: a tab that opens it trains it.
    origin = {"parent": job.parent, "parent_epoch": job.parent_epoch, "freeze": job.freeze, "engine": job.engine}
    retry = (submit_job(job.owner, spec, checked_by=checked_by, **origin) if checked_by is not None
             else create_job(job.owner, spec, **origin))

    def link() -> None:
        events.publish(job.pk, "log", {"message": f"Retried as job {retry.pk}.", "retry": retry.pk})
        events.publish(retry.pk, "log", {"message": f"Retry of job {job.pk} ({job.status}).", "retry_of": job.pk})

    # After the new job's task message (create_job's on_commit, registered first): a retry the
    # broker refuses is withdrawn, and the old job must not name it.
    transaction.on_commit(link)
    return retry


def requeue_job(job: Job, by: str = "staff") -> Job:
    """Running → queued with a fresh task message, for a job whose worker is stuck or gone.

    The next worker resumes it from its last checkpoint, as after a stale lease
    (leases.py); the old worker, if it is still alive, finds its lease gone at its next
    heartbeat and stops without finishing the job.
    """
    job.refresh_from_db()
    if gang_size(job.strategy) > 1:
        raise JobConflict(f"Job {job.pk} is a {job.strategy} job, which cannot resume on other workers; "
                          "cancel it and retry it instead.")
    if job.engine == "browser":
        raise JobConflict(f"Job {job.pk} trains in a browser; once its tab has stopped, continue it on a server "
                          "worker (POST /api/v1/jobs/<id>/continue/).")
    worker, heartbeat_at = job.worker, job.heartbeat_at
    if not Job.objects.filter(pk=job.pk, status=Status.RUNNING, worker=worker).update(
            status=Status.QUEUED, worker="", queued_at=timezone.now()):
        job.refresh_from_db()
        raise JobConflict(f"Job {job.pk} is {job.status}; only running jobs can be requeued.")
    since = heartbeat_at.isoformat(timespec="seconds") if heartbeat_at else "never"
    events.publish(job.pk, "log", {"message": f"Requeued by {by} from worker {worker or '?'} (last heartbeat "
                                              f"{since}); resumes from the last checkpoint."})
    _publish_status(job.pk, Status.QUEUED, attempt=job.attempts)
    transaction.on_commit(lambda: enqueue(job.pk, job.queue))
    job.refresh_from_db()
    return job


def checkpoint_retention():
    """The per-epoch checkpoints every job keeps, from settings (PLAYGROUND_CHECKPOINT_KEEP_*)."""
    from trainer.checkpoint import Retention

    return Retention(keep_every=settings.PLAYGROUND_CHECKPOINT_KEEP_EVERY,
                     keep_last=settings.PLAYGROUND_CHECKPOINT_KEEP_LAST)


def train_options(job: Job) -> dict:
    """`train()` keyword arguments every worker passes for `job`, one worker or a gang's ranks
    (trainer.multi_worker): data folder, checkpoint retention, TF.js size limit, fork origin."""
    return {"data_dir": settings.PLAYGROUND_DATA_DIR, "retention": checkpoint_retention(),
            "max_tfjs_bytes": settings.PLAYGROUND_MAX_TFJS_BYTES or None,
            "snapshot_interval_s": settings.PLAYGROUND_SNAPSHOT_INTERVAL_S or None, **fork_options(job),
            **base_model_options(job)}


def _referenced_jobs(spec) -> dict[str, int]:
    """The hyperparameters of `spec` that name another job ("job:<id>", `Param.jobs`), with its id."""
    from trainer.hyperparams import job_reference
    from trainer.recipes import get_recipe

    params = get_recipe(spec.recipe).hyperparameters
    return {name: job_reference(value) for name, value in spec.hyperparameters.items()
            if name in params and params[name].jobs and job_reference(value) is not None}


def job_reference_errors(owner, spec) -> dict[str, list[str]]:
    """Why a hyperparameter that names another job may not ({} when all may): the job must be
    the owner's (another user's reads as missing), have succeeded and exported a Keras model."""
    errors = {}
    for name, pk in _referenced_jobs(spec).items():
        base = Job.objects.filter(owner=owner, pk=pk).first()
        if base is None:
            errors[name] = [f"You have no job {pk}; name one of yours (GET /api/v1/jobs/)."]
        elif base.status != Job.Status.SUCCEEDED or base.artifact("keras") is None:
            errors[name] = [f"Job {pk} is {base.status} and has no exported Keras model to build on; "
                            "name a succeeded job."]
    return errors


def base_model_options(job: Job) -> dict:
    """`train()`'s `base_models`: the exported Keras model of each job the spec names."""
    found = {}
    for name, pk in _referenced_jobs(job).items():
        base = Job.objects.filter(pk=pk).first()
        artifact = base.artifact("keras") if base is not None else None
        path = files.pull(pk, artifact.path) if artifact is not None else None
        if path is None or not path.exists():
            raise FileNotFoundError(f"job {pk}'s exported model, which {name} names, is gone; submit again "
                                    "with another job")
        found[name] = str(path)
    return {"base_models": found} if found else {}


def fork_options(job: Job) -> dict:
    """`train()` keyword arguments of a fork: the parent's checkpoint and the freeze mode."""
    if job.parent_id is None:
        return {}
    from trainer.checkpoint import checkpoint_path

    name = checkpoint_path("", job.parent_epoch or "best").as_posix()
    path = files.pull(job.parent_id, name)
    if not path.exists():
        raise FileNotFoundError(f"the parent job's checkpoint {path.name} is gone; fork it again")
    return {"initial_weights": path, "freeze": job.freeze}


def run_job(job_id: int, worker: str) -> None:
    """Claim a job and train it. Called by the Celery task; never raises for training errors."""
    from playground.datasets.services import train_dataset
    from playground.jobs.reporter import JobReporter
    from trainer.datasets import DatasetError
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
    # Checkpoints go to the storage after every epoch, off the training thread (files.py).
    reporter = files.PushingReporter(JobReporter(job_id, lease=lease), job_id)
    workdir = job_workdir(job_id)
    reported_epochs = None
    try:
        spec = validate_spec(job.spec_dict())
        # Heartbeats from here on: fetching or clearing files can take a while (or fail slowly).
        with leases.keep_alive(lease):
            if lease.resumed:
                # The last attempt's checkpoint (brought here when that attempt ran on another
                # machine); train() resumes from it.
                reported_epochs = job.events.filter(type="epoch").count()
                files.pull(job_id, "checkpoints", refresh=True)
                _log_resume(job_id, workdir, lease)
            else:
                files.clear(job_id)
            workdir.mkdir(parents=True, exist_ok=True)
            # An upload is read through the storage here (trainer/ knows no Django); None: train() loads it.
            result = train(spec, reporter, workdir, reported_epochs=reported_epochs, dataset=train_dataset(spec),
                           **train_options(job))
            if reporter.lease_lost:
                raise LeaseLost
            # Every file in the storage before the job says it succeeded: nothing it lists is missing.
            reporter.finish()
    except files.StorageUnavailable as exc:
        fail_job(job_id, f"The job's files could not be stored or fetched: {exc}. Retry it once the storage is "
                         "back.", lease)
    except LeaseLost:
        log.warning("job %s: lease lost to another worker; %s stops without finishing it", job_id, worker)
    except (TrainingFailed, DatasetError) as exc:
        # The trainer's own words: "loss became NaN at epoch 3", "MNIST file … could not be
        # downloaded … Download … into …".
        fail_job(job_id, str(exc), lease)
    except SpecError as exc:
        fail_job(job_id, f"The job's specification is no longer valid: {exc.errors}", lease)
    except Exception as exc:
        log.exception("job %s crashed", job_id)
        fail_job(job_id, crash_reason(exc, reporter.where()), lease)
    else:
        if result.get("status") == "cancelled":
            cancel_running_job(job_id, lease)
        else:
            succeed_job(job_id, result, lease)
    finally:
        # A failed or cancelled job's checkpoints too, for a retry or a fork (best effort).
        reporter.finish_quietly()


def crash_reason(exc: BaseException, where: str) -> str:
    """What a failed job says after an exception nobody expected: where (JobReporter.where),
    what, and the exception's own message (usually the most useful part)."""
    return f"Training stopped with an unexpected error {where}: {type(exc).__name__}: {exc}"


def fail_crashed_job(job_id: int, worker: str, exc: BaseException) -> bool:
    """The backstop behind `run_job` (the Celery task's on_failure): fails a job this worker
    still holds after its handler itself raised, so no bug can leave a job `running` until
    the watchdog misreads it as a dead worker. Returns False when the job was not this
    worker's to fail (finished, requeued, or taken over)."""
    from playground.jobs.leases import Lease

    job = Job.objects.filter(pk=job_id, status=Status.RUNNING, worker=worker).only("progress", "attempts").first()
    if job is None:
        return False
    # Held to the attempt read here: a takeover meanwhile is the new holder's to finish.
    epoch = (job.progress or {}).get("epoch")
    where = f"in epoch {epoch}" if epoch else "before the first epoch"
    # The handler's exception chains the training error it was handling: that one first.
    cause = exc.__context__
    reason = (f"{crash_reason(cause, where)}; then its failure handling failed too: {type(exc).__name__}: {exc}"
              if cause is not None else crash_reason(exc, where))
    return fail_job(job_id, reason, Lease(job_id, worker, job.attempts))


def _log_resume(job_id: int, workdir: Path, lease) -> None:
    from trainer.checkpoint import resume_point

    state = resume_point(workdir)
    if state:
        message = f"Resumed from epoch {state.completed_epochs} on {lease.worker} (attempt {lease.attempt})."
    else:
        message = (f"Restarted from epoch 1 on {lease.worker} (attempt {lease.attempt}): the previous "
                   "attempt left no checkpoint here; epochs already reported are retrained, not reported again.")
    events.publish(job_id, "log", {"message": message})
