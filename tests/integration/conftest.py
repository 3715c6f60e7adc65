"""A real deployment in miniature: PostgreSQL, Redis, uvicorn and a separate Celery worker
process, each started here the way the README starts them."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
IN_CI = os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str):
    # In CI the real services are part of the contract: their absence fails, never skips.
    if IN_CI:
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def redis_url() -> str:
    import redis

    url = os.environ.get("PLAYGROUND_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2)
        client.flushdb()
    except redis.RedisError as exc:
        unavailable(f"Redis at {url} is not reachable ({exc}); start redis-server or set PLAYGROUND_TEST_REDIS_URL")
    return url


@pytest.fixture(scope="session")
def database_url():
    import psycopg

    admin_url = os.environ.get("PLAYGROUND_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"playground_it_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        unavailable(f"PostgreSQL at {admin_url} is not reachable ({exc}); set PLAYGROUND_TEST_POSTGRES_URL")
    yield admin_url.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Stack:
    base_url: str
    ws_base: str
    tokens: dict[str, str]
    logs: Path

    def headers(self, user: str = "alice") -> dict[str, str]:
        return {"Authorization": f"Token {self.tokens[user]}"}


def wait_for(predicate, timeout: float, what: str, logs: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    tails = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(logs.glob("*.log")))
    raise TimeoutError(f"{what} not ready after {timeout} s\n{tails}")


@pytest.fixture(scope="session")
def stack(redis_url, database_url, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stack")
    logs = tmp / "logs"
    logs.mkdir()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "playground.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "PLAYGROUND_MEDIA_ROOT": str(tmp / "media"),
        "PLAYGROUND_DATA_DIR": str(tmp / "data"),
        "DJANGO_SECRET_KEY": "integration-tests",
        "PYTHONUNBUFFERED": "1",
    }
    bin_dir = Path(sys.executable).parent

    def manage(*args: str) -> str:
        return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True,
                              capture_output=True, text=True).stdout.strip()

    manage("migrate", "--noinput")
    tokens = {user: manage("ensure_demo_user", "--username", user, "--password", f"pw-{user}") for user in ("alice", "bob")}
    port = free_port()
    processes = [
        subprocess.Popen(
            [str(bin_dir / "uvicorn"), "playground.asgi:application", "--host", "127.0.0.1", "--port", str(port), "--lifespan", "on"],
            cwd=ROOT, env=env, stdout=open(logs / "web.log", "w"), stderr=subprocess.STDOUT,
        ),
        subprocess.Popen(
            [str(bin_dir / "celery"), "-A", "playground", "worker", "-Q", "training", "-c", "1",
             "--prefetch-multiplier=1", "-n", f"it-{port}@%h", "--loglevel", "INFO"],
            cwd=ROOT, env=env, stdout=open(logs / "worker.log", "w"), stderr=subprocess.STDOUT,
        ),
    ]
    base_url = f"http://127.0.0.1:{port}"
    try:
        def web_up() -> bool:
            try:
                return requests.get(f"{base_url}/api/v1/recipes/", timeout=1).status_code == 401
            except requests.ConnectionError:
                return False

        wait_for(web_up, 60, "uvicorn", logs)
        wait_for(lambda: " ready." in (logs / "worker.log").read_text(), 90, "celery worker", logs)
        yield Stack(base_url, f"ws://127.0.0.1:{port}", tokens, logs)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
