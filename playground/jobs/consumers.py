from __future__ import annotations

import contextlib
import logging
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from redis.exceptions import RedisError

from playground.jobs import events, services
from playground.jobs.models import Job, JobEvent
from playground.jobs.serializers import JobSerializer

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404  # also for another user's job: its existence is not revealed
CLOSE_BAD_REQUEST = 4400
CLOSE_TRY_AGAIN = 1013  # the channel layer (Redis) is unavailable; reconnect with ?after=<last seq>

log = logging.getLogger(__name__)


@database_sync_to_async
def _visible_job(user, job_id: int) -> Job | None:
    return services.visible_jobs(user).filter(pk=job_id).first()


def _events_after(job_id: int, after: int) -> list[dict]:
    return [event.message() for event in JobEvent.objects.filter(job_id=job_id, seq__gt=after).order_by("seq")]


_replay = database_sync_to_async(_events_after)


@database_sync_to_async
def _snapshot_and_replay(job_id: int, after: int, job_data) -> tuple[dict, list[dict]]:
    job = Job.objects.select_related("owner").get(pk=job_id)
    return job_data(job), _events_after(job_id, after)


class ClientFramesConsumer(AsyncJsonWebsocketConsumer):
    """Answers every client frame it cannot use with ``{"type": "error", "error": ...}`` and
    keeps the connection: one bad frame must not cost a client its live stream.

    A frame ``{"type": t, ...}`` with t in ``client_frames`` goes to ``frame_<t>(content)``;
    invalid JSON, binary frames and other types get the error frame.
    """

    client_frames: tuple[str, ...] = ("ping",)

    async def __call__(self, scope, receive, send):
        # Redis gone: close with 1013 and one log line instead of a crash and a traceback per
        # socket; clients reconnect and replay from their last seq once it is back.
        try:
            await super().__call__(scope, receive, send)
        except (RedisError, OSError) as exc:
            log.warning("%s: channel layer unavailable (%s: %s); closing with %s", scope.get("path"),
                        type(exc).__name__, exc, CLOSE_TRY_AGAIN)
            with contextlib.suppress(Exception):
                await send({"type": "websocket.close", "code": CLOSE_TRY_AGAIN})

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        if text_data is None:
            await self.send_error("Binary frames are not understood; send JSON text frames.")
            return
        try:
            content = await self.decode_json(text_data)
        except (ValueError, RecursionError):
            await self.send_error("The frame is not valid JSON.")
            return
        await self.receive_json(content, **kwargs)

    async def receive_json(self, content, **kwargs):
        kind = content.get("type") if isinstance(content, dict) else None
        if not isinstance(kind, str) or kind not in self.client_frames:
            accepted = ", ".join(f'"{name}"' for name in self.client_frames)
            await self.send_error(f"Unknown frame; send a JSON object whose type is one of {accepted}.")
            return
        await getattr(self, f"frame_{kind}")(content)

    async def frame_ping(self, content):
        await self.send_json({"type": "pong"})

    async def send_error(self, error: str) -> None:
        await self.send_json({"type": "error", "error": error})


class JobConsumer(ClientFramesConsumer):
    """/ws/jobs/<id>/?after=<seq>: a snapshot, the stored events after <seq>, then live events.

    Client frames: ``{"type": "ping"}`` → ``{"type": "pong"}``; ``{"type": "resume", "after": n}``
    → the stored events after n again (a client that noticed a gap). Consumers never change
    job state; clients use the REST API for that.
    """

    client_frames = ("ping", "resume")

    async def connect(self):
        await self.accept()
        refusal = await self.check_access()
        if refusal is not None:
            await self.close(code=refusal)
            return
        after = _after_from_query(self.scope)
        if after is None:
            await self.close(code=CLOSE_BAD_REQUEST)
            return
        # Join before reading the replay: live events that arrive meanwhile queue up behind
        # connect() and are de-duplicated by seq in job_event.
        self.group = events.group_name(self.job_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        snapshot, replay = await _snapshot_and_replay(self.job_id, after, self.job_data)
        await self.send_json({"seq": after, "type": "snapshot", "job": self.job_id, "data": snapshot})
        self.last_seq = after
        for message in replay:
            await self._send_event(message)

    async def check_access(self) -> int | None:
        """Sets self.job_id if the connection may watch that job, else returns the close code."""
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            return CLOSE_UNAUTHENTICATED
        self.job_id = int(self.scope["url_route"]["kwargs"]["job_id"])
        if await _visible_job(user, self.job_id) is None:
            return CLOSE_NOT_FOUND
        return None

    def job_data(self, job: Job) -> dict:
        return JobSerializer(job).data

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def frame_resume(self, content):
        after = content.get("after")
        if isinstance(after, bool) or not isinstance(after, int) or after < 0:
            await self.send_error('"resume" needs "after": the last seq you have (an integer ≥ 0).')
            return
        # Live events wait behind this handler, so none slips between the read and last_seq.
        self.last_seq = after
        for message in await _replay(self.job_id, after):
            await self._send_event(message)

    async def dispatch(self, message):
        # Channels closes stale database connections before every handler: a hop to the one
        # sync thread. Relaying an event touches no database, and with hundreds of watchers
        # per job those hops (one per watcher per event) were most of the server's work
        # (benchmarks/ws_fanout.py).
        if message["type"] == "job.event":
            await self.job_event(message)
        else:
            await super().dispatch(message)

    async def job_event(self, message):
        await self._send_event(message["event"])

    async def _send_event(self, event: dict) -> None:
        if event["seq"] > self.last_seq:
            self.last_seq = event["seq"]
            await self.send_json(event)


def _after_from_query(scope) -> int | None:
    values = parse_qs(scope.get("query_string", b"").decode()).get("after")
    if not values:
        return 0
    try:
        after = int(values[-1])
    except ValueError:
        return None
    return after if after >= 0 else None
