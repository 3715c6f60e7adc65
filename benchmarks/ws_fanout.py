"""WebSocket fan-out: N clients watch ONE job while a worker-like process publishes E events.

A private redis-server, a fresh PostgreSQL database and a real uvicorn (Redis channel layer);
the watchers are websockets clients (token auth) spread over a few client processes, each an
asyncio loop; the publisher is a separate process calling JobReporter.on_event("batch", ...) —
the worker's path: events.publish writes the event and folds it into the job row, then
group_sends it — at a fixed rate. Each event carries its publish time; every client records
when each event arrived (same machine clock). Prints JSON per N: delivered / missing /
duplicates, p50/p95/max latency, and the server's CPU per delivered message (the figure that
says what one core sustains, whatever else a shared machine runs).

Measured (2 shared cores), with FanOutRedisChannelLayer (one Redis reader per process, each
watcher its own group member) and uvicorn's permessage-deflate on: 500 watchers p95 10.1 s at
99.9 us of server CPU per delivery. A relay per job and process (one group member, each event
serialised once; commit 68c5bdf, reverted in fc93c23 after a delivery bug in the embedded
mode) measured 44.5 us, and with the web server's deflate off (now the default everywhere) 23.8
us and p95 71 ms at load 0.6. Compressing each small frame for each watcher was a third of the
server's CPU per delivery.

The trainer sends at most 4 batch events/s (trainer/run.py batch_interval) plus epoch events,
so --rate 5-10 is a real job; the default 50 is a stress case.

    python benchmarks/ws_fanout.py [--clients 100 500] [--events 200] [--rate 50] [--client-procs 2]
Env: PLAYGROUND_TEST_POSTGRES_URL (admin URL of a PostgreSQL that may create databases).
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import json
import subprocess
import sys
import time

from _support import ROOT, cpu_seconds, latency_summary, load_average, machine, service_stack

TARGET_P95_MS = 250
QUIET_S = 10  # once the publisher is done, a client process stops after this long without news


def publish_events(job_id: int, count: int, rate: float) -> None:
    """The worker's part: `count` batch events at `rate` per second, each stamped with its time."""
    import django

    django.setup()
    from playground.jobs.reporter import JobReporter

    reporter = JobReporter(job_id)
    start = time.monotonic()
    for i in range(count):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        reporter.on_event("batch", {"epoch": 1, "epochs": 1, "step": i + 1, "steps": count,
                                    "logs": {"loss": 1.0 / (i + 1)}, "i": i, "t": time.time()})
    print(time.monotonic() - start)


async def watch_all(ws_url: str, token: str, clients: int, events: int) -> dict:
    """One client process: open `clients` connections, say "ready", then collect until all events
    arrived everywhere, or nothing more arrived for QUIET_S after the parent's "done" on stdin."""
    import websockets

    received: list[list[int]] = [[] for _ in range(clients)]
    latencies: list[float] = []
    connect_gate = asyncio.Semaphore(50)
    ready = 0
    all_ready = asyncio.Event()

    async def watch(k: int) -> None:
        nonlocal ready
        async with connect_gate:
            ws = await websockets.connect(ws_url, additional_headers={"Authorization": f"Token {token}"},
                                          open_timeout=60, max_queue=None)
            assert json.loads(await ws.recv())["type"] == "snapshot"
        ready += 1
        if ready == clients:
            all_ready.set()
        try:
            mine = received[k]
            while len(mine) < events:
                raw = await ws.recv()
                now = time.time()
                message = json.loads(raw)
                data = message["data"]
                if message["type"] == "batch" and "t" in data:
                    mine.append(data["i"])
                    latencies.append((now - data["t"]) * 1000)
        finally:
            await ws.close()

    tasks = [asyncio.create_task(watch(k)) for k in range(clients)]
    await asyncio.wait_for(all_ready.wait(), 300)
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    seen, quiet_since = -1, time.monotonic()
    while not all(task.done() for task in tasks) and time.monotonic() - quiet_since < QUIET_S:
        await asyncio.sleep(0.5)
        if len(latencies) != seen:
            seen, quiet_since = len(latencies), time.monotonic()
    for task in tasks:
        task.cancel()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    errors = collections.Counter(type(o).__name__ for o in outcomes if isinstance(o, BaseException))
    missing = sum(len(set(range(events)) - set(r)) for r in received)
    duplicates = sum(len(r) - len(set(r)) for r in received)
    return {"clients": clients, "delivered": sum(len(r) for r in received) - duplicates,
            "missing": missing, "duplicates": duplicates, "errors": errors, "latencies": latencies}


def run_round(stack, clients: int, events: int, rate: float, client_procs: int) -> dict:
    import requests

    # No worker runs, so the job stays queued; the publisher plays the worker's part.
    response = requests.post(f"{stack.base_url}/api/v1/jobs/", json={"recipe": "mlp"}, headers=stack.headers, timeout=10)
    response.raise_for_status()
    job = response.json()
    ws_url = f"{job['ws_url']}?after={job['last_seq']}"
    shares = [clients // client_procs + (1 if k < clients % client_procs else 0) for k in range(min(client_procs, clients))]
    watchers = [
        subprocess.Popen([sys.executable, __file__, "--watch", ws_url, "--token", stack.token,
                          "--clients", str(share), "--events", str(events), "--output", str(stack.logs / f"watch-{k}.json")],
                         cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for k, share in enumerate(shares)
    ]
    try:
        for watcher in watchers:
            line = watcher.stdout.readline()
            if line.strip() != "ready":
                raise RuntimeError(f"a client process failed to connect (exit {watcher.wait()})")
        load_before = load_average()
        server_cpu = cpu_seconds(stack.web_pid)
        publisher = subprocess.run([sys.executable, __file__, "--publish", str(job["id"]), "--events", str(events),
                                    "--rate", str(rate)], cwd=ROOT, env=stack.env, check=True, stdout=subprocess.PIPE, text=True)
        publish_s = float(publisher.stdout)
        for watcher in watchers:
            watcher.stdin.write("done\n")
            watcher.stdin.flush()
        for watcher in watchers:
            if watcher.wait() != 0:
                raise RuntimeError(f"a client process failed (exit {watcher.returncode})")
        server_cpu = cpu_seconds(stack.web_pid) - server_cpu
        results = [json.loads((stack.logs / f"watch-{k}.json").read_text()) for k in range(len(watchers))]
    finally:
        for watcher in watchers:
            if watcher.poll() is None:
                watcher.kill()
    latencies = [x for r in results for x in r["latencies"]]
    missing = sum(r["missing"] for r in results)
    duplicates = sum(r["duplicates"] for r in results)
    errors = sum((collections.Counter(r["errors"]) for r in results), collections.Counter())
    summary = latency_summary(latencies)
    return {
        "clients": clients,
        "events": events,
        "expected_deliveries": clients * events,
        "delivered": sum(r["delivered"] for r in results),
        "missing": missing,
        "duplicates": duplicates,
        "client_errors": dict(errors),
        **summary,
        "server_cpu_s": round(server_cpu, 2),
        "server_cpu_us_per_delivery": round(server_cpu * 1e6 / max(1, sum(r["delivered"] for r in results)), 1),
        "publish_s": round(publish_s, 2),
        "achieved_rate_per_s": round(events / publish_s, 1),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "target_met": missing == 0 and duplicates == 0 and summary["p95_ms"] is not None
        and summary["p95_ms"] < TARGET_P95_MS,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, nargs="+", default=[100, 500])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--rate", type=float, default=50, help="events per second")
    parser.add_argument("--client-procs", type=int, default=2)
    parser.add_argument("--publish", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--watch", help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.publish is not None:
        return publish_events(args.publish, args.events, args.rate)
    if args.watch is not None:
        import uvloop

        result = uvloop.run(watch_all(args.watch, args.token, args.clients[0], args.events))
        with open(args.output, "w") as out:
            json.dump(result, out)
        return

    load_start = load_average()
    # Hundreds of watchers on one token: the per-user WebSocket cap (50) is not what is measured.
    with service_stack(env={"PLAYGROUND_WS_PER_USER": "0", "PLAYGROUND_WS_RESUMES_PER_MINUTE": "0"}) as stack:
        rounds = [run_round(stack, n, args.events, args.rate, args.client_procs) for n in args.clients]
    print(json.dumps({
        "benchmark": "ws_fanout",
        "path": "JobReporter.on_event -> events.publish (PostgreSQL) -> channels_redis group_send "
                "-> one uvicorn process -> N websockets clients watching one job",
        "setup": {"database": "PostgreSQL (fresh database)", "redis": "private redis-server",
                  "uvicorn_workers": 1, "client_processes": args.client_procs, "rate_per_s": args.rate,
                  **machine()},
        "target": {"clients": 500, "missing": 0, "p95_ms_below": TARGET_P95_MS},
        "load_average_start": load_start,
        "load_average_end": load_average(),
        "rounds": rounds,
    }, indent=2))


if __name__ == "__main__":
    main()
