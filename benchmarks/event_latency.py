"""Reporter emit → WebSocket client receipt, over Redis, with a real uvicorn server.

A separate emitter process (standing in for the Celery worker) calls JobReporter.on_event, which
persists each event in PostgreSQL and group_sends it through Redis; a websockets client on the
job's /ws/jobs/<id>/ measures when each arrives. Prints JSON.

    python benchmarks/event_latency.py [--events 300] [--interval 0.01]
Env: PLAYGROUND_TEST_POSTGRES_URL (admin URL), PLAYGROUND_TEST_REDIS_URL.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def emit(job_id: int, count: int, interval: float) -> None:
    import django

    django.setup()
    from playground.jobs.reporter import JobReporter

    reporter = JobReporter(job_id)
    for i in range(count):
        reporter.on_event("log", {"message": f"benchmark {i}", "i": i, "t": time.time()})
        time.sleep(interval)


async def watch(ws_url: str, token: str, count: int, after: int) -> list[float]:
    import websockets

    latencies = []
    async with websockets.connect(f"{ws_url}?after={after}", additional_headers={"Authorization": f"Token {token}"}) as ws:
        assert json.loads(await ws.recv())["type"] == "snapshot"
        async with asyncio.timeout(120):
            while len(latencies) < count:
                message = json.loads(await ws.recv())
                if message["type"] == "log" and "t" in message["data"]:
                    latencies.append((time.time() - message["data"]["t"]) * 1000)
    return latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--interval", type=float, default=0.01)
    parser.add_argument("--emit", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.emit is not None:
        return emit(args.emit, args.events, args.interval)

    import requests

    from tests.support.processes import (
        free_port, manage, stack_env, start_web, stop, temporary_database, wait_for, web_is_up,
    )

    admin_url = os.environ.get("PLAYGROUND_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    redis_url = os.environ.get("PLAYGROUND_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    with tempfile.TemporaryDirectory() as tmp, temporary_database(admin_url) as database_url:
        env = stack_env(database_url, redis_url, Path(tmp))
        manage(env, "migrate", "--noinput")
        token = manage(env, "ensure_demo_user", "--username", "bench", "--password", "bench")
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        web = start_web(env, port, Path(tmp) / "web.log")
        try:
            wait_for(lambda: web_is_up(base_url), 60, "uvicorn")
            # No worker runs, so the job stays queued; the emitter plays the worker's part.
            job = requests.post(f"{base_url}/api/v1/jobs/", json={"recipe": "mlp"},
                                headers={"Authorization": f"Token {token}"}, timeout=10).json()

            async def run() -> list[float]:
                watcher = asyncio.create_task(watch(job["ws_url"], token, args.events, job["last_seq"]))
                await asyncio.sleep(0.5)  # connected and subscribed before the first event
                emitter = await asyncio.create_subprocess_exec(
                    sys.executable, __file__, "--emit", str(job["id"]), "--events", str(args.events),
                    "--interval", str(args.interval), cwd=ROOT, env=env,
                )
                latencies = await watcher
                await emitter.wait()
                return latencies

            latencies = asyncio.run(run())
        finally:
            stop([web])
    print(json.dumps({
        "benchmark": "event_latency",
        "path": "JobReporter.on_event (PostgreSQL write) -> Redis channel layer -> uvicorn -> websockets client",
        "events": args.events,
        "delivered": len(latencies),
        "p50_ms": round(statistics.median(latencies), 2),
        "p95_ms": round(percentile(latencies, 0.95), 2),
        "max_ms": round(max(latencies), 2),
        "target_p95_ms": 100,
    }, indent=2))


if __name__ == "__main__":
    main()
