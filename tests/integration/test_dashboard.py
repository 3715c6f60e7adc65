"""The staff dashboard over a real deployment: the worker process it lists, the Redis broker's own
queue length, and a job that worker runs arriving live (its events' notices cross Redis)."""
from __future__ import annotations

import asyncio
import json

import pytest
import requests
import websockets

from tests.support.processes import manage, run_async, stack_env

pytestmark = pytest.mark.integration


def queue(snapshot: dict, name: str) -> dict:
    return next((q for q in snapshot["queues"] if q["name"] == name), {"queued": 0, "broker": 0})


def job_in(snapshot: dict, job_id: int) -> dict:
    return next((job for job in snapshot["jobs"] if job["id"] == job_id), {})


async def snapshot_where(ws, predicate, timeout: float) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == "snapshot" and predicate(message["data"]):
                return message["data"]


def test_the_dashboard_shows_the_worker_the_brokers_queue_and_a_job_running_live(stack, database_url, redis_url, tmp_path):
    token = manage(stack_env(database_url, redis_url, tmp_path), "ensure_demo_user", "--username", "ops",
                   "--password", "pw-ops", "--staff")
    staff = {"Authorization": f"Token {token}"}

    def post(path: str, body: dict | None = None) -> dict:
        response = requests.post(f"{stack.base_url}{path}", json=body, headers=stack.headers(), timeout=10)
        assert response.status_code in (201, 202), response.text
        return response.json()

    async def watch() -> tuple[dict, dict, dict, dict, dict]:
        async with websockets.connect(f"{stack.ws_base}/ws/dashboard/", additional_headers=staff) as ws:
            first = await snapshot_where(ws, lambda s: True, 10)
            # No worker consumes gpu-7, so its message stays in Redis where LLEN counts it.
            parked = post("/api/v1/jobs/", {"recipe": "mlp", "gpus": 7})
            waiting = await snapshot_where(ws, lambda s: queue(s, "gpu-7")["queued"] and queue(s, "gpu-7")["broker"], 10)
            post(f"/api/v1/jobs/{parked['id']}/cancel/")
            job = post("/api/v1/jobs/", {"recipe": "fizzbuzz", "hyperparameters": {"epochs": 1}})
            running = await snapshot_where(ws, lambda s: job_in(s, job["id"]).get("status") == "running", 120)
            done = await snapshot_where(ws, lambda s: job_in(s, job["id"]).get("status") == "succeeded", 120)
            return first, waiting, running, done, job

    first, waiting, running, done, job = run_async(watch())

    worker = next(w for w in first["workers"] if w["hostname"].startswith("it-"))
    assert worker["online"] and worker["queues"] == ["training"]
    assert queue(first, "gpu-7")["broker"] in (0, None)
    assert (queue(waiting, "gpu-7")["queued"], queue(waiting, "gpu-7")["broker"]) == (1, 1)
    assert job_in(running, job["id"])["worker"] == worker["hostname"]
    assert done["throughput"]["finished_last_hour"] >= 2  # the cancelled one and this one
