"""multi_worker:<n> jobs: n Celery workers train one job as one TensorFlow cluster.

Gang scheduling. `create_job` sends n `run_gang_member` task messages instead of one
`run_job`. Each worker that takes one:

1. joins: claims the lowest free rank with a conditional insert (a GangSlot, unique per
   (job, rank) and per (job, worker)) and reserves a port for its TensorFlow gRPC server;
2. waits, heartbeating its slot, until n members have joined, or fails the job with
   "only k of n workers joined within T s" (PLAYGROUND_GANG_TIMEOUT_S) while it is queued;
   a member of a younger gang gives way to an older one that is forming too (it leaves its
   rank and requeues its message), so two gangs never hold each other's workers, and any
   member gives way to an ordinary job waiting on its queue, so a gang never holds a worker
   others need for more than YIELD_AFTER_S;
3. trains in a fresh process (trainer.multi_worker) with TF_CONFIG built from the slots.
   Rank 0, the chief, takes the job's lease (queued → running, the job's heartbeat), relays
   the child's events through the normal reporter and finishes the job; the other ranks
   train silently into a scratch folder.

While they train, every member watches the job row: a cancel request, or the job ending
any other way (another member failed it, the chief finished it), ends its process, since
ranks cannot stop one at a time (the others would wait in an all-reduce forever). A member
whose process fails fails the job with the reason; the chief fails it when a member's slot
stops heartbeating (its worker died), and the stale-lease watchdog fails it when the chief's
worker dies. multi_worker jobs never resume after a worker loss: they fail with a reason.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import queue
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone

from playground.jobs import events, files, leases, services
from playground.jobs.models import GangSlot, Job
from trainer.spec import gang_size

log = logging.getLogger(__name__)
Status = Job.Status
POLL_S = 0.5
# How long a member of a gang waits before it gives way to an older gang that is forming too
# (time for an ordinary gang to form first).
YIELD_AFTER_S = 5.0


def run_member(job_id: int, worker: str) -> None:
    """Joins the job's gang, waits for it to form, and trains as one rank. Never raises for
    training errors; a redelivered message for a job already formed or finished is a no-op."""
    job = Job.objects.filter(pk=job_id).only("status", "strategy").first()
    if job is None or job.status != Status.QUEUED:
        log.info("job %s is not forming a gang; skipping (redelivery, cancel or timeout)", job_id)
        return
    size, host = gang_size(job.strategy), settings.PLAYGROUND_GANG_HOST
    try:
        port = _reserve_port(host)
    except OSError as exc:
        fail_queued_job(job_id, f"Worker {worker} cannot listen on PLAYGROUND_GANG_HOST={host!r} ({exc}); "
                                "set it to an address of that worker the others can reach.")
        return
    with port:
        slot = claim_rank(job_id, size, worker, f"{host}:{port.getsockname()[1]}")
        if slot is None:
            log.info("job %s: no rank for %s (gang full, or this worker holds one)", job_id, worker)
            return
        slots = wait_for_gang(job_id, slot, size)
    if slots is None:
        return
    try:
        (_run_chief if slot.rank == 0 else _run_member)(job_id, slot, slots)
    except Exception as exc:
        log.exception("job %s: rank %s crashed", job_id, slot.rank)
        reason = f"Worker {worker} (rank {slot.rank}) stopped with an unexpected error: {type(exc).__name__}: {exc}"
        services.fail_job(job_id, reason) or fail_queued_job(job_id, reason)


def claim_rank(job_id: int, size: int, worker: str, address: str) -> GangSlot | None:
    """Returns the slot of the lowest free rank below `size`, or None when every rank is
    taken or `worker` already holds one of this job's ranks."""
    if GangSlot.objects.filter(job_id=job_id, worker=worker).exists():
        return None
    for rank in range(size):
        try:
            with transaction.atomic():
                return GangSlot.objects.create(job_id=job_id, rank=rank, worker=worker, address=address)
        except IntegrityError:
            continue  # taken by another member (or, in a race, by this worker)
    return None


def wait_for_gang(job_id: int, slot: GangSlot, size: int,
                  timeout_s: float | None = None) -> list[GangSlot] | None:
    """Returns the gang's slots by rank once `size` members have joined; None when the job
    stopped waiting (cancelled, or failed by a member that timed out) or this one timed out
    and failed it."""
    timeout = settings.PLAYGROUND_GANG_TIMEOUT_S if timeout_s is None else timeout_s
    waiting_since = time.monotonic()
    deadline = waiting_since + timeout
    while True:
        # Running is not "stopped": the chief may see the full gang, take the lease and start
        # before this member's first look.
        if not Job.objects.filter(pk=job_id, status__in=(Status.QUEUED, Status.RUNNING),
                                  cancel_requested=False).exists():
            return None
        _beat(slot)
        # A member whose worker died while waiting frees its rank for a redelivered message.
        GangSlot.objects.filter(job_id=job_id, heartbeat_at__lt=leases.stale_before()).exclude(pk=slot.pk).delete()
        slots = list(GangSlot.objects.filter(job_id=job_id).order_by("rank"))
        if len(slots) >= size:
            return slots[:size]
        if time.monotonic() >= waiting_since + YIELD_AFTER_S and (
                _older_gang_forming(job_id) or _ordinary_job_waiting(job_id)):
            _yield(job_id, slot)
            return None
        if time.monotonic() >= deadline:
            fail_queued_job(job_id, f"Only {len(slots)} of {size} workers joined within {timeout:g} s, "
                                    f"so the multi_worker job could not start. Start at least {size} "
                                    f"workers on its queue, or ask for fewer.")
            return None
        time.sleep(POLL_S)


def _older_gang_forming(job_id: int) -> bool:
    """Whether an older multi_worker job on the same queue is also forming and incomplete.

    Two gangs that each hold some of the only workers would wait for each other until the
    timeout failed both; the younger one gives its workers to the older one instead.
    """
    queue = Job.objects.only("queue").get(pk=job_id).queue
    older = (Job.objects.filter(pk__lt=job_id, queue=queue, status=Status.QUEUED, strategy__startswith="multi_worker:")
             .annotate(joined=Count("gang_slots")).filter(joined__gt=0).values_list("strategy", "joined"))
    return any(joined < gang_size(strategy) for strategy, joined in older)


def _ordinary_job_waiting(job_id: int) -> bool:
    """Whether a single-worker job waits on the same queue: a forming gang must not hold a
    worker from it (a multi_worker:2 on a deployment with one free worker held it 300 s while
    everyone's jobs waited). Gangs are left out: two forming gangs settle by age instead."""
    queue = Job.objects.only("queue").get(pk=job_id).queue
    return (Job.objects.filter(queue=queue, status=Status.QUEUED).exclude(pk=job_id)
            .exclude(strategy__startswith="multi_worker:").exists())


def _yield(job_id: int, slot: GangSlot) -> None:
    # The message goes to the back of the queue, behind the older gang's missing members; if
    # sending it fails, the watchdog resends it (leases.resend_lost_messages counts slots).
    slot.delete()
    queue = Job.objects.only("queue").get(pk=job_id).queue
    log.info("job %s: %s leaves its rank to an older forming gang and requeues its message", job_id, slot.worker)
    try:
        services.enqueue(job_id, queue, members=1, gang=True)
    except services.QueueUnavailable as exc:
        log.warning("job %s: %s", job_id, exc)


def fail_queued_job(job_id: int, reason: str) -> bool:
    """queued → failed (a gang that never formed); False when the job had moved on."""
    failed = Job.objects.filter(pk=job_id, status=Status.QUEUED).update(
        status=Status.FAILED, finished_at=timezone.now(), error=reason)
    if failed:
        events.publish(job_id, "status", {"status": Status.FAILED, "error": reason})
    return bool(failed)


def _beat(slot: GangSlot) -> None:
    GangSlot.objects.filter(pk=slot.pk).update(heartbeat_at=timezone.now())


def _reserve_port(host: str) -> socket.socket:
    # Held while the gang forms, so no other process on this machine takes the port; closed
    # just before the training process binds it.
    sock = socket.socket()
    try:
        sock.bind((host, 0))
    except OSError:
        sock.close()
        raise
    return sock


@dataclass
class Outcome:
    """How a member's training process ended: with train()'s `result`, with a failure
    `reason`, or `stopped` by its supervisor because the job was cancelled or ended elsewhere."""

    result: dict | None = None
    reason: str = ""
    failed: bool = False  # a TrainingFailed: the reason is the user's to act on
    stopped: str = ""  # "cancel", "finished" (elsewhere) or "lease" (lost)


def _run_chief(job_id: int, slot: GangSlot, slots: list[GangSlot]) -> None:
    from playground.jobs.reporter import JobReporter

    lease = leases.acquire(job_id, slot.worker)
    if lease is None:
        return  # cancelled or failed between forming and starting: the others see it too
    members = ", ".join(f"rank {s.rank} {s.worker} ({s.address})" for s in slots)
    events.publish(job_id, "log", {"message": f"All {len(slots)} workers joined: {members}."})
    # The chief writes the job's files; checkpoints reach the storage after every epoch.
    reporter = files.PushingReporter(JobReporter(job_id, lease=lease), job_id)
    workdir = services.job_workdir(job_id)
    try:
        files.clear(job_id)
        workdir.mkdir(parents=True, exist_ok=True)
        with leases.keep_alive(lease):
            outcome = _train(job_id, slot, slots, workdir, reporter)
        if outcome.result is not None and not outcome.stopped:
            reporter.finish()
    except files.StorageUnavailable as exc:
        reporter.finish_quietly()
        services.fail_job(job_id, f"The job's files could not be stored or fetched: {exc}. Retry it once the "
                                  "storage is back.", lease)
        return
    reporter.finish_quietly()
    if outcome.stopped == "cancel":
        events.publish(job_id, "log", {"message": f"Cancelled during epoch {reporter.epoch or 1}; "
                                                  f"stopped all {len(slots)} workers."})
        services.cancel_running_job(job_id, lease)
    elif outcome.stopped in ("finished", "lease"):
        log.info("job %s ended elsewhere (%s); chief stops", job_id, outcome.stopped)
    elif outcome.result is not None:
        services.succeed_job(job_id, outcome.result, lease)
    elif outcome.failed:
        services.fail_job(job_id, outcome.reason, lease)
    else:
        services.fail_job(job_id, f"Multi-worker training stopped in epoch {reporter.epoch or 1}: {outcome.reason}",
                          lease)


def _run_member(job_id: int, slot: GangSlot, slots: list[GangSlot]) -> None:
    with tempfile.TemporaryDirectory(prefix=f"job-{job_id}-rank-{slot.rank}-") as scratch:
        outcome = _train(job_id, slot, slots, scratch, reporter=None)
    if outcome.stopped or outcome.result is not None:
        return
    # Give the chief a moment: when it fails first (say, a NaN loss), this rank's collective
    # ops fail after it, and the chief's reason is the one users need.
    time.sleep(2 * POLL_S)
    services.fail_job(job_id, f"Worker {slot.worker} (rank {slot.rank} of {len(slots)}) failed: {outcome.reason}")


def _train(job_id: int, slot: GangSlot, slots: list[GangSlot], workdir, reporter) -> Outcome:
    """Runs trainer.multi_worker for this rank and supervises it until it ends. The chief
    (with a reporter) returns at its process's last message; another rank that finished
    keeps its slot alive until the chief has finished the job, so it never looks dead."""
    from trainer.multi_worker import cluster_config

    job = Job.objects.get(pk=job_id)
    # The same train() options as a single worker's (a fork's checkpoint, retention, ...), as JSON.
    options = services.train_options(job)
    options["retention"] = dataclasses.asdict(options["retention"])
    options.update({k: str(options[k]) for k in ("data_dir", "initial_weights") if k in options})
    config = {"spec": job.spec_dict(), "workdir": str(workdir), "report": reporter is not None, "options": options}
    env = {**os.environ, "TF_CONFIG": json.dumps(cluster_config([s.address for s in slots], slot.rank))}
    process = subprocess.Popen([sys.executable, "-m", "trainer.multi_worker"], cwd=settings.BASE_DIR, env=env,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    process.stdin.write(json.dumps(config))
    process.stdin.close()
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True).start()
    outcome, ended, checked = Outcome(), False, 0.0
    try:
        while True:
            try:
                line = lines.get(timeout=POLL_S)
            except queue.Empty:
                line = ""
            if line is None:
                ended = True
            elif line:
                _handle(line, outcome, reporter)
            last_message = outcome.result is not None or outcome.reason
            if reporter is not None and (last_message or ended):
                break
            if ended and outcome.result is None:
                break
            if time.monotonic() - checked >= POLL_S:
                checked = time.monotonic()
                outcome.stopped = _stop_reason(job_id, slot, slots, reporter)
                if outcome.stopped:
                    break
    finally:
        _end(process, grace_s=0 if outcome.stopped else 10)
    if outcome.stopped == "finished" and outcome.result is not None:
        outcome.stopped = ""
    if not outcome.stopped and outcome.result is None and not outcome.reason:
        outcome.reason = f"its training process exited with code {process.returncode}"
    if outcome.stopped not in ("", "cancel", "finished", "lease"):
        outcome.reason, outcome.stopped = outcome.stopped, ""  # a member died: the chief fails the job
    return outcome


def _read_lines(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def _handle(line: str, outcome: Outcome, reporter) -> None:
    try:
        message = json.loads(line)
    except ValueError:
        log.warning("unreadable line from a multi_worker process: %r", line[:200])
        return
    if "event" in message:
        if reporter is not None:
            reporter.on_event(message["event"], message.get("data") or {})
    elif "result" in message:
        outcome.result = message["result"]
    elif "failed" in message:
        outcome.reason, outcome.failed = message["failed"], True
    elif "error" in message:
        outcome.reason = message["error"]


def _stop_reason(job_id: int, slot: GangSlot, slots: list[GangSlot], reporter) -> str:
    """Why this member must end its training process now, or "" to go on."""
    _beat(slot)
    job = Job.objects.only("status", "cancel_requested").get(pk=job_id)
    if job.cancel_requested:
        return "cancel"
    if job.status not in (Status.QUEUED, Status.RUNNING):
        return "finished"
    if reporter is None:
        return ""
    if reporter.lease is not None and reporter.lease.lost.is_set():
        return "lease"
    stale = GangSlot.objects.filter(pk__in=[s.pk for s in slots], heartbeat_at__lt=leases.stale_before()).first()
    if stale is not None:
        return (f"worker {stale.worker} (rank {stale.rank}) stopped responding (last heartbeat "
                f"{stale.heartbeat_at.isoformat(timespec='seconds')}); multi_worker jobs do not "
                f"resume after losing a worker: submit the job again")
    return ""


def _end(process: subprocess.Popen, grace_s: float) -> None:
    # A rank that finished may linger in TensorFlow's gRPC shutdown; one we stop is killed.
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
