"""Start the product's processes the way the README does: used by the integration tests and
the benchmarks, so both measure the real thing."""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports (all held until each is known, so none repeats)."""
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def stack_env(database_url: str, redis_url: str, tmp: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "playground.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "PLAYGROUND_MEDIA_ROOT": str(tmp / "media"),
        "PLAYGROUND_DATA_DIR": str(tmp / "data"),
        "DJANGO_SECRET_KEY": "not-secret-test-stack",
        # One user submits for a whole session here; quotas and throttling have their own tests.
        "PLAYGROUND_QUOTA_CONCURRENT_JOBS": "100",
        "PLAYGROUND_SUBMIT_RATE": "",
        "PYTHONUNBUFFERED": "1",
    }


def manage(env: dict[str, str], *args: str) -> str:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True).stdout.strip()


def start_web(env: dict[str, str], port: int, log: Path, workers: int = 1) -> subprocess.Popen:
    return subprocess.Popen(
        [str(BIN / "uvicorn"), "playground.asgi:application", "--host", "127.0.0.1", "--port", str(port), "--lifespan", "on",
         "--workers", str(workers), "--ws-max-size", "65536", "--ws-per-message-deflate", "false"],
        cwd=ROOT, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT,
    )


def start_worker(env: dict[str, str], name: str, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [str(BIN / "celery"), "-A", "playground", "worker", "-Q", "training", "-c", "1",
         "--prefetch-multiplier=1", "-n", f"{name}@%h", "--loglevel", "INFO"],
        cwd=ROOT, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT,
    )


def wait_for(predicate, timeout: float, what: str, logs: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    tails = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(logs.glob("*.log"))) if logs else ""
    raise TimeoutError(f"{what} not ready after {timeout} s\n{tails}")


def web_is_up(base_url: str) -> bool:
    try:
        return requests.get(f"{base_url}/api/v1/recipes/", timeout=1).status_code == 401
    except requests.ConnectionError:
        return False


def worker_is_ready(log: Path) -> bool:
    return " ready." in log.read_text()


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@contextlib.contextmanager
def temporary_database(admin_url: str):
    """A fresh PostgreSQL database for one stack, dropped afterwards; yields its URL."""
    import psycopg

    name = f"playground_tmp_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_redis(port: int, log: Path) -> subprocess.Popen:
    """A private redis-server for one test session: no other run's workers can steal its jobs."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise FileNotFoundError("redis-server is not installed (apt-get install redis-server)")
    return subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--logfile", str(log)],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )


def redis_is_up(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def run_async(coro):
    """asyncio.run in a fresh thread: Playwright's sync API keeps a loop running in this one."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()
