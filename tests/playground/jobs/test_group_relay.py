"""The job group's relay (playground/jobs/channel_layer.py): the sockets of one process that
watch a job share one member of the group `job.<id>`, get every event once and in order (also
one that joins or resumes mid-stream), and are sent the same JSON text send_json sent."""
from __future__ import annotations

import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from playground.asgi import application
from playground.jobs import channel_layer, consumers, events, services
from playground.jobs.models import JobEvent
from tests.conftest import token_for as issue_token
from tests.support.ci import unavailable
from tests.support.processes import free_port, redis_is_up, start_redis, stop, wait_for
from trainer.spec import validate_spec

pytestmark = pytest.mark.django_db(transaction=True)
token_for = database_sync_to_async(issue_token)


@database_sync_to_async
def new_job(owner):
    return services.create_job(owner, validate_spec({"recipe": "mlp"}))


def batch(job_id: int, step: int) -> dict:
    return events.publish(job_id, "batch", {"epoch": 1, "epochs": 1, "step": step, "steps": 100, "logs": {"loss": 1 / step}})


publish_batch = database_sync_to_async(batch)


def watcher(job_id: int, token: str, after: int = 1) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, f"/ws/jobs/{job_id}/?after={after}",
                                 headers=[(b"authorization", f"Token {token}".encode())])


async def events_until(ws, last_seq: int) -> list[dict]:
    received = []
    while not received or received[-1]["seq"] < last_seq:
        message = await ws.receive_json_from(timeout=5)
        if message["type"] != "snapshot":
            received.append(message)
    return received


async def test_watchers_of_one_job_share_one_group_member_and_each_get_every_event_once(alice, server_loop):
    job = await new_job(alice)
    token = await token_for(alice)
    sockets = [watcher(job.pk, token) for _ in range(20)]
    for ws in sockets:
        assert (await ws.connect())[0]
        assert (await ws.receive_json_from(timeout=5))["type"] == "snapshot"
    layer = get_channel_layer()
    group = events.group_name(job.pk)

    assert len(layer.groups[group]) == 1, "one member of the group for this process, not one per socket"
    assert channel_layer.members(layer, group) == 20
    for step in range(1, 6):
        await publish_batch(job.pk, step)
    received = [await events_until(ws, 6) for ws in sockets]

    assert all([m["seq"] for m in messages] == [2, 3, 4, 5, 6] for messages in received)
    assert all([m["data"]["step"] for m in messages] == [1, 2, 3, 4, 5] for messages in received)
    for ws in sockets:
        await ws.disconnect()
    assert channel_layer.members(layer, group) == 0
    assert not layer.groups.get(group), "the last socket to leave takes the relay out of the group"


async def test_a_watcher_joining_mid_stream_gets_every_event_once_in_order(alice, server_loop, monkeypatch):
    # One event is published while the replay is read (it is in the replay and arrives live:
    # sent once) and one after the read (only live: held until the replay is out, then sent).
    job = await new_job(alice)
    for step in range(1, 4):
        await publish_batch(job.pk, step)  # seqs 2-4
    read = consumers._snapshot_and_replay.func

    def read_while_the_job_goes_on(job_id, after, job_data):
        batch(job_id, 4)  # seq 5
        result = read(job_id, after, job_data)
        batch(job_id, 5)  # seq 6
        return result

    monkeypatch.setattr(consumers, "_snapshot_and_replay", database_sync_to_async(read_while_the_job_goes_on))
    ws = watcher(job.pk, await token_for(alice), after=2)
    await ws.connect()
    await publish_batch(job.pk, 6)  # seq 7, plain live

    received = await events_until(ws, 7)
    assert [m["seq"] for m in received] == [3, 4, 5, 6, 7]
    assert await ws.receive_nothing(timeout=0.3)
    await ws.disconnect()


async def test_a_resume_mid_stream_sends_every_event_after_it_once_in_order(alice, server_loop, monkeypatch):
    job = await new_job(alice)
    ws = watcher(job.pk, await token_for(alice))
    await ws.connect()
    assert (await ws.receive_json_from(timeout=5))["type"] == "snapshot"
    for step in range(1, 3):
        await publish_batch(job.pk, step)  # seqs 2-3
    assert [m["seq"] for m in await events_until(ws, 3)] == [2, 3]
    read = consumers._replay.func

    def read_while_the_job_goes_on(job_id, after):
        batch(job_id, 3)  # seq 4: in the replay and live
        result = read(job_id, after)
        batch(job_id, 4)  # seq 5: live only
        return result

    monkeypatch.setattr(consumers, "_replay", database_sync_to_async(read_while_the_job_goes_on))
    await ws.send_json_to({"type": "resume", "after": 1})

    assert [m["seq"] for m in await events_until(ws, 5)] == [2, 3, 4, 5]
    assert await ws.receive_nothing(timeout=0.3)
    await ws.disconnect()


async def test_relayed_frames_are_the_text_send_json_sent(alice, server_loop):
    job = await new_job(alice)
    token = await token_for(alice)
    live = watcher(job.pk, token)
    await live.connect()
    assert json.loads(await live.receive_from(timeout=5))["type"] == "snapshot"
    message = await publish_batch(job.pk, 1)

    frame = await live.receive_from(timeout=5)
    replaying = watcher(job.pk, token, after=message["seq"] - 1)
    await replaying.connect()
    await replaying.receive_from(timeout=5)  # the snapshot
    replayed = await replaying.receive_from(timeout=5)

    # send_json(message) was json.dumps(message), keys in the order they were published.
    assert frame == json.dumps(message)
    stored = await database_sync_to_async(lambda: JobEvent.objects.get(job=job, seq=message["seq"]).message())()
    assert json.loads(frame) == json.loads(replayed) == stored
    await live.disconnect()
    await replaying.disconnect()


@pytest.fixture
def redis_url(tmp_path):
    port = free_port()
    try:
        server = start_redis(port, tmp_path / "redis.log")
    except FileNotFoundError as exc:
        unavailable(str(exc))
    url = f"redis://127.0.0.1:{port}/0"
    try:
        wait_for(lambda: redis_is_up(url), 10, "redis-server")
        yield server, url
    finally:
        stop([server])


async def test_when_redis_dies_every_watcher_is_closed_with_1013_to_reconnect(alice, server_loop, redis_url, settings):
    server, url = redis_url
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
                                           "CONFIG": {"hosts": [{"address": url, "socket_timeout": 15,
                                                                 "socket_connect_timeout": 1}]}}}
    job = await new_job(alice)
    token = await token_for(alice)
    sockets = [watcher(job.pk, token) for _ in range(3)]
    for ws in sockets:
        await ws.connect()
        assert (await ws.receive_json_from(timeout=5))["type"] == "snapshot"
    await publish_batch(job.pk, 1)
    for ws in sockets:
        assert [m["seq"] for m in await events_until(ws, 2)] == [2]

    server.kill()
    await asyncio.to_thread(server.wait)

    closes = [await ws.receive_output(timeout=20) for ws in sockets]
    assert closes == [{"type": "websocket.close", "code": consumers.CLOSE_TRY_AGAIN}] * 3
