"""A real deployment in miniature: PostgreSQL, Redis, uvicorn and a separate Celery worker
process, each started here the way the README starts them."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.ci import unavailable
from tests.support.processes import (
    free_port, manage, redis_is_up, stack_env, start_redis, start_web, start_worker, stop,
    temporary_database, wait_for, web_is_up, worker_is_ready,
)

@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """A real Redis: PLAYGROUND_TEST_REDIS_URL if set, else a private redis-server we start."""
    url = os.environ.get("PLAYGROUND_TEST_REDIS_URL")
    if url:
        if not redis_is_up(url):
            unavailable(f"Redis at {url} (PLAYGROUND_TEST_REDIS_URL) is not reachable")
        yield url
        return
    port = free_port()
    try:
        server = start_redis(port, tmp_path_factory.mktemp("redis") / "redis.log")
    except FileNotFoundError as exc:
        unavailable(str(exc))
    url = f"redis://127.0.0.1:{port}/0"
    try:
        wait_for(lambda: redis_is_up(url), 20, "redis-server")
        yield url
    finally:
        stop([server])


@pytest.fixture(scope="session")
def database_url():
    import psycopg

    admin_url = os.environ.get("PLAYGROUND_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        database = temporary_database(admin_url)
        url = database.__enter__()
    except psycopg.Error as exc:
        unavailable(f"PostgreSQL at {admin_url} is not reachable ({exc}); set PLAYGROUND_TEST_POSTGRES_URL")
    yield url
    database.__exit__(None, None, None)


@dataclass
class Stack:
    base_url: str
    ws_base: str
    tokens: dict[str, str]
    logs: Path

    def headers(self, user: str = "alice") -> dict[str, str]:
        return {"Authorization": f"Token {self.tokens[user]}"}


@pytest.fixture(scope="session")
def stack(redis_url, database_url, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stack")
    logs = tmp / "logs"
    logs.mkdir()
    env = stack_env(database_url, redis_url, tmp)
    manage(env, "migrate", "--noinput")
    tokens = {user: manage(env, "ensure_demo_user", "--username", user, "--password", f"pw-{user}") for user in ("alice", "bob")}
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    processes = [start_web(env, port, logs / "web.log"), start_worker(env, f"it-{port}", logs / "worker.log")]
    try:
        wait_for(lambda: web_is_up(base_url), 60, "uvicorn", logs)
        wait_for(lambda: worker_is_ready(logs / "worker.log"), 90, "celery worker", logs)
        yield Stack(base_url, f"ws://127.0.0.1:{port}", tokens, logs)
    finally:
        stop(processes)
