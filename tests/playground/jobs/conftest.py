"""A private redis-server for the tests here that need a real one (channel layer, throttling)."""
from __future__ import annotations

import pytest

from tests.support.ci import unavailable
from tests.support.processes import free_port, redis_is_up, start_redis, stop, wait_for


@pytest.fixture
def redis_server(tmp_path):
    port = free_port()
    try:
        server = start_redis(port, tmp_path / "redis.log")
    except FileNotFoundError as exc:
        unavailable(str(exc))
    url = f"redis://127.0.0.1:{port}/0"
    try:
        wait_for(lambda: redis_is_up(url), 10, "redis-server")
        yield server, url
    finally:
        stop([server])
