"""The body limit against a real uvicorn: a 50 MB chunked POST from an anonymous client is cut
off at the limit, answered 413 while the client is still sending, and never spooled past it."""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings

from tests.support.processes import free_port, stack_env, start_web, stop, wait_for, web_is_up

pytestmark = pytest.mark.integration
MB = 1024 * 1024
TOTAL = 50 * MB
CHUNK = 64 * 1024


@pytest.fixture(scope="module")
def web(redis_url, database_url, tmp_path_factory):
    """uvicorn alone (no worker: nothing here gets as far as a job), spooling into its own TMPDIR."""
    tmp = tmp_path_factory.mktemp("body-limit")
    spool = tmp / "spool"
    spool.mkdir()
    port = free_port()
    process = start_web({**stack_env(database_url, redis_url, tmp), "TMPDIR": str(spool)}, port, tmp / "web.log")
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: web_is_up(base_url), 60, "uvicorn", tmp)
        yield base_url, process.pid, spool
    finally:
        stop([process])


class Body:
    """A chunked body of TOTAL bytes that counts how much of it the client got to send."""

    def __init__(self):
        self.consumed = 0

    def __iter__(self):
        while self.consumed < TOTAL:
            self.consumed += CHUNK
            yield b"x" * CHUNK


class SpoolWatch(threading.Thread):
    """The largest file under `spool` the server holds open, sampled every 10 ms. Django's spool
    file is unlinked (O_TMPFILE), so it is found through /proc/<pid>/fd, not the directory."""

    def __init__(self, pid: int, spool: Path):
        super().__init__(daemon=True)
        self.fds, self.spool = Path(f"/proc/{pid}/fd"), str(spool)
        self.peak = 0
        self.done = threading.Event()

    def run(self):
        while not self.done.wait(0.01):
            for fd in self.fds.iterdir():
                try:
                    if os.readlink(fd).startswith(self.spool):
                        self.peak = max(self.peak, fd.stat().st_size)
                except OSError:
                    pass  # closed meanwhile

    def stop(self) -> int:
        self.done.set()
        self.join()
        return self.peak


def bytes_read(pid: int) -> int:
    # rchar: bytes passed to read() by the process, sockets included (uvloop reads with read()).
    return int(next(line.split()[1] for line in Path(f"/proc/{pid}/io").read_text().splitlines() if line.startswith("rchar:")))


def test_an_anonymous_50_mb_chunked_post_gets_413_before_it_is_all_sent_and_is_not_spooled(web):
    base_url, pid, spool = web
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE  # the server reads the same settings
    body, watch = Body(), SpoolWatch(pid, spool)
    read_before = bytes_read(pid)
    watch.start()

    started = time.monotonic()
    response = requests.post(f"{base_url}/api/v1/jobs/", data=body, headers={"Content-Type": "application/json"}, timeout=60)
    elapsed = time.monotonic() - started
    peak = watch.stop()
    read = bytes_read(pid) - read_before

    print(json.dumps({"sent_by_client": body.consumed, "read_by_server": read, "spool_peak": peak,
                      "seconds": round(elapsed, 3)}))
    assert response.status_code == 413
    assert response.json() == {"detail": f"The request body is over the limit of {limit} bytes."}
    assert body.consumed < TOTAL, "the client had to send the whole body before it got the 413"
    assert read < TOTAL // 2
    assert peak <= limit
    assert not any(spool.iterdir())


def test_the_server_keeps_serving_after_refusing_a_body(web):
    base_url, _, _ = web

    requests.post(f"{base_url}/api/v1/jobs/", data=Body(), timeout=60)

    assert requests.get(f"{base_url}/api/v1/recipes/", timeout=10).status_code == 401
