"""Open WebSockets per user, counted across processes in the cache, and "resume" frames per
connection."""
from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.cache import cache

from playground.asgi import application
from playground.jobs import services
from playground.jobs.ws_limits import release_socket_slot, take_socket_slot
from tests.conftest import token_for as issue_token
from trainer.spec import validate_spec

token_for = database_sync_to_async(issue_token)


@database_sync_to_async
def new_job(owner):
    return services.create_job(owner, validate_spec({"recipe": "mlp"}))


def socket(job_id: int, key: str) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, f"/ws/jobs/{job_id}/", headers=[(b"authorization", f"Token {key}".encode())])


async def drain(ws) -> list[dict]:
    messages = []
    while not await ws.receive_nothing(timeout=0.3):
        messages.append(await ws.receive_json_from())
    return messages


@pytest.mark.django_db(transaction=True)
async def test_a_user_over_the_socket_cap_is_refused_with_4429_until_one_closes(alice, bob, settings, server_loop):
    settings.PLAYGROUND_WS_PER_USER = 2
    job = await new_job(alice)
    key = await token_for(alice)
    first, second = socket(job.pk, key), socket(job.pk, await token_for(alice))  # the cap is per user
    assert (await first.connect())[0] and (await second.connect())[0]

    third = socket(job.pk, key)
    await third.connect()
    refused = await third.receive_output(timeout=2)
    await first.disconnect()
    fourth = socket(job.pk, key)
    await fourth.connect()

    assert refused["type"] == "websocket.close" and refused["code"] == 4429
    assert "at most 2 per user" in refused["reason"]
    assert (await fourth.receive_json_from(timeout=2))["type"] == "snapshot"
    bobs = await new_job(bob)
    other_user = socket(bobs.pk, await token_for(bob))
    await other_user.connect()
    assert (await other_user.receive_json_from(timeout=2))["type"] == "snapshot"
    for ws in (second, fourth, other_user):
        await ws.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_refused_sockets_do_not_use_up_the_cap(alice, bob, settings, server_loop):
    settings.PLAYGROUND_WS_PER_USER = 1
    job = await new_job(alice)
    bobs_key = await token_for(bob)
    for _ in range(3):  # bob may not watch alice's job: 4404, no slot taken
        ws = socket(job.pk, bobs_key)
        await ws.connect()
        assert (await ws.receive_output(timeout=2))["code"] == 4404
        await ws.disconnect()

    own = socket((await new_job(bob)).pk, bobs_key)
    await own.connect()

    assert (await own.receive_json_from(timeout=2))["type"] == "snapshot"
    await own.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_resume_frames_past_the_limit_get_an_error_frame_and_the_stream_stays(alice, settings, server_loop):
    settings.PLAYGROUND_WS_RESUMES_PER_MINUTE = 2
    job = await new_job(alice)
    ws = socket(job.pk, await token_for(alice))
    await ws.connect()
    await drain(ws)

    answers = []
    for _ in range(3):
        await ws.send_json_to({"type": "resume", "after": 0})
        answers.append(await drain(ws))
    await ws.send_json_to({"type": "ping"})

    assert [m["seq"] for m in answers[0]] == [m["seq"] for m in answers[1]] == [1]
    assert len(answers[2]) == 1 and answers[2][0]["type"] == "error"
    assert 'Too many "resume" frames: at most 2 a minute' in answers[2][0]["error"]
    assert await ws.receive_json_from(timeout=2) == {"type": "pong"}
    await ws.disconnect()


def test_the_count_is_shared_through_the_cache_and_expires(settings):
    settings.PLAYGROUND_WS_PER_USER = 2

    taken = [take_socket_slot("user.7") for _ in range(3)]
    count = cache.get("ws.open.user.7")
    ttl_set = cache._expire_info.get(cache.make_key("ws.open.user.7")) is not None  # locmem's expiry
    release_socket_slot("user.7")

    assert taken == [True, True, False] and count == 2 and ttl_set
    assert take_socket_slot("user.7")


def test_releases_after_the_count_expired_do_not_leave_it_below_zero(settings):
    settings.PLAYGROUND_WS_PER_USER = 1
    take_socket_slot("user.8")
    cache.delete("ws.open.user.8")  # expired while that socket was open
    take_socket_slot("user.8")  # a socket opened since

    release_socket_slot("user.8")
    release_socket_slot("user.8")  # the one from before the expiry

    assert [take_socket_slot("user.8"), take_socket_slot("user.8")] == [True, False]
