from __future__ import annotations

import asyncio
import contextlib
import logging

from channels.db import database_sync_to_async

from playground.jobs.consumers import CLOSE_UNAUTHENTICATED, ClientFramesConsumer
from playground.jobs.events import DASHBOARD_GROUP
from playground.ops.dashboard import snapshot

log = logging.getLogger(__name__)

CLOSE_FORBIDDEN = 4403
# At most one snapshot per MIN_INTERVAL_S per client however many events arrive, and one every
# REFRESH_S without events: worker liveness and queue lengths change without job events.
MIN_INTERVAL_S = 0.5
REFRESH_S = 2.0


class DashboardConsumer(ClientFramesConsumer):
    """/ws/dashboard/ (staff): a snapshot on connect, then a fresh one after job events
    ("dashboard.changed" notices from events.publish) and every REFRESH_S.

    Client frames: ``{"type": "refresh"}`` → a snapshot soon (after an action), ``{"type": "ping"}``
    → ``{"type": "pong"}``. Read-only: actions go through the REST API.
    """

    client_frames = ("ping", "refresh")

    async def connect(self):
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if not user.is_staff:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        refusal = await self.admit()
        if refusal is not None:
            await self.refuse(refusal)
            return
        self.changed = asyncio.Event()
        await self.channel_layer.group_add(DASHBOARD_GROUP, self.channel_name)
        await self._send_snapshot()
        self.pump = asyncio.create_task(self._pump())

    async def disconnect(self, code):
        await self.leave_groups()

    async def leave_groups(self) -> None:
        if hasattr(self, "pump"):
            self.pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.pump
            del self.pump
        if hasattr(self, "changed"):
            await self.channel_layer.group_discard(DASHBOARD_GROUP, self.channel_name)
        await super().leave_groups()

    async def frame_refresh(self, content):
        if hasattr(self, "changed"):  # not before connect() accepted the client as staff
            self.changed.set()

    async def dashboard_changed(self, message):
        self.changed.set()

    async def _pump(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), timeout=REFRESH_S)
            self.changed.clear()
            try:
                await self._send_snapshot()
            except Exception:  # a database hiccup: the next round may make it
                log.exception("dashboard: could not build a snapshot")
            await asyncio.sleep(MIN_INTERVAL_S)

    async def _send_snapshot(self) -> None:
        await self.send_json({"type": "snapshot", "data": await database_sync_to_async(snapshot)()})
