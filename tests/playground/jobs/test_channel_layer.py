"""FanOutRedisChannelLayer against a real, private redis-server: one reader per process hands
each group message to every member channel, once, in order; a consumer that leaves drops its
buffer; a Redis that dies makes every waiting receive() raise instead of hanging."""
from __future__ import annotations

import asyncio

import pytest

from playground.jobs.channel_layer import FanOutRedisChannelLayer


async def test_every_member_of_a_group_receives_each_message_once_and_in_order(redis_server):
    _, url = redis_server
    layer = FanOutRedisChannelLayer(hosts=[url])
    channels = [await layer.new_channel() for _ in range(50)]
    for channel in channels:
        await layer.group_add("job.1", channel)

    async def collect(channel):
        return [(await layer.receive(channel))["n"] for _ in range(5)]

    receivers = [asyncio.create_task(collect(channel)) for channel in channels]
    await asyncio.sleep(0.1)
    for n in range(5):
        await layer.group_send("job.1", {"type": "job.event", "n": n})
    async with asyncio.timeout(10):
        received = await asyncio.gather(*receivers)

    assert received == [[0, 1, 2, 3, 4]] * 50
    await layer.flush()
    await layer.close_pools()


async def test_a_receiver_that_leaves_drops_its_buffer_and_the_others_go_on(redis_server):
    _, url = redis_server
    layer = FanOutRedisChannelLayer(hosts=[url])
    staying, leaving = await layer.new_channel(), await layer.new_channel()
    waiting = asyncio.create_task(layer.receive(leaving))
    await asyncio.sleep(0.1)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert leaving not in layer.receive_buffer

    await layer.send(staying, {"type": "job.event", "n": 1})
    async with asyncio.timeout(10):
        assert (await layer.receive(staying))["n"] == 1
    await layer.flush()
    await layer.close_pools()


async def test_waiting_receivers_raise_when_redis_dies(redis_server):
    server, url = redis_server
    layer = FanOutRedisChannelLayer(hosts=[url])
    channels = [await layer.new_channel() for _ in range(3)]
    receivers = [asyncio.create_task(layer.receive(channel)) for channel in channels]
    await asyncio.sleep(0.2)
    server.kill()
    server.wait()

    async with asyncio.timeout(30):
        outcomes = await asyncio.gather(*receivers, return_exceptions=True)
    assert all(isinstance(outcome, Exception) for outcome in outcomes), outcomes
