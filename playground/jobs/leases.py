"""Leases on running jobs, so a job whose worker died is resumed, never stuck `running`.

A worker that claims a job holds a lease: the job row names the worker and a `heartbeat_at`
that a thread (`keep_alive`) refreshes every PLAYGROUND_HEARTBEAT_S while the job runs. A
thread rather than the reporter's batch-end poll: importing TensorFlow, downloading a dataset
or exporting has no batches, and a live worker must not look dead then. A heartbeat older
than PLAYGROUND_LEASE_TIMEOUT_S means the worker is gone (kill -9, OOM, lost machine):

* a redelivered task message (Celery's acks_late + task_reject_on_worker_lost, or Redis's
  visibility timeout) takes the job over at once with a conditional update on the stale row;
* `requeue_stale_jobs()` puts it back in the queue with a fresh task message. It runs at
  worker startup and every PLAYGROUND_WATCHDOG_S in each worker (`start_watchdog`, Celery's
  `worker_ready` signal) and from `manage.py requeue_stale_jobs` (cron, or by hand).

With the defaults (heartbeat 5 s, lease 30 s, watchdog 10 s) a job whose worker died is
requeued 30–40 s after its last heartbeat.

Either way the next worker resumes from the job's last checkpoint (trainer.run.train with
resume), and after PLAYGROUND_MAX_ATTEMPTS attempts in a row that each lost their worker
without adding an epoch (a poison job, not an unlucky one) it fails with the reason instead.
Every step is a conditional UPDATE, so two workers can never both hold a job: a worker whose
heartbeat finds the lease taken stops training at its next batch.

The same watchdog runs `resend_lost_messages()`: a queued job whose task message died with a
Redis that does not persist them gets a new one.
"""
from __future__ import annotations

import contextlib
import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, close_old_connections
from django.db.models import F, Q
from django.utils import timezone

from playground.jobs import events
from playground.jobs.models import Job
from trainer.spec import gang_size

log = logging.getLogger(__name__)
Status = Job.Status


@dataclass
class Lease:
    """A worker's claim on a job; `resumed` when an earlier attempt left a checkpoint.
    `lost` is set when a heartbeat finds the job taken over: the holder must stop."""

    job_id: int
    worker: str
    attempt: int
    lost: threading.Event = field(default_factory=threading.Event, compare=False)

    @property
    def resumed(self) -> bool:
        return self.attempt > 1


def stale_before(now: datetime | None = None) -> datetime:
    return (now or timezone.now()) - timedelta(seconds=settings.PLAYGROUND_LEASE_TIMEOUT_S)


def _stale(now: datetime | None = None) -> Q:
    return Q(status=Status.RUNNING) & (Q(heartbeat_at__lt=stale_before(now)) | Q(heartbeat_at__isnull=True))


def acquire(job_id: int, worker: str) -> Lease | None:
    """Claims a queued job, or takes over a running one whose worker stopped heartbeating.

    Returns None when the job is someone else's (fresh lease), finished, or cancelled; a
    stale job that is out of attempts (PLAYGROUND_MAX_ATTEMPTS in a row without a new epoch)
    is failed here with the reason. started_at stays the first start; resumed_at is now.
    """
    now = timezone.now()
    job = Job.objects.filter(pk=job_id).only(*_LOSS_FIELDS, "status", "started_at").first()
    if job is None:
        return None
    fields = {"status": Status.RUNNING, "worker": worker, "heartbeat_at": now, "attempts": F("attempts") + 1,
              "epochs_at_claim": job.completed_epochs, "started_at": job.started_at or now}
    if job.attempts:
        fields["resumed_at"] = now
    # Each UPDATE is conditional on what was read: of two workers racing, one claims it.
    held = {"pk": job_id, "attempts": job.attempts, "heartbeat_at": job.heartbeat_at}
    if job.status == Status.QUEUED:
        claimed = Job.objects.filter(status=Status.QUEUED, **held).update(**fields)
    elif job.status == Status.RUNNING and _is_stale(job, now):
        stalled = _stalled_after_loss(job)
        if stalled >= settings.PLAYGROUND_MAX_ATTEMPTS:
            give_up(job, stalled)
            return None
        claimed = Job.objects.filter(status=Status.RUNNING, **held).update(stalled_attempts=stalled, **fields)
    else:
        claimed = 0
    if not claimed:
        return None
    events.publish(job_id, "status", {"status": Status.RUNNING, "worker": worker, "attempt": job.attempts + 1})
    return Lease(job_id, worker, job.attempts + 1)


# What deciding about a lost worker needs to read.
_LOSS_FIELDS = ("pk", "worker", "heartbeat_at", "attempts", "queue", "strategy", "progress", "metrics",
                "epochs_at_claim", "stalled_attempts")


def _is_stale(job: Job, now: datetime) -> bool:
    return job.heartbeat_at is None or job.heartbeat_at < stale_before(now)


def _stalled_after_loss(job: Job) -> int:
    """Attempts in a row that added no epoch, counting the one whose worker was just lost."""
    return 0 if job.completed_epochs > job.epochs_at_claim else job.stalled_attempts + 1


def give_up(job: Job, stalled: int) -> bool:
    """Fails a job whose last `stalled` attempts each lost their worker without a new epoch:
    whatever kills the workers, another attempt would too."""
    from playground.jobs.services import fail_job

    return fail_job(job.pk, (
        f"Gave up after {stalled} attempts in a row without a new epoch ({job.attempts} in all): "
        f"worker {job.worker or '?'} stopped responding in epoch {job.progress.get('epoch') or 1}, and so did "
        f"the workers before it; the job may be too large for a worker's memory, or crash it."))


def heartbeat(job_id: int, worker: str) -> bool:
    """Refreshes the lease; False when it is lost (another worker took the job over, or the
    job was failed as stale), and the caller must stop training."""
    return bool(Job.objects.filter(pk=job_id, worker=worker, status=Status.RUNNING)
                .update(heartbeat_at=timezone.now()))


@contextlib.contextmanager
def keep_alive(lease: Lease, interval_s: float | None = None):
    """Heartbeats `lease` from a daemon thread while the block runs; sets `lease.lost` (and
    stops beating) when the lease turns out to be someone else's."""
    interval = settings.PLAYGROUND_HEARTBEAT_S if interval_s is None else interval_s
    done = threading.Event()

    def beat() -> None:
        try:
            while not done.wait(interval):
                try:
                    if not heartbeat(lease.job_id, lease.worker):
                        log.warning("job %s: %s lost its lease; stopping", lease.job_id, lease.worker)
                        lease.lost.set()
                        return
                except Exception:  # a database hiccup: the next beat may make it
                    log.exception("job %s: heartbeat failed", lease.job_id)
        finally:
            connection.close()  # this thread's own connection; nobody else will close it

    thread = threading.Thread(target=beat, name=f"heartbeat-{lease.job_id}", daemon=True)
    thread.start()
    try:
        yield lease
    finally:
        done.set()
        thread.join(timeout=5)


def requeue_stale_jobs(now: datetime | None = None) -> dict[str, list[int]]:
    """Requeues every running job whose worker stopped heartbeating (resumed by the next
    worker from its checkpoint), or fails it after PLAYGROUND_MAX_ATTEMPTS attempts in a row
    that added no epoch.

    Returns `{"requeued": [ids], "failed": [ids]}`.
    """
    from playground.jobs.tasks import run_job

    now = now or timezone.now()
    requeued, failed = [], []
    for job in Job.objects.filter(_stale(now)).exclude(engine="browser").only(*_LOSS_FIELDS):
        if gang_size(job.strategy) > 1:
            if fail_lost_gang(job):
                failed.append(job.pk)
            continue
        stalled = _stalled_after_loss(job)
        if stalled >= settings.PLAYGROUND_MAX_ATTEMPTS:
            if give_up(job, stalled):
                failed.append(job.pk)
            continue
        # Conditional on the heartbeat we read: a worker that beat meanwhile keeps its job.
        if Job.objects.filter(pk=job.pk, status=Status.RUNNING, heartbeat_at=job.heartbeat_at,
                              attempts=job.attempts).update(status=Status.QUEUED, worker="", queued_at=now,
                                                            stalled_attempts=stalled):
            since = job.heartbeat_at.isoformat(timespec="seconds") if job.heartbeat_at else "never"
            events.publish(job.pk, "log", {"message": f"Worker {job.worker or '?'} stopped responding "
                                                      f"(last heartbeat {since}); requeued to resume "
                                                      f"from the last checkpoint."})
            events.publish(job.pk, "status", {"status": Status.QUEUED, "attempt": job.attempts})
            run_job.apply_async((job.pk,), queue=job.queue)
            requeued.append(job.pk)
    if requeued or failed:
        log.warning("stale jobs: requeued %s, failed %s", requeued, failed)
    return {"requeued": requeued, "failed": failed}


def resend_lost_messages(now: datetime | None = None) -> list[int]:
    """Sends a new task message for each job queued for over a lease timeout in a queue the
    broker holds no message for: its message was lost (a Redis restarted without persistence,
    or a publish that failed after a requeue). Returns their ids.

    Only empty queues: a backlog may still hold the message, and is looked at again once it
    drains. A duplicate (a message taken but not yet claimed) is harmless: the claim is
    conditional.
    """
    from playground.jobs.services import enqueue

    waiting = Job.objects.filter(Q(queued_at__lt=stale_before(now)) | Q(queued_at__isnull=True, created_at__lt=stale_before(now)),
                                 status=Status.QUEUED).exclude(engine="browser")  # a tab claims those
    queues = set(waiting.order_by().values_list("queue", flat=True).distinct())
    empty = [queue for queue in queues if broker_queue_length(queue) == 0]
    resent = []
    for job in waiting.filter(queue__in=empty).only("pk", "queue", "strategy"):
        # A forming gang's joined members hold their messages: only the missing ones are lost.
        members = gang_size(job.strategy)
        missing = members - job.gang_slots.count() if members > 1 else 1
        if missing > 0:
            enqueue(job.pk, job.queue, members=missing, gang=members > 1)
            resent.append(job.pk)
    if resent:
        log.warning("queued jobs without a task message: sent new ones for %s", resent)
    return resent


def broker_queue_length(queue: str) -> int:
    from playground.celery import app

    with app.connection_for_write() as connection:
        return connection.default_channel.queue_declare(queue=queue).message_count


def fail_lost_gang(job: Job) -> bool:
    """Fails a multi_worker job whose chief stopped heartbeating: its cluster cannot be
    rebuilt around a lost member, so it does not resume (playground/jobs/gang.py)."""
    from playground.jobs.services import fail_job

    since = job.heartbeat_at.isoformat(timespec="seconds") if job.heartbeat_at else "never"
    return fail_job(job.pk, f"Worker {job.worker or '?'} (the chief, rank 0) stopped responding (last "
                            f"heartbeat {since}); multi_worker jobs do not resume after losing a worker: "
                            f"submit the job again.")


def start_watchdog(interval_s: float | None = None) -> threading.Thread:
    """Runs `requeue_stale_jobs()` and `resend_lost_messages()` now and then every
    `interval_s` (default: PLAYGROUND_WATCHDOG_S) in a daemon thread; started once per
    worker at Celery's `worker_ready`."""
    interval = interval_s or settings.PLAYGROUND_WATCHDOG_S
    stop = threading.Event()

    def loop() -> None:
        while True:
            try:
                close_old_connections()
                requeue_stale_jobs()
                resend_lost_messages()
            except Exception:
                log.exception("stale-job check failed; retrying in %s s", interval)
            if stop.wait(interval):
                return

    thread = threading.Thread(target=loop, name="stale-job-watchdog", daemon=True)
    thread.stop = stop  # type: ignore[attr-defined]
    thread.start()
    return thread
