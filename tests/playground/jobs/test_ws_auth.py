"""A cookie-authenticated WebSocket is let in only from a page of this very origin: scheme, host
and port of Origin against the request's Host."""
from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from playground.asgi import application
from playground.jobs import services
from playground.jobs.ws_auth import is_same_origin
from trainer.spec import validate_spec


def scope(origin: str | None, host: str | None, scheme: str = "ws", **headers: str) -> dict:
    pairs = [(b"origin", origin), (b"host", host), *((k.replace("_", "-").encode(), v) for k, v in headers.items())]
    return {"type": "websocket", "scheme": scheme, "headers": [(k, v.encode()) for k, v in pairs if v is not None]}


@pytest.mark.parametrize(("origin", "host", "scheme", "same"), [
    ("http://localhost:8000", "localhost:8000", "ws", True),
    ("http://localhost:9999", "localhost:8000", "ws", False),   # another port of the same host
    ("http://localhost", "localhost:80", "ws", True),            # default ports
    ("https://localhost", "localhost", "wss", True),
    ("http://localhost", "localhost", "wss", False),             # a plain page on a TLS socket
    ("https://localhost:8000", "localhost:8000", "ws", False),   # scheme differs
    ("http://evil.example:8000", "evil.example:8000", "ws", False),  # a host not in ALLOWED_HOSTS
    ("http://[::1]:8000", "[::1]:8000", "ws", True),
    ("http://localhost:notaport", "localhost:8000", "ws", False),
    ("null", "localhost:8000", "ws", False),
    (None, "localhost:8000", "ws", False),
])
def test_it_compares_scheme_host_and_port(origin, host, scheme, same):
    assert is_same_origin(scope(origin, host, scheme)) is same


def test_behind_a_tls_proxy_the_forwarded_scheme_counts(settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

    assert is_same_origin(scope("https://localhost", "localhost", "ws", x_forwarded_proto="https"))
    assert not is_same_origin(scope("http://localhost", "localhost", "ws", x_forwarded_proto="https"))


@database_sync_to_async
def job_and_cookie(owner) -> tuple[int, bytes]:
    job = services.create_job(owner, validate_spec({"recipe": "mlp"}))
    client = Client()
    client.force_login(owner)
    return job.pk, f"sessionid={client.cookies['sessionid'].value}".encode()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("origin", "accepted"), [(b"http://localhost:8000", True), (b"http://localhost:9999", False)])
async def test_a_session_socket_from_another_port_is_refused_and_from_the_same_one_accepted(alice, server_loop, origin,
                                                                                            accepted):
    job_id, cookie = await job_and_cookie(alice)
    ws = WebsocketCommunicator(application, f"/ws/jobs/{job_id}/",
                               headers=[(b"cookie", cookie), (b"origin", origin), (b"host", b"localhost:8000")])

    connected, _ = await ws.connect()

    assert connected is accepted
    if accepted:
        assert (await ws.receive_json_from(timeout=2))["type"] == "snapshot"
        await ws.disconnect()
