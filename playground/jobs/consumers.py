from __future__ import annotations

import contextlib
import logging
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from redis.exceptions import RedisError

from playground.jobs import events, services
from playground.jobs.models import Job, JobEvent
from playground.jobs.serializers import JobSerializer
from playground.jobs.ws_limits import ResumeBudget, release_socket_slot, take_socket_slot

CLOSE_UNAUTHENTICATED = 4401  # also when the token or share link the socket was opened with is revoked
CLOSE_NOT_FOUND = 4404  # also for another user's job: its existence is not revealed
CLOSE_BAD_REQUEST = 4400
CLOSE_TOO_MANY = 4429  # the user has PLAYGROUND_WS_PER_USER sockets open already
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

    ``admit()`` counts the socket against its user's PLAYGROUND_WS_PER_USER and joins the groups
    of the credentials it was opened with; an ``auth.revoked`` message on one of them closes the
    socket with 4401.
    """

    client_frames: tuple[str, ...] = ("ping",)
    closed = False
    slot_owner: str | None = None
    credential_groups: tuple[str, ...] = ()

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
        finally:
            # Here rather than in disconnect(), which a crashed consumer never reaches.
            await self._release_slot()

    async def admit(self, *groups: str) -> int | None:
        """Lets the socket in (None) or returns the close code; `groups` are credential groups
        beyond the scope's (a share link's)."""
        user = self.scope.get("user")
        owner = f"user.{user.pk}" if user is not None and user.is_authenticated \
            else f"addr.{(self.scope.get('client') or ('?',))[0]}"
        if not await sync_to_async(take_socket_slot, thread_sensitive=False)(owner):
            return CLOSE_TOO_MANY
        self.slot_owner = owner
        self.credential_groups = tuple(g for g in (self.scope.get("credential_group"), *groups) if g)
        for group in self.credential_groups:
            await self.channel_layer.group_add(group, self.channel_name)
        return None

    async def refuse(self, code: int) -> None:
        reasons = {CLOSE_TOO_MANY: f"Too many open WebSockets: at most {settings.PLAYGROUND_WS_PER_USER} "
                                   "per user. Close some and connect again."}
        await self.close(code=code, reason=reasons.get(code))

    async def leave_groups(self) -> None:
        """Leaves every group this socket joined; subclasses add theirs."""
        for group in self.credential_groups:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.credential_groups = ()

    async def auth_revoked(self, message):
        # Groups first: an event relayed after the close frame would be an ASGI error.
        await self.leave_groups()
        await self.close(code=CLOSE_UNAUTHENTICATED,
                         reason="The token or share link this connection was opened with was revoked.")

    async def close(self, code=None, reason=None):
        self.closed = True
        await super().close(code=code, reason=reason)

    async def send_json(self, content, close=False):
        if self.closed:
            return  # messages still queued for this channel after our close frame
        await super().send_json(content, close)

    async def _release_slot(self) -> None:
        owner, self.slot_owner = self.slot_owner, None
        if owner is not None:
            with contextlib.suppress(Exception):  # the count's expiry forgives a lost release
                await sync_to_async(release_socket_slot, thread_sensitive=False)(owner)

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        if self.closed:
            return  # frames that crossed our close frame
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
        after = _after_from_query(self.scope)
        refusal = await self.check_access()
        if refusal is None and after is None:
            refusal = CLOSE_BAD_REQUEST
        if refusal is None:
            refusal = await self.admit(*self.extra_credential_groups())
        if refusal is not None:
            await self.refuse(refusal)
            return
        self.resumes = ResumeBudget()
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

    def extra_credential_groups(self) -> tuple[str, ...]:
        return ()

    def job_data(self, job: Job) -> dict:
        return JobSerializer(job).data

    async def disconnect(self, code):
        await self.leave_groups()

    async def leave_groups(self) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)
            del self.group
        await super().leave_groups()

    async def frame_resume(self, content):
        after = content.get("after")
        if isinstance(after, bool) or not isinstance(after, int) or after < 0:
            await self.send_error('"resume" needs "after": the last seq you have (an integer ≥ 0).')
            return
        wait = self.resumes.wait()
        if wait:
            limit = settings.PLAYGROUND_WS_RESUMES_PER_MINUTE
            await self.send_error(f'Too many "resume" frames: at most {limit} a minute per connection. '
                                  f"Try again in {max(1, round(wait))} s, or reconnect with ?after=<seq>.")
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
