"""HTTP job submission rate: C keep-alive clients POST /api/v1/jobs/ (token auth, a small valid
mlp spec) for a fixed time against uvicorn with a Redis broker and PostgreSQL. No worker runs,
so every job stays queued; afterwards the API's job count and the Redis queue length must both
equal the number of 201s. Prints JSON: submissions/s, p50/p95/max latency, errors by status.

Measured on the 2-core box (shared, load 4-5): 37/s; per request 21.6 ms of CPU in uvicorn, 3.2 ms
in PostgreSQL, 0.5 ms in Redis, 0.3 ms in the client: 78/s at most with both cores to itself, so
200/s needs ~10 ms all told. In-process, without ASGI, the view costs 11 ms (token auth 1.7,
throttle 0.6, validation 0.3, quota lock + 2 reads 3.3, job + event INSERTs 1.2, Celery publish
1.1, response serializer 1.3; mostly the ORM compiling SQL); ASGI adds ~9 ms: uvicorn, a thread
per request, and a thread switch per middleware, since FaultsMiddleware (sync only) sits among
async-capable ones (moved last in MIDDLEWARE: 19.9 -> 16.9 ms per request).

Submission throttling and per-user quotas are raised out of the way (PLAYGROUND_SUBMIT_RATE,
PLAYGROUND_QUOTA_CONCURRENT_JOBS): this measures the create path, not the limits.

    python benchmarks/submit_rate.py [--concurrency 16] [--seconds 10] [--web-workers 1]
Env: PLAYGROUND_TEST_POSTGRES_URL (admin URL of a PostgreSQL that may create databases).
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import time
from urllib.parse import urlsplit

from _support import BackendCpu, cpu_seconds, latency_summary, load_average, machine, service_stack

TARGET_PER_S = 200
WARMUP_S = 2.0
SPEC = {"recipe": "mlp", "dataset": "digits", "hyperparameters": {"epochs": 1}}
LIMITS_OUT_OF_THE_WAY = {"PLAYGROUND_SUBMIT_RATE": "1000000/second", "PLAYGROUND_QUOTA_CONCURRENT_JOBS": "1000000"}


class Connection:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams: the venv has no async HTTP client,
    and a thread per request (requests) would spend the shared CPUs on the client side."""

    def __init__(self, base_url: str):
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post_json(self, path: str, body: dict, headers: dict[str, str]) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        payload = json.dumps(body).encode()
        head = "".join(f"{name}: {value}\r\n" for name, value in {
            "Host": f"{self.host}:{self.port}", "Content-Type": "application/json",
            "Content-Length": str(len(payload)), **headers}.items())
        self.writer.write(f"POST {path} HTTP/1.1\r\n{head}\r\n".encode() + payload)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        fields = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            fields[name.strip().lower()] = value.strip()
        if "content-length" in fields:
            body_bytes = await self.reader.readexactly(int(fields["content-length"]))
        else:  # chunked
            chunks = []
            while size := int((await self.reader.readline()).strip(), 16):
                chunks.append(await self.reader.readexactly(size))
                await self.reader.readline()
            await self.reader.readline()
            body_bytes = b"".join(chunks)
        if fields.get("connection", "").lower() == "close":
            self.writer.close()
            self.writer = None
        return status, body_bytes


async def submit_for(base_url: str, token: str, concurrency: int, seconds: float) -> dict:
    headers = {"Authorization": f"Token {token}"}
    latencies: list[float] = []
    statuses: collections.Counter = collections.Counter()
    warm_until = time.monotonic() + WARMUP_S
    end = warm_until + seconds
    created_total = requests_total = 0

    async def client() -> None:
        nonlocal created_total, requests_total
        connection = Connection(base_url)
        while (started := time.monotonic()) < end:
            try:
                status, _ = await connection.post_json("/api/v1/jobs/", SPEC, headers)
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
                status, connection = type(exc).__name__, Connection(base_url)
            requests_total += 1
            if status == 201:
                created_total += 1
            if started >= warm_until:
                statuses[status] += 1
                if status == 201:
                    latencies.append((time.monotonic() - started) * 1000)

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return {"latencies": latencies, "statuses": statuses, "created_total": created_total,
            "requests_total": requests_total}


def queued_tasks(redis_url: str) -> int:
    import redis

    return redis.Redis.from_url(redis_url).llen("training")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--web-workers", type=int, default=1, help="uvicorn --workers")
    args = parser.parse_args()

    import requests
    import uvloop

    load_start = load_average()
    with service_stack(web_workers=args.web_workers, env=LIMITS_OUT_OF_THE_WAY) as stack:
        server_cpu, redis_cpu, client_cpu = cpu_seconds(stack.web_pid), cpu_seconds(stack.redis_pid), time.process_time()
        database_cpu = BackendCpu(stack.database_url)
        result = uvloop.run(submit_for(stack.base_url, stack.token, args.concurrency, args.seconds))
        server_cpu = cpu_seconds(stack.web_pid) - server_cpu
        redis_cpu = cpu_seconds(stack.redis_pid) - redis_cpu
        client_cpu = time.process_time() - client_cpu
        database_cpu = database_cpu.seconds()
        listing = requests.get(f"{stack.base_url}/api/v1/jobs/", headers=stack.headers, timeout=30)
        listed = listing.json()["count"] if listing.ok else f"HTTP {listing.status_code}"
        in_queue = queued_tasks(stack.env["REDIS_URL"])
    statuses = result["statuses"]
    created = statuses.get(201, 0)
    print(json.dumps({
        "benchmark": "submit_rate",
        "path": "POST /api/v1/jobs/ (token auth, validation, Job row + status event in PostgreSQL, "
                "Celery task to Redis on commit) on uvicorn",
        "setup": {"database": "PostgreSQL (fresh database)", "broker": "private redis-server, no worker",
                  "uvicorn_workers": args.web_workers, "concurrency": args.concurrency,
                  "client": "one asyncio process, HTTP/1.1 keep-alive", "limits_env": LIMITS_OUT_OF_THE_WAY,
                  **machine()},
        "seconds": args.seconds,
        "warmup_s": WARMUP_S,
        "created": created,
        "submissions_per_s": round(created / args.seconds, 1),
        **latency_summary(result["latencies"]),
        "errors": {str(k): v for k, v in statuses.items() if k != 201},
        # Warm-up included: CPU of all uvicorn processes per request answered, the figure that
        # says how many submissions one core can take whatever else the machine runs.
        "server_cpu_ms_per_request": round(server_cpu * 1000 / max(1, result["requests_total"]), 2),
        # The rest of the machine's work per request: the 2 cores are shared by all of it, so the
        # sum says how many submissions per second the box could take at best.
        "postgres_cpu_ms_per_request": round(database_cpu * 1000 / max(1, result["requests_total"]), 2),
        "redis_cpu_ms_per_request": round(redis_cpu * 1000 / max(1, result["requests_total"]), 2),
        "client_cpu_ms_per_request": round(client_cpu * 1000 / max(1, result["requests_total"]), 2),
        "ceiling_per_s_on_all_cpus": round((os.cpu_count() or 1) * result["requests_total"]
                                           / max(1e-9, server_cpu + database_cpu + redis_cpu + client_cpu), 1),
        "jobs_listed_by_api": listed,
        "tasks_in_redis_queue": in_queue,
        "all_accounted_for": listed == in_queue == result["created_total"],
        "target_per_s": TARGET_PER_S,
        "target_met": created / args.seconds >= TARGET_PER_S and not any(k != 201 for k in statuses),
        "load_average_start": load_start,
        "load_average_end": load_average(),
    }, indent=2))


if __name__ == "__main__":
    main()
