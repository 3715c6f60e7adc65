"""A prefork worker whose pool child is killed twice: the replacement children still broadcast.

The watchdog runs in the worker's parent process and publishes there (the requeue log and
status events), which starts the publisher's private event loop thread in the parent. A
child forked after that inherited the loop but not its thread: every broadcast then waited
5 s and failed ("could not broadcast … TimeoutError"), jobs crawled and WebSocket watchers
got nothing (playground/jobs/events.py resets the loop after a fork)."""
from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import signal
import subprocess

import pytest
import requests
import websockets

from tests.integration.test_resume import epochs_reported, rows, start_worker_group
from tests.support.processes import free_port, stack_env, start_web, stop, wait_for, web_is_up, worker_is_ready

pytestmark = pytest.mark.integration
EPOCHS = 60


def pool_child(worker: subprocess.Popen) -> int:
    """The pid of the prefork worker's one pool process (-c 1)."""
    pids = subprocess.run(["pgrep", "-P", str(worker.pid)], capture_output=True, text=True).stdout.split()
    assert len(pids) == 1, f"expected one pool child of {worker.pid}, found {pids}"
    return int(pids[0])


async def follow(url: str, headers: dict) -> list[dict]:
    messages = []
    async with websockets.connect(url, additional_headers=headers) as ws:
        async with asyncio.timeout(240):
            while True:
                messages.append(json.loads(await ws.recv()))
                m = messages[-1]
                if m["type"] == "status" and m["data"]["status"] in ("succeeded", "failed", "cancelled"):
                    return messages


def test_a_worker_whose_pool_child_is_killed_twice_still_broadcasts_every_event(stack, redis_url, database_url, tmp_path):
    env = stack_env(database_url, redis_url.rsplit("/", 1)[0] + "/5", tmp_path)
    # A lease long enough that the message Celery redelivers at once to the replacement child
    # finds the job still held, so the parent's watchdog requeues it each time: it publishes
    # in the parent, and the child forked after that is the one that used to go silent.
    env.update(PLAYGROUND_HEARTBEAT_S="1", PLAYGROUND_LEASE_TIMEOUT_S="8")
    port = free_port()
    web = start_web(env, port, tmp_path / "web.log")
    worker = start_worker_group(env, "fork", tmp_path / "worker.log")
    try:
        wait_for(lambda: web_is_up(f"http://127.0.0.1:{port}"), 60, "uvicorn", tmp_path)
        wait_for(lambda: worker_is_ready(tmp_path / "worker.log"), 90, "worker", tmp_path)
        response = requests.post(f"http://127.0.0.1:{port}/api/v1/jobs/", headers=stack.headers(), timeout=10, json={
            "recipe": "mlp", "dataset": "digits",
            "hyperparameters": {"epochs": EPOCHS, "batch_size": 8, "hidden_layers": [64], "seed": 3}})
        assert response.status_code == 201, response.text
        job_id = response.json()["id"]
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            watched = pool.submit(asyncio.run, follow(f"ws://127.0.0.1:{port}/ws/jobs/{job_id}/", stack.headers()))
            for kill in (1, 2):
                reported = len(epochs_reported(database_url, job_id))
                wait_for(lambda: len(epochs_reported(database_url, job_id)) >= reported + 2, 120,
                         f"two more epochs before kill {kill}", tmp_path)
                os.kill(pool_child(worker), signal.SIGKILL)
            killed_at = len(epochs_reported(database_url, job_id))
            assert killed_at < EPOCHS, "the job must still be running at the second kill"
            messages = watched.result(timeout=240)
    finally:
        stop([web])
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)

    status, error, attempts = rows(database_url, "SELECT status, error, attempts FROM jobs_job WHERE id=%s", job_id)[0]
    assert status == "succeeded", error
    assert attempts == 3
    log = (tmp_path / "worker.log").read_text()
    assert log.count("stale jobs: requeued") == 2, "each takeover went through the parent's watchdog"
    assert "could not broadcast" not in log
    # The parent's own database connections survive its children (forget_inherited_database_connections).
    assert "server closed the connection unexpectedly" not in log and "stale-job check failed" not in log
    # Live over the WebSocket: the third child's epochs and the final status arrived.
    live_epochs = [m["data"]["epoch"] for m in messages if m["type"] == "epoch"]
    assert live_epochs[-1] == EPOCHS and set(range(killed_at + 1, EPOCHS + 1)) <= set(live_epochs)
    assert messages[-1]["data"]["status"] == "succeeded"
