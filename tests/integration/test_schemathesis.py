"""schemathesis against the live API: uvicorn on PostgreSQL and Redis, as deployed, driven from
/api/schema/ with a token by schemathesis' own runner (`st run`: examples, then the coverage
phase's boundary and invalid values, then fuzzing). Every generated request must get no 5xx, and a
status code, content type and body that the schema documents.

No worker runs, and the stack's Redis database is not the one the `stack` fixture's worker
consumes, so the hundreds of jobs submitted here stay queued and train nothing.
"""
from __future__ import annotations

import json
import os
import subprocess
from urllib.parse import urlsplit

import pytest

from tests.support.processes import (BIN, ROOT, free_port, manage, stack_env, start_web, stop, temporary_database,
                                     wait_for, web_is_up)

pytestmark = pytest.mark.integration

POSTGRES_ADMIN_URL = os.environ.get("PLAYGROUND_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
CHECKS = ["not_a_server_error", "status_code_conformance", "content_type_conformance", "response_schema_conformance"]
# Per operation and phase, and a fixed seed: about a minute, the same cases every run. A deeper
# hunt: PLAYGROUND_SCHEMATHESIS_EXAMPLES=200 PLAYGROUND_SCHEMATHESIS_SEED=<any> pytest this file.
MAX_EXAMPLES = int(os.environ.get("PLAYGROUND_SCHEMATHESIS_EXAMPLES", "25"))
SEED = os.environ.get("PLAYGROUND_SCHEMATHESIS_SEED", "1")
# Alice's objects, made in the stack before the run; tests/integration/schemathesis_hooks.py maps
# the ids that schemathesis generates onto them.
OBJECTS = """
import json
from django.contrib.auth import get_user_model
from playground.jobs import services
from playground.jobs.models import Job, JobGroup
from trainer.spec import validate_spec

alice = get_user_model().objects.get(username="alice")
queued = services.create_job(alice, validate_spec({"recipe": "mlp"}))
group = JobGroup.objects.create(owner=alice)
raced = services.create_job(alice, validate_spec({"recipe": "mlp"}), group=group)
done = services.create_job(alice, validate_spec({"recipe": "mlp"}))
workdir = services.job_workdir(done.pk) / "tfjs" / "uint8"
workdir.mkdir(parents=True)
(workdir / "model.json").write_text('{"format": "layers-model"}')
(workdir / "group1-shard1of1.bin").write_bytes(bytes(16))
files = ["tfjs/uint8/model.json", "tfjs/uint8/group1-shard1of1.bin"]
Job.objects.filter(pk=done.pk).update(status=Job.Status.SUCCEEDED, artifacts=[
    {"kind": "tfjs", "variant": "uint8", "path": files[0], "files": files, "bytes": 42, "accuracy": 0.9,
     "url": f"/api/v1/jobs/{done.pk}/artifacts/{files[0]}"}])
print(json.dumps({"jobs": [queued.pk, raced.pk, done.pk], "races": [group.pk], "files": files}))
"""


@pytest.fixture(scope="module")
def api_stack(redis_url, database_url, tmp_path_factory):
    """uvicorn alone (no worker) on a PostgreSQL database and a Redis database of its own (the
    `stack` fixture's worker, if this session started one, consumes database 0 of the same Redis).
    `database_url` is there for its check that PostgreSQL is up."""
    tmp = tmp_path_factory.mktemp("schemathesis")
    with temporary_database(POSTGRES_ADMIN_URL) as url:
        yield from _serve(url, urlsplit(redis_url)._replace(path="/1").geturl(), tmp)


def _serve(database: str, redis: str, tmp):
    env = {
        **stack_env(database, redis, tmp),
        # Submissions are what is being fuzzed: no rate limit, no quota on queued jobs.
        "PLAYGROUND_SUBMIT_RATE": "",
        "PLAYGROUND_QUOTA_CONCURRENT_JOBS": "0",
    }
    manage(env, "migrate", "--noinput")
    token = manage(env, "ensure_demo_user", "--username", "alice", "--password", "pw-alice")
    objects = json.loads(manage(env, "shell", "-c", OBJECTS).splitlines()[-1])
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    web = start_web(env, port, tmp / "web.log")
    try:
        wait_for(lambda: web_is_up(base_url), 60, "uvicorn", tmp)
        yield {"base_url": base_url, "token": token, "log": tmp / "web.log", "objects": objects}
    finally:
        stop([web])


def test_the_api_answers_every_generated_request_as_its_schema_says(api_stack, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SCHEMATHESIS_HOOKS": "tests.integration.schemathesis_hooks",
           "PLAYGROUND_SCHEMATHESIS_OBJECTS": json.dumps(api_stack["objects"])}
    run = subprocess.run(
        [str(BIN / "st"), "run", f"{api_stack['base_url']}/api/schema/", "--url", api_stack["base_url"],
         "-H", f"Authorization: Token {api_stack['token']}", "--checks", ",".join(CHECKS),
         "--phases", "examples,coverage,fuzzing", "--max-examples", str(MAX_EXAMPLES), "--seed", SEED,
         "--no-color"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )

    # Failures print as sections with a curl line to reproduce each; the server log has the 5xx tracebacks.
    errors = [line for line in api_stack["log"].read_text().splitlines() if " 500 " in line or "Error" in line]
    assert run.returncode == 0, f"{run.stdout[-20000:]}\n{run.stderr[-3000:]}\n--- web.log errors\n" + "\n".join(errors[-50:])
    assert "passed" in run.stdout
    print(run.stdout[-2500:])  # the summary: operations, phases, cases generated, warnings (pytest -s)
