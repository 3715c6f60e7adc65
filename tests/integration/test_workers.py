"""Workers advertise their devices and queues; a job asking for GPUs goes only to a worker that
consumes its gpu-<n> queue. CPU-only here, so the GPU worker is an honest stand-in: a worker
started with PLAYGROUND_WORKER_QUEUES=training,gpu-1 (what an operator would set), not a fake GPU."""
from __future__ import annotations

import time

import psycopg
import pytest
import requests

from tests.support.processes import stack_env, start_worker, stop, wait_for, worker_is_ready

pytestmark = pytest.mark.integration
FINISHED = {"succeeded", "failed", "cancelled"}
QUICK = {"epochs": 1, "hidden_layers": [16]}


def worker_rows(database_url: str, prefix: str) -> list[dict]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT hostname, queues, devices, gpus, pid, last_seen FROM ops_workernode WHERE hostname LIKE %s",
            (prefix + "%",)).fetchall()
    return [dict(zip(("hostname", "queues", "devices", "gpus", "pid", "last_seen"), row)) for row in rows]


def job(stack, job_id: int) -> dict:
    return requests.get(f"{stack.base_url}/api/v1/jobs/{job_id}/", headers=stack.headers(), timeout=10).json()


def submit(stack, body: dict) -> dict:
    response = requests.post(f"{stack.base_url}/api/v1/jobs/", json=body, headers=stack.headers(), timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


def wait_finished(stack, job_id: int, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        detail = job(stack, job_id)
        if detail["status"] in FINISHED:
            return detail
        time.sleep(0.5)
    raise TimeoutError(f"job {job_id} still {detail['status']} after {timeout} s")


def events(stack, job_id: int) -> list[dict]:
    response = requests.get(f"{stack.base_url}/api/v1/jobs/{job_id}/events/", headers=stack.headers(), timeout=10)
    body = response.json()
    return body["results"] if isinstance(body, dict) else body


def test_a_gpu_job_waits_for_a_worker_with_its_queue_while_cpu_jobs_run(stack, database_url, redis_url, tmp_path):
    # The stack's worker (-Q training, no GPU) advertised itself at start-up.
    [cpu_worker] = worker_rows(database_url, "it-")
    assert (cpu_worker["queues"], cpu_worker["gpus"]) == (["training"], 0)
    assert cpu_worker["devices"] and {d["type"] for d in cpu_worker["devices"]} == {"CPU"}

    gpu_job = submit(stack, {"recipe": "mlp", "gpus": 1, "strategy": "mirrored", "hyperparameters": QUICK})
    cpu_job = submit(stack, {"recipe": "mlp", "hyperparameters": QUICK})
    assert (gpu_job["queue"], cpu_job["queue"]) == ("gpu-1", "training")

    assert wait_finished(stack, cpu_job["id"])["status"] == "succeeded"
    waiting = job(stack, gpu_job["id"])
    assert waiting["status"] == "queued", "a CPU-only worker must not take a gpu-1 job"
    assert waiting["waiting_for"].startswith("Waiting for a worker with 1 GPU: no online worker consumes queue gpu-1.")

    # A worker that consumes gpu-1 joins: it registers with its 2 logical CPU devices and runs the job.
    env = {**stack_env(database_url, redis_url, tmp_path), "PLAYGROUND_WORKER_QUEUES": "training,gpu-1",
           "PLAYGROUND_CPU_REPLICAS": "2"}
    log = tmp_path / "gpu-worker.log"
    gpu_worker = start_worker(env, "gpu-sim", log)
    try:
        wait_for(lambda: worker_is_ready(log), 120, "gpu-1 worker", tmp_path)
        [node] = worker_rows(database_url, "gpu-sim@")
        assert node["queues"] == ["training", "gpu-1"] and node["gpus"] == 0 and node["pid"] == gpu_worker.pid
        assert [d["name"].rsplit("/", 1)[-1] for d in node["devices"]] == ["device:CPU:0", "device:CPU:1"]

        done = wait_finished(stack, gpu_job["id"])
        assert done["status"] == "succeeded", done["error"]
        running = [e["data"] for e in events(stack, gpu_job["id"]) if e["type"] == "status"
                   and e["data"]["status"] == "running"]
        assert running[0]["worker"] == node["hostname"]
        # gpus: 1 caps "mirrored" at one replica although the worker has two devices.
        assert done["run_info"]["replicas"] == 1
        assert done["waiting_for"] is None
    finally:
        stop([gpu_worker])

    assert worker_rows(database_url, "gpu-sim@") == [], "a worker that shut down removes its row"
