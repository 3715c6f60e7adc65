"""The worker registry and routing by GPU count.

One Celery queue per GPU count: a job asking for n GPUs goes to queue `gpu-<n>` (0: "training"),
and a worker with k GPUs consumes "training" plus gpu-1 … gpu-k, so any worker with at least n
GPUs can take it and none with fewer ever sees it. A job asking for more GPUs than any online
worker has is still accepted: it waits in its queue (plain Celery behaviour) until such a worker
joins, and `waiting_for()` tells its owner why it has not started.

A worker's life in the registry (signals connected in playground/celery.py):

* `celeryd_after_setup`: `probe_devices()` finds its devices in a subprocess, because the parent
  of a prefork pool must not import TensorFlow (CUDA does not survive fork), and
  `select_worker_queues()` adds its gpu-k queues to the ones -Q chose.
  PLAYGROUND_WORKER_QUEUES, when set, replaces both: it is the exact list the worker consumes.
* `worker_ready`: `worker_started()` upserts its WorkerNode and starts a heartbeat thread that
  refreshes `last_seen` and `current_job` every PLAYGROUND_HEARTBEAT_S.
* `worker_shutdown`: `worker_stopped()` deletes its row. A worker killed without a shutdown
  keeps its row, which goes offline once `last_seen` is older than PLAYGROUND_LEASE_TIMEOUT_S
  (the job lease timeout), and is taken over when a worker of that hostname starts again.

The embedded worker (playground/embedded.py) does the same through these functions.
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading

from django.conf import settings
from django.db import close_old_connections, connection
from django.db.models import QuerySet
from django.utils import timezone

from playground.jobs.leases import stale_before
from playground.jobs.models import Job
from playground.ops.models import WorkerNode
from trainer.spec import gang_size

log = logging.getLogger(__name__)

DEFAULT_QUEUE = "training"
GPU_QUEUE_PREFIX = "gpu-"

# Runs in a fresh interpreter: the devices a pool process of this worker will see, after the
# same PLAYGROUND_CPU_REPLICAS split that worker_process_init applies.
_PROBE = """
import json, sys
from trainer.devices import configure_devices, list_devices
configure_devices(int(sys.argv[1]))
print(json.dumps(list_devices()))
"""
PROBE_TIMEOUT_S = 300

_heartbeats: dict[str, tuple[threading.Event, threading.Thread]] = {}


def queue_for(gpus: int) -> str:
    """The queue of a job asking for `gpus` GPUs."""
    return f"{GPU_QUEUE_PREFIX}{gpus}" if gpus > 0 else DEFAULT_QUEUE


def queues_for_worker(gpus: int, base: list[str]) -> list[str]:
    """`base` (the worker's -Q queues) plus gpu-1 … gpu-<gpus>, or PLAYGROUND_WORKER_QUEUES."""
    if settings.PLAYGROUND_WORKER_QUEUES:
        return list(settings.PLAYGROUND_WORKER_QUEUES)
    return list(dict.fromkeys([*base, *(queue_for(n) for n in range(1, gpus + 1))]))


def probe_devices() -> list[dict]:
    """Lists this machine's training devices, `[{"name", "type": "GPU"|"CPU", "model"?}]`.

    GPUs are the logical GPUs a job can use; CPUs are the logical CPU devices (2 with
    PLAYGROUND_CPU_REPLICAS=2), which mirrored jobs use on a worker without GPUs. A probe that
    fails is logged and reads as CPU-only: the worker then takes only CPU jobs.
    """
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    try:
        completed = subprocess.run(
            [sys.executable, "-c", _PROBE, str(settings.PLAYGROUND_CPU_REPLICAS)], cwd=settings.BASE_DIR,
            env=env, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, check=True)
        found = json.loads(completed.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError) as exc:
        stderr = getattr(exc, "stderr", "") or ""
        log.error("device probe failed; advertising no GPUs: %s %s", exc, stderr[-2000:])
        return []
    models = found.get("gpu_models", [])
    gpus = [{"name": name, "type": "GPU", "model": models[i] if i < len(models) else ""}
            for i, name in enumerate(found.get("gpus", []))]
    return gpus + [{"name": name, "type": "CPU"} for name in found.get("cpus", [])]


def gpu_count(devices: list[dict]) -> int:
    return sum(1 for device in devices if device.get("type") == "GPU")


def select_worker_queues(app, devices: list[dict]) -> list[str]:
    """Makes the worker consume its queues (Celery's `celeryd_after_setup` way); returns them."""
    queues = app.amqp.queues
    wanted = queues_for_worker(gpu_count(devices), list(queues.consume_from))
    for name in wanted:
        queues.select_add(name)
    if settings.PLAYGROUND_WORKER_QUEUES:
        queues.deselect([name for name in list(queues.consume_from) if name not in wanted])
    return wanted


def online() -> QuerySet:
    """Workers heard from within the lease timeout."""
    return WorkerNode.objects.filter(last_seen__gte=stale_before())


def register(hostname: str, queues: list[str], devices: list[dict]) -> WorkerNode:
    now = timezone.now()
    node, _ = WorkerNode.objects.update_or_create(hostname=hostname, defaults={
        "queues": queues, "devices": devices, "gpus": gpu_count(devices), "pid": os.getpid(),
        "current_job": None, "started_at": now, "last_seen": now})
    return node


def beat(hostname: str) -> bool:
    """Refreshes `last_seen` and `current_job` (the running job whose lease names this worker:
    with a prefork pool only the child knows the task, but the lease is in the database).
    False when the row is gone (deleted by an operator)."""
    running = (Job.objects.filter(worker=hostname, status=Job.Status.RUNNING)
               .order_by("-started_at").values_list("pk", flat=True).first())
    return bool(WorkerNode.objects.filter(hostname=hostname).update(last_seen=timezone.now(), current_job_id=running))


def worker_started(hostname: str, queues: list[str], devices: list[dict],
                   interval_s: float | None = None) -> WorkerNode:
    """Registers the worker and heartbeats it from a daemon thread until `worker_stopped`."""
    node = register(hostname, queues, devices)
    connection.close()  # the calling thread (a prefork parent's main thread) is done with it
    interval = settings.PLAYGROUND_HEARTBEAT_S if interval_s is None else interval_s
    _stop_heartbeat(hostname)
    done = threading.Event()

    def loop() -> None:
        while not done.wait(interval):
            try:
                close_old_connections()
                if not beat(hostname):
                    register(hostname, queues, devices)
            except Exception:  # a database hiccup: the next beat may make it
                log.exception("worker %s: registry heartbeat failed", hostname)
            finally:
                # No connection kept between beats: a prefork child forked meanwhile would
                # inherit its socket and could close it under us.
                connection.close()

    thread = threading.Thread(target=loop, name=f"registry-{hostname}", daemon=True)
    _heartbeats[hostname] = (done, thread)
    thread.start()
    log.info("worker %s registered: queues %s, %d GPU(s), devices %s", hostname, queues,
             node.gpus, [d["name"] for d in devices])
    return node


def worker_stopped(hostname: str) -> None:
    """Stops the heartbeat and deletes the worker's row: a stopped worker is not a worker."""
    _stop_heartbeat(hostname)
    connection.close()  # a pool child that exited may have closed the inherited one
    WorkerNode.objects.filter(hostname=hostname).delete()
    connection.close()
    log.info("worker %s unregistered", hostname)


def _stop_heartbeat(hostname: str) -> None:
    # Joined, not just signalled: a beat in flight would register the row again.
    done, thread = _heartbeats.pop(hostname, (None, None))
    if done is not None:
        done.set()
        thread.join(timeout=10)


def workers_serving(queue: str) -> int:
    """How many online workers consume `queue`."""
    return sum(queue in node.queues for node in online().only("queues"))


def gang_error(spec) -> str | None:
    """Why a multi_worker:<n> job cannot be accepted now, or None: fewer than n workers are
    online on its queue, so the gang could never form, and the member that joined first
    would hold a worker until the gang timeout (a multi_worker:64 held the only one 300 s)."""
    members = gang_size(spec.strategy)
    if members <= 1:
        return None
    queue = queue_for(spec.gpus)
    serving = workers_serving(queue)
    if serving >= members:
        return None
    return (f"{spec.strategy} needs {members} workers on queue {queue}; {serving} online now. Start more "
            "workers, or ask for fewer (or the default strategy).")


def waiting_for(job: Job) -> str | None:
    """Why a job is not making progress, or None: a running job whose worker stopped
    answering, or a queued one that no online worker can take (its GPU queue, or fewer
    online workers than its multi_worker gang needs)."""
    if job.engine == "browser":
        return None  # a tab trains it: `browser_stopped` says when that tab went away
    if job.status == Job.Status.RUNNING:
        return _silent_worker(job)
    if job.status != Job.Status.QUEUED:
        return None
    members = gang_size(job.strategy)
    if job.gpus <= 0 and members <= 1:
        return None
    serving = workers_serving(job.queue)
    if members > 1 and serving < members:
        return (f"Waiting for {members} workers on queue {job.queue}: {serving} online. The job fails if "
                f"they have not all joined within {settings.PLAYGROUND_GANG_TIMEOUT_S:g} s of the first one.")
    if serving:
        return None
    plural = "s" if job.gpus > 1 else ""
    return (f"Waiting for a worker with {job.gpus} GPU{plural}: no online worker consumes queue "
            f"{job.queue}. The job starts when one joins.")


def _silent_worker(job: Job) -> str | None:
    # Two missed heartbeats: the worker is busy or gone; past the lease it is presumed gone.
    if job.heartbeat_at is None:
        return None
    silent = (timezone.now() - job.heartbeat_at).total_seconds()
    if silent < 2 * settings.PLAYGROUND_HEARTBEAT_S:
        return None
    lease, watchdog = settings.PLAYGROUND_LEASE_TIMEOUT_S, settings.PLAYGROUND_WATCHDOG_S
    if gang_size(job.strategy) > 1:
        then = "the job fails, since multi_worker jobs do not resume"
    elif silent < lease:
        then = (f"if it stays silent for {lease:g} s another worker takes the job over from its last "
                f"checkpoint (within {lease + watchdog - silent:.0f} s)")
    else:
        then = f"another worker will take the job over from its last checkpoint within {watchdog:g} s"
    return f"Its worker {job.worker or '?'} stopped answering {silent:.0f} s ago; {then}."
