"""Reporter emit → WebSocket client receipt, over Redis, with a real uvicorn server.

A separate emitter process (standing in for the Celery worker) calls JobReporter.on_event, which
persists each event in PostgreSQL and group_sends it through Redis; a websockets client on the
job's /ws/jobs/<id>/ measures when each arrives. Prints JSON. Redis is a private
redis-server; PostgreSQL a fresh database (benchmarks/_support.py).

    python benchmarks/event_latency.py [--events 300] [--interval 0.01]
Env: PLAYGROUND_TEST_POSTGRES_URL (admin URL).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from _support import ROOT, latency_summary, service_stack


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--interval", type=float, default=0.01)
    parser.add_argument("--emit", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.emit is not None:
        return emit(args.emit, args.events, args.interval)

    import requests

    with service_stack() as stack:
        # No worker runs, so the job stays queued; the emitter plays the worker's part.
        job = requests.post(f"{stack.base_url}/api/v1/jobs/", json={"recipe": "mlp"},
                            headers=stack.headers, timeout=10).json()

        async def run() -> list[float]:
            watcher = asyncio.create_task(watch(job["ws_url"], stack.token, args.events, job["last_seq"]))
            await asyncio.sleep(0.5)  # connected and subscribed before the first event
            emitter = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--emit", str(job["id"]), "--events", str(args.events),
                "--interval", str(args.interval), cwd=ROOT, env=stack.env,
            )
            latencies = await watcher
            await emitter.wait()
            return latencies

        latencies = asyncio.run(run())
    print(json.dumps({
        "benchmark": "event_latency",
        "path": "JobReporter.on_event (PostgreSQL write) -> Redis channel layer -> uvicorn -> websockets client",
        "events": args.events,
        "delivered": len(latencies),
        **latency_summary(latencies),
        "target_p95_ms": 100,
    }, indent=2))


if __name__ == "__main__":
    main()
