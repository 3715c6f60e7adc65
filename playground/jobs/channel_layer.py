"""channels_redis' RedisChannelLayer with a lighter receive for this process's own channels.

Every WebSocket consumer of a process receives from the same Redis key (``specific.<prefix>!``).
The stock receive() makes each waiting consumer race for a shared lock with two fresh tasks per
message; with hundreds of watchers of one job that race was the largest part of the server's
CPU per delivered event (benchmarks/ws_fanout.py). Here one reader task per process pops that
key and hands each message to the queues of the channels it names; a consumer only waits on its
own queue. Redis keys, group sends and capacities are unchanged.
"""
from __future__ import annotations

import asyncio

from channels_redis.core import RedisChannelLayer


class FanOutRedisChannelLayer(RedisChannelLayer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._reader: asyncio.Task | None = None

    async def receive(self, channel):
        if "!" not in channel:
            return await super().receive(channel)
        assert self.require_valid_channel_name(channel)
        self._ensure_reader(self.non_local_name(channel))
        buffer = self.receive_buffer[channel]
        try:
            message = await buffer.get()
        except asyncio.CancelledError:  # the consumer is leaving, as in the stock receive()
            self.receive_buffer.pop(channel, None)
            raise
        if isinstance(message, Exception):
            raise message
        return message

    def _ensure_reader(self, real_channel: str) -> None:
        loop = asyncio.get_running_loop()
        if self._reader is None or self._reader.done() or self._reader.get_loop() is not loop:
            self._reader = loop.create_task(self._read(real_channel))

    async def _read(self, real_channel: str) -> None:
        try:
            while True:
                channels, message = await self.receive_single(real_channel)
                for channel in channels if isinstance(channels, list) else [channels]:
                    self.receive_buffer[channel].put_nowait(message)
        except Exception as exc:
            # Redis is gone: every consumer raises, so its client reconnects (and replays by
            # seq); the next receive() starts a new reader.
            for buffer in list(self.receive_buffer.values()):
                buffer.put_nowait(exc)
