"""`manage.py check --deploy` with the production environment docs/deployment.md documents: no issues.
The embedded playground on plain http leaves the HTTPS settings off, and the check says so. And
the docs (docs/deployment.md's table) name every variable the settings read."""
from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys

from tests.support.processes import ROOT

PRODUCTION = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "DJANGO_ALLOWED_HOSTS": "playground.example.com",
    "DATABASE_URL": "postgresql://playground:secret@postgres:5432/playground",
    "REDIS_URL": "redis://redis:6379/0",
    "PLAYGROUND_HTTPS": "1",
}


def check_deploy(**overrides: str) -> subprocess.CompletedProcess:
    # Only this process's non-Django environment is kept: no DJANGO_*/PLAYGROUND_* from the caller.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PLAYGROUND_", "DATABASE_URL", "REDIS_URL"))}
    env.update({k: v for k, v in {**PRODUCTION, **overrides}.items() if v is not None})
    return subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_production_settings_pass_the_deployment_checklist():
    result = check_deploy()

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_without_https_the_checklist_asks_for_it():
    result = check_deploy(PLAYGROUND_HTTPS=None)

    assert result.returncode != 0
    for check in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check in result.stderr + result.stdout


def test_every_environment_variable_the_settings_read_is_in_the_docs():
    settings_source = (ROOT / "playground" / "settings.py").read_text()
    docs = "".join(path.read_text() for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])
    names = set(re.findall(r'env_(?:str|bool|int|list)\("([A-Z0-9_]+)"', settings_source))

    assert names and not {name for name in names if f"`{name}`" not in docs}


def test_production_settings_with_files_in_a_bucket_pass_too():
    result = check_deploy(PLAYGROUND_STORAGE="s3", AWS_STORAGE_BUCKET_NAME="playground",
                          AWS_S3_ENDPOINT_URL="http://minio:9000", AWS_ACCESS_KEY_ID="playground",
                          AWS_SECRET_ACCESS_KEY=secrets.token_hex(20), AWS_S3_REGION_NAME="us-east-1")

    assert result.returncode == 0, result.stdout + result.stderr


def test_a_storage_setting_that_cannot_work_stops_the_process_naming_it():
    unknown = check_deploy(PLAYGROUND_STORAGE="nfs")
    no_bucket = check_deploy(PLAYGROUND_STORAGE="s3")

    assert unknown.returncode != 0 and "PLAYGROUND_STORAGE is 'nfs'; use filesystem or s3." in unknown.stderr
    assert no_bucket.returncode != 0 and "PLAYGROUND_STORAGE=s3 needs AWS_STORAGE_BUCKET_NAME." in no_bucket.stderr
