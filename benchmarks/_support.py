"""Shared pieces of the service benchmarks: a private stack (redis-server on a free port, a fresh
PostgreSQL database, uvicorn) started the way tests/integration does, plus small statistics."""
from __future__ import annotations

import contextlib
import os
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.processes import (  # noqa: E402
    free_port, manage, redis_is_up, stack_env, start_redis, start_web, stop, temporary_database,
    wait_for, web_is_up,
)

ADMIN_URL = os.environ.get("PLAYGROUND_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@dataclass
class Stack:
    base_url: str
    ws_base: str
    token: str
    env: dict[str, str]
    logs: Path
    web_pid: int
    redis_pid: int
    database_url: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.token}"}


@contextlib.contextmanager
def service_stack(web_workers: int = 1, env: dict[str, str] | None = None):
    """Redis + PostgreSQL + uvicorn (no Celery worker: submitted jobs stay queued); yields a Stack.

    Redis is always a private redis-server, never the shared one: a benchmark's group sends
    and queued tasks must not meet anyone else's.
    """
    with tempfile.TemporaryDirectory() as tmp, temporary_database(ADMIN_URL) as database_url:
        tmp_path = Path(tmp)
        redis_port = free_port()
        redis = start_redis(redis_port, tmp_path / "redis.log")
        processes = [redis]
        try:
            redis_url = f"redis://127.0.0.1:{redis_port}/0"
            wait_for(lambda: redis_is_up(redis_url), 20, "redis-server")
            stack_environment = {**stack_env(database_url, redis_url, tmp_path), **(env or {})}
            manage(stack_environment, "migrate", "--noinput")
            token = manage(stack_environment, "ensure_demo_user", "--username", "bench", "--password", "bench")
            port = free_port()
            base_url = f"http://127.0.0.1:{port}"
            web = start_web(stack_environment, port, tmp_path / "web.log", workers=web_workers)
            processes.append(web)
            wait_for(lambda: web_is_up(base_url), 60, "uvicorn", tmp_path)
            yield Stack(base_url, f"ws://127.0.0.1:{port}", token, stack_environment, tmp_path, web.pid, redis.pid,
                        database_url)
        except BaseException:
            # The logs go with the temporary directory: show the server's side of a failure.
            for log in sorted(tmp_path.glob("*.log")):
                print(f"--- {log.name}\n{log.read_text()[-4000:]}", file=sys.stderr)
            raise
        finally:
            stop(processes)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def latency_summary(latencies_ms: list[float]) -> dict[str, float | None]:
    if not latencies_ms:
        return {"p50_ms": None, "p95_ms": None, "max_ms": None}
    return {
        "p50_ms": round(statistics.median(latencies_ms), 2),
        "p95_ms": round(percentile(latencies_ms, 0.95), 2),
        "max_ms": round(max(latencies_ms), 2),
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children (uvicorn --workers): unlike wall-clock
    latency, the CPU spent per message barely depends on what else the shared machine runs."""
    import psutil

    process = psutil.Process(pid)
    return sum(sum(p.cpu_times()[:2]) for p in [process, *process.children(recursive=True)])


class BackendCpu:
    """CPU of the PostgreSQL server processes serving one database (the web process's pooled
    connections): the database's share of a request, which the web process's CPU leaves out."""

    def __init__(self, database_url: str):
        self.database = database_url.rsplit("/", 1)[1]
        self.start = self._times()

    def _times(self) -> dict[int, float]:
        import psutil
        import psycopg

        with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
            pids = [row[0] for row in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.database,))]
        times = {}
        for pid in pids:
            try:
                times[pid] = sum(psutil.Process(pid).cpu_times()[:2])
            except psutil.Error:
                pass  # closed meanwhile, or not on this machine
        return times

    def seconds(self) -> float:
        """CPU since this object was made; a backend that started meanwhile counts from 0."""
        return sum(t - self.start.get(pid, 0.0) for pid, t in self._times().items())


def load_average() -> list[float]:
    """1/5/15-minute load: the machine is shared, so every figure carries the load it ran under."""
    return [round(x, 2) for x in os.getloadavg()]


def machine() -> dict:
    return {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
