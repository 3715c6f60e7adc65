"""One job end to end over real HTTP and WebSocket connections, trained by a separate worker."""
from __future__ import annotations

import asyncio
import json
from urllib.parse import urljoin

import pytest
import requests
import websockets

from tests.support.processes import run_async

pytestmark = pytest.mark.integration
FINISHED = {"succeeded", "failed", "cancelled"}


def submit(stack, body: dict, user: str = "alice") -> requests.Response:
    return requests.post(f"{stack.base_url}/api/v1/jobs/", json=body, headers=stack.headers(user), timeout=10)


async def read(ws, until, timeout: float = 180) -> list[dict]:
    """Messages until `until(message)` is true (that message included)."""
    messages = []
    async with asyncio.timeout(timeout):
        while True:
            messages.append(json.loads(await ws.recv()))
            if until(messages[-1]):
                return messages


def is_finished(message: dict) -> bool:
    return message["type"] == "status" and message["data"]["status"] in FINISHED


def test_a_submitted_job_streams_live_to_a_websocket_client_and_exports_tfjs(stack):
    response = submit(stack, {"recipe": "mlp", "dataset": "digits", "hyperparameters": {"epochs": 3, "hidden_layers": [32]}})
    assert response.status_code == 201, response.text
    job = response.json()

    async def follow():
        async with websockets.connect(job["ws_url"], additional_headers=stack.headers()) as ws:
            return await read(ws, is_finished)

    messages = run_async(follow())

    snapshot, events = messages[0], messages[1:]
    assert snapshot["type"] == "snapshot" and snapshot["data"]["id"] == job["id"]
    assert [m["seq"] for m in events] == list(range(1, len(events) + 1)), "no event lost or repeated"
    statuses = [m["data"]["status"] for m in events if m["type"] == "status"]
    assert statuses == ["queued", "running", "succeeded"]
    epochs = [m for m in events if m["type"] == "epoch"]
    assert [m["data"]["epoch"] for m in epochs] == [1, 2, 3]
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(epochs[0]["data"]["logs"])
    kinds = [m["type"] for m in events]
    assert kinds.index("epoch") < kinds.index("artifact") < len(kinds) - 1
    assert any(m["type"] == "batch" for m in events)

    detail = requests.get(f"{stack.base_url}/api/v1/jobs/{job['id']}/", headers=stack.headers(), timeout=10).json()
    assert detail["status"] == "succeeded" and detail["progress"]["epoch"] == 3
    tfjs = {a["variant"]: a for a in detail["artifacts"] if a["kind"] == "tfjs"}
    assert set(tfjs) == {"float32", "float16", "uint8"}
    for variant, artifact in tfjs.items():
        model_response = requests.get(artifact["url"], headers=stack.headers(), timeout=10)
        assert model_response.status_code == 200
        model = model_response.json()
        assert model["format"] == "layers-model"
        total = len(model_response.content)
        for group in model["weightsManifest"]:
            for shard in group["paths"]:
                data = requests.get(urljoin(artifact["url"], shard), headers=stack.headers(), timeout=10)
                assert data.status_code == 200 and len(data.content) > 0
                total += len(data.content)
        assert total == artifact["bytes"], variant
        assert requests.get(artifact["url"], headers=stack.headers("bob"), timeout=10).status_code == 404
    assert tfjs["uint8"]["bytes"] < tfjs["float16"]["bytes"] < tfjs["float32"]["bytes"]


def test_a_client_that_reconnects_with_its_last_seq_misses_nothing_and_a_cancel_stops_the_job(stack):
    job = submit(stack, {"recipe": "mlp", "hyperparameters": {"epochs": 500, "batch_size": 8}}).json()

    async def follow_reconnect_and_cancel():
        async with websockets.connect(job["ws_url"], additional_headers=stack.headers()) as ws:
            first = await read(ws, lambda m: m["type"] == "epoch" and m["data"]["epoch"] == 2)
        last_seq = first[-1]["seq"]
        url = f"{job['ws_url']}?after={last_seq}"
        async with websockets.connect(url, additional_headers=stack.headers()) as ws:
            second = await read(ws, lambda m: m["type"] == "epoch")
            cancel = await asyncio.to_thread(
                requests.post, f"{stack.base_url}/api/v1/jobs/{job['id']}/cancel/", headers=stack.headers(), timeout=10
            )
            second += await read(ws, is_finished, timeout=60)
        return first, second, cancel

    first, second, cancel = run_async(follow_reconnect_and_cancel())

    assert cancel.status_code == 202
    assert second[0]["type"] == "snapshot" and second[0]["seq"] == first[-1]["seq"]
    seqs = [m["seq"] for m in first[1:] + second[1:]]
    assert seqs == list(range(1, len(seqs) + 1))
    assert second[-1]["data"]["status"] == "cancelled"
    stored = requests.get(f"{stack.base_url}/api/v1/jobs/{job['id']}/events/", headers=stack.headers(), timeout=10).json()
    assert [e["seq"] for e in stored["results"]] == seqs
    detail = requests.get(f"{stack.base_url}/api/v1/jobs/{job['id']}/", headers=stack.headers(), timeout=10).json()
    assert detail["status"] == "cancelled" and detail["progress"]["epoch"] < 500


def test_bad_input_gets_clear_errors_and_creates_nothing(stack):
    before = requests.get(f"{stack.base_url}/api/v1/jobs/", headers=stack.headers(), timeout=10).json()["count"]

    bad = submit(stack, {"recipe": "mlp", "hyperparameters": {"epochs": 0, "optimizer": "lbfgs", "mystery": 1}})
    anonymous = requests.post(f"{stack.base_url}/api/v1/jobs/", json={"recipe": "mlp"}, timeout=10)

    assert bad.status_code == 400
    assert set(bad.json()["hyperparameters"]) == {"epochs", "optimizer", "mystery"}
    assert anonymous.status_code == 401
    after = requests.get(f"{stack.base_url}/api/v1/jobs/", headers=stack.headers(), timeout=10).json()["count"]
    assert after == before


def test_a_websocket_without_credentials_is_closed_with_4401(stack):
    async def connect():
        async with websockets.connect(f"{stack.ws_base}/ws/jobs/1/") as ws:
            with pytest.raises(websockets.ConnectionClosed):
                await ws.recv()
            return ws.close_code

    assert run_async(connect()) == 4401
