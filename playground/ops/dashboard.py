"""The staff dashboard: one snapshot of jobs, queues, workers, throughput and failures, built
from the database (and the broker's queue lengths when Redis is the broker). The page renders
it at once; playground/ops/consumers.py pushes fresh ones over /ws/dashboard/."""
from __future__ import annotations

import functools
import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from playground.jobs.leases import stale_before
from playground.jobs.models import Job
from playground.ops.models import WorkerNode

log = logging.getLogger(__name__)
Status = Job.Status

RECENT_JOBS = 50
ACTIVE_JOBS_MAX = 200
RECENT_FAILURES = 10
ERROR_CHARS = 500
# The columns a job row is built from: no big JSON fields (metrics, analysis, artifacts).
JOB_FIELDS = ("id", "owner__username", "recipe", "dataset", "status", "queue", "gpus", "worker", "attempts",
              "cancel_requested", "heartbeat_at", "progress", "created_at", "started_at", "finished_at", "error")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@functools.lru_cache(maxsize=4096)  # reverse() is most of a row's cost; ids never change
def _job_url(job_id: int) -> str:
    return reverse("job-detail", args=[job_id])


def _job_row(job: dict, horizon: datetime) -> dict:
    progress = job["progress"] or {}
    heartbeat_at = job.pop("heartbeat_at")
    owner = job.pop("owner__username")
    return {
        **job,
        "owner": owner,
        "url": _job_url(job["id"]),
        # A running job whose worker stopped heartbeating: the one to requeue.
        "stale": job["status"] == Status.RUNNING and (heartbeat_at is None or heartbeat_at < horizon),
        "progress": {k: progress.get(k) for k in ("epoch", "epochs", "step", "steps", "samples_per_s")},
        "created_at": _iso(job["created_at"]),
        "started_at": _iso(job["started_at"]),
        "finished_at": _iso(job["finished_at"]),
        "error": job["error"][:ERROR_CHARS],
    }


def _jobs(horizon: datetime) -> list[dict]:
    """Every queued or running job (up to ACTIVE_JOBS_MAX), plus the RECENT_JOBS newest."""
    jobs = Job.objects.values(*JOB_FIELDS)
    active = list(jobs.filter(status__in=[Status.QUEUED, Status.RUNNING])[:ACTIVE_JOBS_MAX])
    seen = {job["id"] for job in active}
    recent = [job for job in jobs[:RECENT_JOBS] if job["id"] not in seen]
    merged = sorted(active + recent, key=lambda job: (job["created_at"], job["id"]), reverse=True)
    return [_job_row(job, horizon) for job in merged]


def _workers(online_since: datetime) -> list[dict]:
    rows = []
    nodes = WorkerNode.objects.values("hostname", "queues", "devices", "gpus", "pid", "started_at", "last_seen",
                                      "current_job_id", "current_job__recipe", "current_job__status")
    for node in nodes:
        job_id = node.pop("current_job_id")
        recipe, status = node.pop("current_job__recipe"), node.pop("current_job__status")
        rows.append({
            **node,
            "online": node["last_seen"] is not None and node["last_seen"] >= online_since,
            "current_job": {"id": job_id, "recipe": recipe, "status": status, "url": _job_url(job_id)} if job_id else None,
            "started_at": _iso(node["started_at"]),
            "last_seen": _iso(node["last_seen"]),
        })
    rows.sort(key=lambda row: (not row["online"], row["hostname"]))
    return rows


def broker_queue_lengths(queues: list[str]) -> dict[str, int] | None:
    """Messages waiting in the Redis broker per Celery queue (LLEN over the queue's priority
    lists, as kombu names them); None without Redis or when it cannot be reached."""
    if not settings.REDIS_URL:
        return None
    from kombu.transport.redis import PRIORITY_STEPS, Channel

    keys = {queue: [queue if step == 0 else f"{queue}{Channel.sep}{step}" for step in PRIORITY_STEPS]
            for queue in queues}
    try:
        pipe = _redis().pipeline(transaction=False)
        for names in keys.values():
            for name in names:
                pipe.llen(name)
        lengths = iter(pipe.execute())
    except Exception as exc:  # the dashboard still shows the database's view
        log.warning("dashboard: cannot read queue lengths from Redis: %s", exc)
        return None
    return {queue: sum(next(lengths) for _ in names) for queue, names in keys.items()}


_redis_client = None


def _redis():
    # One client (and connection pool) per process; short timeouts so a dead Redis cannot
    # stall the snapshot.
    global _redis_client
    if _redis_client is None:
        import redis

        _redis_client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
    return _redis_client


def _queues(workers: list[dict]) -> list[dict]:
    by_queue = {
        row["queue"]: row
        for row in Job.objects.filter(status__in=[Status.QUEUED, Status.RUNNING]).values("queue").annotate(
            queued=Count("pk", filter=Q(status=Status.QUEUED)), running=Count("pk", filter=Q(status=Status.RUNNING))
        )
    }
    names = set(by_queue) | {Job._meta.get_field("queue").default}
    names |= {queue for worker in workers if worker["online"] for queue in worker["queues"]}
    broker = broker_queue_lengths(sorted(names))
    return [
        {
            "name": name,
            "queued": by_queue.get(name, {}).get("queued", 0),
            "running": by_queue.get(name, {}).get("running", 0),
            "broker": broker.get(name) if broker is not None else None,
            "workers": sum(1 for w in workers if w["online"] and name in w["queues"]),
        }
        for name in sorted(names)
    ]


def _throughput(now: datetime) -> dict:
    hour_ago = now - timedelta(hours=1)
    finished = dict(
        Job.objects.filter(finished_at__gte=hour_ago).values_list("status").annotate(n=Count("pk")).order_by()
    )
    running = Job.objects.filter(status=Status.RUNNING).values_list("progress", flat=True)
    samples_per_s = sum(float((progress or {}).get("samples_per_s") or 0) for progress in running)
    return {
        "finished_last_hour": sum(finished.values()),
        "succeeded_last_hour": finished.get(Status.SUCCEEDED, 0),
        "failed_last_hour": finished.get(Status.FAILED, 0),
        "cancelled_last_hour": finished.get(Status.CANCELLED, 0),
        "samples_per_s": round(samples_per_s, 1),
    }


def _failures() -> list[dict]:
    failed = (Job.objects.filter(status=Status.FAILED).order_by("-finished_at", "-id")
              .values("id", "owner__username", "recipe", "dataset", "worker", "finished_at", "error"))
    rows = []
    for job in failed[:RECENT_FAILURES]:
        owner = job.pop("owner__username")
        rows.append({**job, "owner": owner, "url": _job_url(job["id"]), "finished_at": _iso(job["finished_at"]),
                     "error": job["error"][:ERROR_CHARS]})
    return rows


def snapshot(now: datetime | None = None) -> dict:
    """Everything the dashboard shows, JSON-ready."""
    now = now or timezone.now()
    # One horizon for both: a worker is offline, and a running job's lease stale, after
    # PLAYGROUND_LEASE_TIMEOUT_S without a heartbeat.
    horizon = stale_before(now)
    workers = _workers(horizon)
    return {
        "at": _iso(now),
        "jobs": _jobs(horizon),
        "queues": _queues(workers),
        "workers": workers,
        "throughput": _throughput(now),
        "failures": _failures(),
        "lease_timeout_s": settings.PLAYGROUND_LEASE_TIMEOUT_S,
    }


@login_required
def dashboard(request):
    """Staff only; anyone else logged in gets the 404 of a page that does not exist."""
    if not request.user.is_staff:
        raise Http404("No such page.")
    return render(request, "ops/dashboard.html", {"snapshot": snapshot()})
