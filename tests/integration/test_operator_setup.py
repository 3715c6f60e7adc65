"""docs/deployment.md's step-by-step setup, run the way a new operator runs it: every ```sh block
between the operator-steps markers, in order, from a fresh PostgreSQL role and database to a
job that succeeds. Blocks after `<!-- service: NAME -->` are started and kept running, each in
a fresh terminal (a new bash that has only the caller's plain environment); the others run one
after another in "the first shell" (a bash per block that keeps the variables of the ones
before). Only the placeholders the docs name are substituted: free ports, temporary folders,
a fresh database name and this test's PostgreSQL superuser."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.ci import unavailable
from tests.support.processes import BIN, ROOT, free_ports, redis_is_up, wait_for, web_is_up, worker_is_ready

pytestmark = pytest.mark.integration
DOC = ROOT / "docs" / "deployment.md"
STEPS = re.compile(r"<!-- operator-steps:start -->(.*?)<!-- operator-steps:end -->", re.S)
BLOCK = re.compile(r"(?:<!-- service: (\w+) -->\n)?```sh\n(.*?)```", re.S)
FINISHED = {"succeeded", "failed", "cancelled"}


@dataclass
class Step:
    service: str  # "" for a command run in the first shell
    script: str


def operator_steps(text: str) -> list[Step]:
    return [Step(service, script) for service, script in BLOCK.findall(STEPS.search(text).group(1))]


def steps_text() -> str:
    return STEPS.search(DOC.read_text()).group(1)


def service(name: str) -> str:
    return next(step.script for step in operator_steps(DOC.read_text()) if step.service == name)


# --- what the steps must say ---------------------------------------------------------------

def test_the_web_and_worker_commands_run_lifespan_log_at_info_and_name_each_worker():
    web, worker = service("web"), service("worker")

    assert "--lifespan on" in web and "--log-level info" in web
    assert "--loglevel INFO" in worker and re.search(r" -n \S+@%h", worker)


def test_the_allowed_hosts_example_keeps_localhost():
    hosts = re.search(r"^DJANGO_ALLOWED_HOSTS=(\S+)$", steps_text(), re.M).group(1).split(",")

    assert {"localhost", "127.0.0.1"} <= set(hosts) and len(hosts) > 2


def test_redis_persists_its_queue_and_the_settings_file_names_media_data_and_https():
    text = steps_text()

    assert "--appendonly yes" in service("redis")
    for name in ("DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY", "PLAYGROUND_MEDIA_ROOT", "PLAYGROUND_DATA_DIR",
                 "PLAYGROUND_HTTPS"):
        assert re.search(rf"^{name}=", text, re.M), name


def test_a_fresh_clone_is_told_to_build_the_git_ignored_vendor_folder():
    before_steps = DOC.read_text().split("<!-- operator-steps:start -->")[0]

    assert "static/vendor/" in (ROOT / ".gitignore").read_text().splitlines()
    assert "make setup" in before_steps and "make vendor" in before_steps


def test_the_readme_links_the_deployment_guide():
    assert "(docs/deployment.md)" in (ROOT / "README.md").read_text()


# --- running them ----------------------------------------------------------------------------

@dataclass
class Place:
    admin_url: str
    db_name: str
    redis_port: int
    web_port: int
    tmp: Path

    def substitutions(self) -> dict[str, str]:
        admin = urlsplit(self.admin_url)
        return {
            "db_name=playground": f"db_name={self.db_name}",
            "sudo -u postgres psql": f"psql {self.admin_url}",
            "127.0.0.1:5432": f"{admin.hostname}:{admin.port or 5432}",
            "6379": str(self.redis_port),
            "8000": str(self.web_port),
            "/srv/playground": str(self.tmp / "srv"),
            "/var/lib/redis": str(self.tmp / "redis"),
            ".venv/bin/": f"{BIN}/",
        }

    def localise(self, text: str) -> str:
        for placeholder, value in self.substitutions().items():
            assert placeholder in text, f"docs/deployment.md no longer has the placeholder {placeholder!r}"
            text = re.sub(rf"(?<![\w.]){re.escape(placeholder)}(?!\d)", value, text)
        return text


def plain_environment() -> dict[str, str]:
    """A new terminal's: none of the caller's playground, Django or PostgreSQL settings."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("DJANGO_", "PLAYGROUND_", "PG")) and k not in {"DATABASE_URL", "REDIS_URL"}}


class FirstShell:
    """Blocks run one after another with the variables (exported or not) of those before."""

    def __init__(self, state: Path):
        self.state = state
        state.write_text("")

    def run(self, script: str) -> str:
        wrapped = f"set -euo pipefail\n. {self.state}\nset -a\n{script}\nset +a\nexport -p > {self.state}\n"
        done = subprocess.run(["bash", "-c", wrapped], cwd=ROOT, env=plain_environment(), stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{script}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
        return done.stdout

    def variable(self, name: str) -> str:
        return re.search(rf'^declare -x {name}="(.*)"$', self.state.read_text(), re.M).group(1)


def start_service(script: str, log: Path) -> subprocess.Popen:
    return subprocess.Popen(["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, env=plain_environment(),
                            stdin=subprocess.DEVNULL, stdout=open(log, "w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop_services(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        with_group(process, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with_group(process, signal.SIGKILL)


def with_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


def ready(name: str, place: Place, log: Path, process: subprocess.Popen):
    checks = {
        "redis": lambda: redis_is_up(f"redis://127.0.0.1:{place.redis_port}/0"),
        "web": lambda: web_is_up(f"http://127.0.0.1:{place.web_port}"),
        "worker": lambda: worker_is_ready(log),
    }

    def check() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"{name} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        return checks[name]()

    return check


@pytest.fixture
def place(tmp_path):
    import psycopg

    for binary in ("psql", "curl", "redis-server"):
        if shutil.which(binary) is None:
            unavailable(f"{binary} is not installed; the operator steps use it")
    admin_url = os.environ.get("PLAYGROUND_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        psycopg.connect(admin_url, connect_timeout=3).close()
    except psycopg.Error as exc:
        unavailable(f"PostgreSQL at {admin_url} is not reachable ({exc}); set PLAYGROUND_TEST_POSTGRES_URL")
    (tmp_path / "redis").mkdir()  # the redis-server package's data folder
    redis_port, web_port = free_ports(2)
    place = Place(admin_url, f"playground_op_{uuid.uuid4().hex[:8]}", redis_port, web_port, tmp_path)
    yield place
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{place.db_name}" WITH (FORCE)')
        conn.execute(f'DROP ROLE IF EXISTS "{place.db_name}"')


def wait_until_finished(base_url: str, token: str, job_id: int, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = requests.get(f"{base_url}/api/v1/jobs/{job_id}/", headers={"Authorization": f"Token {token}"}, timeout=10).json()
        if job["status"] in FINISHED or time.monotonic() > deadline:
            return job
        time.sleep(1)


def test_the_documented_steps_take_a_fresh_database_to_a_succeeded_job(place):
    steps = operator_steps(place.localise(DOC.read_text()))
    shell, services, outputs = FirstShell(place.tmp / "shell-state"), [], []
    assert [s.service for s in steps if s.service] == ["redis", "web", "worker"]

    try:
        for number, step in enumerate(steps, 1):
            if step.service:
                log = place.tmp / f"{step.service}.log"
                services.append(start_service(step.script, log))
                wait_for(ready(step.service, place, log, services[-1]), 120, step.service, place.tmp)
            else:
                outputs.append(shell.run(step.script))
        submitted = json.loads(outputs[-1])
        assert "id" in submitted, submitted
        job = wait_until_finished(f"http://127.0.0.1:{place.web_port}", shell.variable("TOKEN"), submitted["id"])
    finally:
        stop_services(services[::-1])

    assert submitted["status"] == "queued" and submitted["recipe"] == "mlp"
    assert job["status"] == "succeeded", job
    assert job["progress"]["epoch"] == 1 and job["test_metrics"]
