"""The web server as the README starts it does not compress WebSocket frames: a browser offers
permessage-deflate on every connection, and compressing each small event frame for each watcher
was a third of the server's CPU per delivery (benchmarks/ws_fanout.py)."""
from __future__ import annotations

import pytest
import requests
import websockets

from tests.support.processes import run_async

pytestmark = pytest.mark.integration


def test_a_client_offering_permessage_deflate_gets_uncompressed_frames(stack):
    job = requests.post(f"{stack.base_url}/api/v1/jobs/", headers=stack.headers(), timeout=10,
                        json={"recipe": "mlp", "dataset": "digits", "hyperparameters": {"epochs": 1}}).json()

    async def handshake():
        async with websockets.connect(job["ws_url"], additional_headers=stack.headers(), compression="deflate") as ws:
            first = await ws.recv()
            return ws.response.headers.get("Sec-WebSocket-Extensions"), first

    extensions, first = run_async(handshake())

    assert extensions is None
    assert '"snapshot"' in first or '"type"' in first


def test_every_documented_web_command_turns_it_off():
    from tests.support.processes import ROOT

    for name in ("Makefile", "Dockerfile", "docker-compose.yml", "docs/deployment.md"):
        text = (ROOT / name).read_text().replace('", "', " ").replace('"', "")
        commands = [line for line in text.splitlines() if "uvicorn playground.asgi:application --host" in line]
        assert commands, name
        assert all("--ws-per-message-deflate false" in line for line in commands), (name, commands)
