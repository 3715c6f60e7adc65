from __future__ import annotations

from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from playground.jobs import events, services
from playground.jobs.models import Job
from playground.jobs.serializers import JobSerializer

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404  # also for another user's job: its existence is not revealed
CLOSE_BAD_REQUEST = 4400


@database_sync_to_async
def _visible_job(user, job_id: int) -> Job | None:
    return services.visible_jobs(user).filter(pk=job_id).first()


@database_sync_to_async
def _snapshot_and_replay(job_id: int, after: int) -> tuple[dict, list[dict]]:
    job = Job.objects.select_related("owner").get(pk=job_id)
    replay = [event.message() for event in job.events.filter(seq__gt=after).order_by("seq")]
    return JobSerializer(job).data, replay


class JobConsumer(AsyncJsonWebsocketConsumer):
    """/ws/jobs/<id>/?after=<seq>: a snapshot, the stored events after <seq>, then live events."""

    async def connect(self):
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.job_id = int(self.scope["url_route"]["kwargs"]["job_id"])
        job = await _visible_job(user, self.job_id)
        if job is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        after = _after_from_query(self.scope)
        if after is None:
            await self.close(code=CLOSE_BAD_REQUEST)
            return
        # Join before reading the replay: live events that arrive meanwhile queue up behind
        # connect() and are de-duplicated by seq in job_event.
        self.group = events.group_name(self.job_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        snapshot, replay = await _snapshot_and_replay(self.job_id, after)
        await self.send_json({"seq": after, "type": "snapshot", "job": self.job_id, "data": snapshot})
        self.last_seq = after
        for message in replay:
            await self._send_event(message)

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        # Consumers never change job state; clients use the REST API for that.
        pass

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
