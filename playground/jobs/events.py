"""The one way to publish a job event: persist it with the next sequence number, then send it
to the channel-layer group ``job.<id>``, and a small notice to the staff dashboard's group.

Group sends always run on one long-lived event loop: the ASGI server's loop when this process
serves HTTP (registered at lifespan startup), otherwise a private loop thread. Channels'
in-memory layer belongs to one loop, and a send from another loop reached consumers only when
their receive timed out (~10 s late); channels_redis keeps one connection pool per loop, so one
loop also means one pool instead of a new connection per event.
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable

from channels.layers import get_channel_layer
from django.db import transaction
from django.db.models import F

from playground.jobs.models import Job, JobEvent

log = logging.getLogger(__name__)

_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()
SEND_TIMEOUT_S = 5.0


# Staff dashboards (playground/ops/consumers.py) re-read their snapshot on this notice.
DASHBOARD_GROUP = "dashboard"


def group_name(job_id: int) -> str:
    return f"job.{job_id}"


def use_loop(loop: asyncio.AbstractEventLoop | None) -> None:
    """Route group sends through ``loop`` (the server's); None goes back to a private loop."""
    global _loop
    with _loop_lock:
        _loop = loop


def _forget_loop_after_fork() -> None:
    # A forked child (a Celery prefork pool process) inherits the parent's private loop but
    # not the thread that runs it: every send then waited SEND_TIMEOUT_S and failed, for
    # every event (a replacement pool child after the watchdog had published in the parent).
    # The child starts its own loop on first use; the lock may have been held mid-fork.
    global _loop, _loop_lock
    _loop = None
    _loop_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_loop_after_fork)


def _publisher_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _loop_lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="event-publisher", daemon=True).start()
            _loop = loop
        return _loop


def publish(job_id: int, type: str, data: dict, fold: Callable[[Job], list[str]] | None = None) -> dict:
    """Persist an event (and fold it into the job's summary fields), then broadcast it.

    ``fold`` runs inside the same transaction on the locked job row and returns the names of
    the fields it changed. Returns the message as clients receive it.
    """
    with transaction.atomic():
        # The UPDATE takes the row lock first, so concurrent publishers get distinct seqs.
        Job.objects.filter(pk=job_id).update(last_seq=F("last_seq") + 1)
        job = Job.objects.get(pk=job_id)
        event = JobEvent.objects.create(job=job, seq=job.last_seq, type=type, data=data)
        if fold is not None:
            changed = fold(job)
            if changed:
                job.save(update_fields=changed)
    message = event.message()
    transaction.on_commit(lambda: broadcast(message))
    return message


def publish_first(job: Job, type: str, data: dict) -> dict:
    """`publish` for the first event of a job created in the current transaction with
    ``last_seq=1``: no one else can see its row before the commit, so seq 1 needs no UPDATE and
    re-read of the row (two of a submission's round trips)."""
    if job.last_seq != 1 or not transaction.get_connection().in_atomic_block:
        raise ValueError("publish_first() is for a job created with last_seq=1 in the current transaction")
    message = JobEvent.objects.create(job=job, seq=1, type=type, data=data).message()
    transaction.on_commit(lambda: broadcast(message))
    return message


def broadcast(message: dict) -> None:
    """Send a persisted message to its job's group; a failure is logged, never raised."""
    layer = get_channel_layer()
    if layer is not None:
        # The event is already stored; clients catch up by seq on reconnect.
        _on_publisher_loop(_send(layer, message), f"event {message['seq']} of job {message['job']}")


def _on_publisher_loop(coro, what: str) -> None:
    """Runs a channel-layer send on the publisher loop and waits for it (up to
    SEND_TIMEOUT_S), or schedules it when called on that loop; logs a failure, never raises."""
    try:
        loop = _publisher_loop()
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            loop.create_task(coro)
            return
        asyncio.run_coroutine_threadsafe(coro, loop).result(SEND_TIMEOUT_S)
    except Exception as exc:
        # One line, no traceback: with Redis down this happens for every event until it returns.
        log.warning("could not broadcast %s: %s: %s", what, type(exc).__name__, exc)


async def _send(layer, message: dict) -> None:
    # Both sends in one handoff to the publisher loop, concurrently: one wait per event.
    notice = {"type": "dashboard.changed", "job": message["job"], "event": message["type"]}
    await asyncio.gather(
        layer.group_send(group_name(message["job"]), {"type": "job.event", "event": message}),
        layer.group_send(DASHBOARD_GROUP, notice),
    )


def send_to_group(group: str, message: dict) -> None:
    """Send one message to a channel-layer group on the publisher loop, as broadcast() does
    (for messages that are not job events, e.g. ``auth.revoked``); a failure is logged, never
    raised."""
    layer = get_channel_layer()
    if layer is not None:
        _on_publisher_loop(layer.group_send(group, message), f"{message.get('type')} to group {group}")
