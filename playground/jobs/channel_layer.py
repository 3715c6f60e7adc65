"""One channel-layer subscription per job group per process, however many sockets watch the job.

The WebSockets of this process that watch job <id> are members of one `GroupRelay`. The relay's
channel is this process's only member of the group ``job.<id>``, so a group send costs the
channel layer one message per process instead of one per watcher; the relay serialises each
event once and hands the same frame to every member in turn, so no watcher has a queue, a task
and a dispatch per event. With 500 watchers of one job at 50 events/s, the per-watcher path
(channels_redis copying each message per channel, a receive and a dispatch per consumer, a
json.dumps per socket) cost ~100 µs of server CPU per delivered event (benchmarks/ws_fanout.py).

It works over any channel layer: channels_redis' RedisChannelLayer (REDIS_URL) or the
InMemoryChannelLayer of the embedded mode. The relay lives on the loop its members run on.

Channels' RedisPubSubChannelLayer would also send one message per process, but it loses what is
published while Redis is away without telling its receivers (its reader logs and resubscribes),
so sockets stayed open with a gap and never replayed it (tests/integration/test_redis_restart.py).
With the core layer a relay whose receive fails closes its sockets with 1013, and clients
reconnect with their last seq.
"""
from __future__ import annotations

import asyncio
import json
import logging
import weakref
from typing import Protocol

log = logging.getLogger(__name__)


class Member(Protocol):
    async def job_event(self, message: dict) -> None:
        """Sends (or holds) ``message["event"]``; ``message["frame"]`` is its JSON text."""

    async def channel_layer_failed(self) -> None:
        """The relay's receive failed (Redis is gone): close the socket so the client reconnects."""


_relays: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple, GroupRelay]] = weakref.WeakKeyDictionary()


def _relays_here() -> dict[tuple, GroupRelay]:
    return _relays.setdefault(asyncio.get_running_loop(), {})


async def join(layer, group: str, member: Member) -> None:
    """Adds `member` to this process's relay of `group`, subscribing the relay first if it is
    the group's first member here. Raises what the channel layer raises (Redis down)."""
    relays = _relays_here()
    relay = relays.get((layer, group))
    if relay is None:
        relay = relays[(layer, group)] = GroupRelay(layer, group)
    relay.members[member] = None
    try:
        await relay.subscribed()
    except BaseException:
        # Redis refused, or the socket closed while the relay subscribed.
        relay.members.pop(member, None)
        if not relay.members and relays.get((layer, group)) is relay:
            del relays[(layer, group)]
            asyncio.get_running_loop().create_task(relay.stop())
        raise


async def leave(layer, group: str, member: Member) -> None:
    """Removes `member`; the last one to leave unsubscribes the relay."""
    relays = _relays_here()
    relay = relays.get((layer, group))
    if relay is None or member not in relay.members:
        return
    del relay.members[member]
    if not relay.members:
        del relays[(layer, group)]
        await relay.stop()


def members(layer, group: str) -> int:
    """How many sockets of this process the relay of `group` serves (0: none)."""
    relay = _relays_here().get((layer, group))
    return len(relay.members) if relay is not None else 0


class GroupRelay:
    def __init__(self, layer, group: str) -> None:
        self.layer, self.group = layer, group
        self.members: dict[Member, None] = {}  # an ordered set
        self.channel: str | None = None
        self._subscribing: asyncio.Future | None = None
        self._reader: asyncio.Task | None = None
        self._stopped = False

    async def subscribed(self) -> None:
        if self._subscribing is None:
            self._subscribing = asyncio.ensure_future(self._subscribe())
        # Shielded: one member giving up (its socket closed) must not cancel the others' wait.
        await asyncio.shield(self._subscribing)

    async def _subscribe(self) -> None:
        try:
            self.channel = await self.layer.new_channel()
            await self.layer.group_add(self.group, self.channel)
        except BaseException:
            self._forget()  # the next member to join tries again
            raise
        if not self._stopped:
            self._reader = asyncio.get_running_loop().create_task(self._relay())

    def _forget(self) -> None:
        relays = _relays_here()
        if relays.get((self.layer, self.group)) is self:
            del relays[(self.layer, self.group)]

    async def stop(self) -> None:
        self._stopped = True
        if self._reader is not None:
            self._reader.cancel()
        try:
            if self._subscribing is not None:
                await self._subscribing
            if self.channel is not None:
                await self.layer.group_discard(self.group, self.channel)
        except Exception as exc:
            # Redis is gone: the membership expires with channels_redis' group_expiry.
            log.debug("relay of %s could not leave its group: %s", self.group, exc)

    async def _relay(self) -> None:
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await self._fail(exc)
                return
            if message.get("type") != "job.event":
                continue
            # What AsyncJsonWebsocketConsumer.send_json would send, made once for all members.
            message = {**message, "frame": json.dumps(message["event"])}
            for member in list(self.members):
                try:
                    await member.job_event(message)
                except Exception as exc:  # a socket that is going away; the others go on
                    log.debug("relay of %s: a member failed: %s: %s", self.group, type(exc).__name__, exc)

    async def _fail(self, exc: Exception) -> None:
        self._forget()
        failed, self.members = list(self.members), {}
        log.warning("%s: channel layer unavailable (%s: %s); closing its %d socket(s) with 1013",
                    self.group, type(exc).__name__, exc, len(failed))
        for member in failed:
            try:
                await member.channel_layer_failed()
            except Exception:
                pass
