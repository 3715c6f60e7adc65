"""Revoking an API token or a share link closes the WebSockets already open with it (4401), and
only those."""
from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from playground.accounts.models import ApiToken, ShareLink
from playground.asgi import application
from playground.jobs import events, services
from tests.conftest import client_for
from trainer.spec import validate_spec

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def new_job(owner):
    return services.create_job(owner, validate_spec({"recipe": "mlp"}))


@database_sync_to_async
def issue(user, name: str) -> tuple[ApiToken, str]:
    return ApiToken.issue(user, name)


async def open_socket(path: str, key: str | None = None) -> WebsocketCommunicator:
    headers = [(b"authorization", f"Token {key}".encode())] if key else []
    ws = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await ws.connect()
    assert connected
    while not await ws.receive_nothing(timeout=0.3):  # the snapshot and the stored events
        await ws.receive_json_from()
    return ws


@database_sync_to_async
def revoke_on_the_tokens_page(user, token: ApiToken) -> int:
    client = Client()
    client.force_login(user)
    return client.post(f"/accounts/tokens/{token.pk}/revoke/").status_code


async def test_revoking_a_token_closes_its_open_sockets_and_leaves_the_others_streaming(alice, server_loop):
    job = await new_job(alice)
    laptop, laptop_key = await issue(alice, "laptop")
    _, ci_key = await issue(alice, "ci")
    revoked = [await open_socket(f"/ws/jobs/{job.pk}/", laptop_key) for _ in range(2)]
    kept = await open_socket(f"/ws/jobs/{job.pk}/", ci_key)

    assert await revoke_on_the_tokens_page(alice, laptop) == 302

    for ws in revoked:
        closed = await ws.receive_output(timeout=2)
        assert closed["type"] == "websocket.close" and closed["code"] == 4401
        assert "revoked" in closed["reason"]
    await database_sync_to_async(events.publish)(job.pk, "log", {"message": "still here"})
    assert (await kept.receive_json_from(timeout=2))["data"] == {"message": "still here"}
    for ws in (*revoked, kept):
        await ws.disconnect()


async def test_revoking_a_share_link_closes_the_anonymous_sockets_open_with_it(alice, server_loop):
    job = await new_job(alice)
    link = await database_sync_to_async(ShareLink.objects.create)(job=job, created_by=alice)
    viewer = await open_socket(f"/ws/share/{link.token}/")

    deleted = await database_sync_to_async(lambda: client_for(alice).delete(f"/api/v1/jobs/{job.pk}/share/"))()

    assert deleted.status_code == 204
    closed = await viewer.receive_output(timeout=2)
    assert closed["type"] == "websocket.close" and closed["code"] == 4401
    await database_sync_to_async(events.publish)(job.pk, "log", {"message": "after the revoke"})
    assert await viewer.receive_nothing(timeout=0.3)  # nothing relayed after the close
    await viewer.disconnect()


async def test_revoking_a_staff_token_closes_its_dashboard_socket(make_user, server_loop):
    root = await database_sync_to_async(make_user)("root", staff=True)
    token, key = await issue(root, "ops")
    ws = WebsocketCommunicator(application, "/ws/dashboard/", headers=[(b"authorization", f"Token {key}".encode())])
    connected, _ = await ws.connect()
    assert connected and (await ws.receive_json_from(timeout=5))["type"] == "snapshot"

    await database_sync_to_async(token.delete)()  # as the admin's delete does

    outputs = [await ws.receive_output(timeout=5)]
    while outputs[-1]["type"] == "websocket.send" and len(outputs) < 3:  # a periodic snapshot may come first
        outputs.append(await ws.receive_output(timeout=5))
    assert outputs[-1]["type"] == "websocket.close" and outputs[-1]["code"] == 4401
    await ws.disconnect()
