"""How long recovery takes with the default lease settings (PLAYGROUND_HEARTBEAT_S,
PLAYGROUND_LEASE_TIMEOUT_S, PLAYGROUND_WATCHDOG_S as settings.py sets them):

* takeover: a worker is killed -9 (its whole process group) in epoch 3 of a digits MLP job while
  a second worker is idle: seconds from the kill until the second worker runs the job, and until
  the job succeeds;
* lost message: a queued job's task message is deleted from Redis (as a Redis restarted
  without persistence loses it): seconds until a worker starts the job anyway.

Prints JSON. `python benchmarks/recovery.py` (about 2 minutes).
"""
from __future__ import annotations

import json
import os
import signal
import time

from _support import load_average, machine, service_stack  # noqa: I001

from tests.integration.test_resume import epochs_reported, rows, start_worker_group
from tests.support.processes import manage, wait_for, worker_is_ready

import requests

SETTINGS = ("PLAYGROUND_HEARTBEAT_S", "PLAYGROUND_LEASE_TIMEOUT_S", "PLAYGROUND_WATCHDOG_S")


def status(database_url: str, job_id: int) -> tuple[str, int]:
    return rows(database_url, "SELECT status, attempts FROM jobs_job WHERE id=%s", job_id)[0]


def submit(stack, epochs: int) -> int:
    response = requests.post(f"{stack.base_url}/api/v1/jobs/", headers=stack.headers, timeout=10, json={
        "recipe": "mlp", "dataset": "digits", "hyperparameters": {"epochs": epochs, "batch_size": 8, "hidden_layers": [64]}})
    response.raise_for_status()
    return response.json()["id"]


def main() -> None:
    for name in SETTINGS:  # the defaults, not whatever this shell has
        os.environ.pop(name, None)
    with service_stack() as stack:
        env = {**stack.env, "PLAYGROUND_QUOTA_CONCURRENT_JOBS": "100"}
        database_url = env["DATABASE_URL"]
        settings = json.loads(manage(env, "shell", "-c", (
            "import json; from django.conf import settings as s; "
            f"print(json.dumps({{n: getattr(s, n) for n in {SETTINGS!r}}}))")).splitlines()[-1])
        first = start_worker_group(env, "first", stack.logs / "first.log")
        second = start_worker_group(env, "second", stack.logs / "second.log")
        try:
            for name in ("first", "second"):
                wait_for(lambda: worker_is_ready(stack.logs / f"{name}.log"), 120, name, stack.logs)
            # Takeover: the job runs on one worker (whichever took it); kill that one.
            job_id = submit(stack, epochs=30)
            wait_for(lambda: len(epochs_reported(database_url, job_id)) >= 2, 120, "two epochs", stack.logs)
            holder = rows(database_url, "SELECT worker FROM jobs_job WHERE id=%s", job_id)[0][0]
            victim, survivor = (first, second) if holder.startswith("first@") else (second, first)
            os.killpg(victim.pid, signal.SIGKILL)
            killed = time.monotonic()
            wait_for(lambda: status(database_url, job_id) == ("running", 2), 300, "the takeover", stack.logs)
            takeover_s = time.monotonic() - killed
            wait_for(lambda: status(database_url, job_id)[0] == "succeeded", 300, "the job", stack.logs)
            succeeded_s = time.monotonic() - killed
            epochs = epochs_reported(database_url, job_id)

            # Lost message: no worker runs while the job is submitted and its message vanishes
            # from Redis; then a worker starts and its watchdog finds the job.
            import redis

            os.killpg(survivor.pid, signal.SIGTERM)
            survivor.wait(timeout=60)
            broker = redis.Redis.from_url(env["REDIS_URL"])
            lost_id = submit(stack, epochs=1)
            wait_for(lambda: broker.llen("training") > 0, 30, "the task message")
            broker.delete("training")
            lost = time.monotonic()
            first = second = start_worker_group(env, "third", stack.logs / "third.log")
            wait_for(lambda: status(database_url, lost_id)[0] != "queued", 300, "the lost job to start", stack.logs)
            resent_s = time.monotonic() - lost
        finally:
            for worker in (first, second):
                if worker.poll() is None:
                    os.killpg(worker.pid, signal.SIGTERM)
                    worker.wait(timeout=30)
    print(json.dumps({
        "settings": settings,
        "takeover_after_kill_s": round(takeover_s, 1),
        "succeeded_after_kill_s": round(succeeded_s, 1),
        "epochs_reported_once": epochs == list(range(1, 31)),
        "lost_message_started_after_s": round(resent_s, 1),
        "load_average": load_average(), "machine": machine(),
    }, indent=2))


if __name__ == "__main__":
    main()
