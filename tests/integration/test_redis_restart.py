"""Redis killed and restarted mid-job, under a real uvicorn and a real Celery worker: the API
answers 503 meanwhile, the running job finishes, a WebSocket client that reconnects with its
last seq receives every event exactly once, and no job is left stuck (not the one whose
queued message died with Redis, not one submitted after the restart).

Runs its own redis-server (it is killed) and its own web and worker processes, on the
session's PostgreSQL database."""
from __future__ import annotations

import asyncio
import json
import re
import time

import pytest
import requests
import websockets

from tests.support.processes import (
    free_port, manage, redis_is_up, run_async, stack_env, start_redis, start_web, start_worker, stop,
    wait_for, web_is_up, worker_is_ready,
)

pytestmark = pytest.mark.integration
FINISHED = {"succeeded", "failed", "cancelled"}
LONG = {"recipe": "mlp", "dataset": "digits",
        "hyperparameters": {"epochs": 6, "batch_size": 4, "hidden_layers": [64], "seed": 3}}
SHORT = {"recipe": "mlp", "dataset": "digits", "hyperparameters": {"epochs": 1, "hidden_layers": [16]}}


class Outage:
    """A private stack whose Redis can be killed and restarted on the same port."""

    def __init__(self, database_url: str, tmp) -> None:
        self.tmp, self.logs = tmp, tmp / "logs"
        self.logs.mkdir()
        self.port = free_port()
        self.redis_url = f"redis://127.0.0.1:{self.port}/0"
        self.env = stack_env(database_url, self.redis_url, tmp)
        # Heartbeats every second, a 5 s lease and a watchdog pass every second (lease ÷ 3).
        self.env.update(PLAYGROUND_HEARTBEAT_S="1", PLAYGROUND_LEASE_TIMEOUT_S="5")
        self.redis = None
        self.restarts = 0

    def start_redis(self) -> None:
        self.redis = start_redis(self.port, self.logs / f"redis-{self.restarts}.log")
        wait_for(lambda: redis_is_up(self.redis_url), 20, "redis-server", self.logs)

    def kill_redis(self) -> None:
        self.redis.kill()  # SIGKILL, and no persistence: every queued message is gone
        self.redis.wait(timeout=10)
        self.restarts += 1


@pytest.fixture
def outage(database_url, tmp_path):
    stack = Outage(database_url, tmp_path)
    stack.start_redis()
    manage(stack.env, "migrate", "--noinput")
    stack.token = manage(stack.env, "ensure_demo_user", "--username", "olga", "--password", "pw-olga")
    stack.base_url = f"http://127.0.0.1:{free_port()}"
    port = stack.base_url.rsplit(":", 1)[1]
    processes = [start_web(stack.env, int(port), stack.logs / "web.log"),
                 start_worker(stack.env, f"outage-{port}", stack.logs / "worker.log")]
    try:
        wait_for(lambda: web_is_up(stack.base_url), 60, "uvicorn", stack.logs)
        wait_for(lambda: worker_is_ready(stack.logs / "worker.log"), 90, "celery worker", stack.logs)
        yield stack
    finally:
        stop([*processes, stack.redis])


def submit(stack, body: dict) -> requests.Response:
    return requests.post(f"{stack.base_url}/api/v1/jobs/", json=body, timeout=30,
                         headers={"Authorization": f"Token {stack.token}"})


def job(stack, job_id: int) -> dict:
    return requests.get(f"{stack.base_url}/api/v1/jobs/{job_id}/", timeout=10,
                        headers={"Authorization": f"Token {stack.token}"}).json()


def finished(stack, job_id: int) -> bool:
    return job(stack, job_id)["status"] in FINISHED


async def watch(stack, job_id: int, on_epoch_2, timeout: float = 300) -> tuple[list[int], int, int]:
    """Follows the job to its end like job.js does: after a drop, reconnect with ?after=<last
    seq>. Returns every event seq received, in order, how many connections it took in all and
    how many before epoch 2 (when `on_epoch_2` runs)."""
    seqs: list[int] = []
    connections = before = 0
    outage = None
    async with asyncio.timeout(timeout):
        while True:
            try:
                url = f"ws://127.0.0.1:{stack.base_url.rsplit(':', 1)[1]}/ws/jobs/{job_id}/?after={seqs[-1] if seqs else 0}"
                async with websockets.connect(url, additional_headers={"Authorization": f"Token {stack.token}"},
                                              open_timeout=5) as ws:
                    connections += 1
                    async for raw in ws:
                        message = json.loads(raw)
                        if message["type"] == "snapshot":
                            continue
                        seqs.append(message["seq"])
                        if message["type"] == "epoch" and message["data"]["epoch"] == 2 and outage is None:
                            # Runs beside this loop, which goes on reading and reconnecting.
                            before, outage = connections, asyncio.create_task(asyncio.to_thread(on_epoch_2))
                        if message["type"] == "status" and message["data"]["status"] in FINISHED:
                            await outage
                            return seqs, connections, before
            except (OSError, websockets.ConnectionClosed, websockets.InvalidStatus, TimeoutError):
                await asyncio.sleep(0.5)


def test_a_redis_restart_mid_job_loses_no_event_and_leaves_no_job_stuck(outage):
    running = submit(outage, LONG).json()
    queued = submit(outage, SHORT).json()  # waits behind it (-c 1): its message lives only in Redis
    during: dict = {}

    def redis_goes_away() -> None:
        outage.kill_redis()
        during["status"] = job(outage, running["id"])["status"]
        refused = submit(outage, SHORT)
        during["refused"] = refused.status_code, refused.json()
        time.sleep(3)  # the job keeps training meanwhile
        outage.start_redis()

    seqs, connections, before = run_async(watch(outage, running["id"], redis_goes_away))

    assert during["status"] == "running", "Redis must go away mid-job"
    assert during["refused"] == (503, {"detail": f"The job queue is unavailable (Redis at 127.0.0.1:{outage.port} "
                                                 "refused the connection); nothing was saved, try again shortly."})
    detail = job(outage, running["id"])
    assert detail["status"] == "succeeded", detail["error"]
    events = requests.get(f"{outage.base_url}/api/v1/jobs/{running['id']}/events/", timeout=10,
                          headers={"Authorization": f"Token {outage.token}"}).json()
    assert seqs == list(range(1, events["last_seq"] + 1)), "every event exactly once, in order"
    assert before == 1, "while Redis was up the WebSocket stayed open (idle through TensorFlow's import)"
    assert connections >= 2, "the outage must have dropped the WebSocket"
    web_log = (outage.logs / "web.log").read_text()
    assert "channel layer unavailable" in web_log and "Exception in ASGI application" not in web_log

    after = submit(outage, SHORT)
    assert after.status_code == 201, after.text
    wait_for(lambda: finished(outage, queued["id"]) and finished(outage, after.json()["id"]), 180,
             "the queued job and the one submitted after the restart", outage.logs)
    assert job(outage, queued["id"])["status"] == "succeeded"
    resent = re.findall(r"queued jobs without a task message: sent new ones for \[([\d, ]+)\]",
                        (outage.logs / "worker.log").read_text())
    assert any(str(queued["id"]) in ids.split(", ") for ids in resent), "the watchdog gave it a new message"
    assert job(outage, after.json()["id"])["status"] == "succeeded"
    jobs = requests.get(f"{outage.base_url}/api/v1/jobs/", timeout=10,
                        headers={"Authorization": f"Token {outage.token}"}).json()
    assert jobs["count"] == 3, "the refused submission left no job behind"
