"""Unexpected exceptions on the real worker path (a prefork Celery worker process): in the
loader, in fit, in export and in the failure handling itself, and a dataset that cannot be
downloaded. Each job must end `failed` at once with the trainer's own message and where it
happened, never `running` until the watchdog takes it for a dead worker.

The worker is tests/support/faulty_worker.py on its own Redis database (its own broker), with
the watchdog's lease timeout left long, so a job that stays running shows up as a timeout."""
from __future__ import annotations

import subprocess
import time

import pytest

from tests.support.faulty_worker import FAULTS
from tests.support.processes import ROOT, free_port, manage, stack_env, stop, wait_for, worker_is_ready
from tests.integration.test_resume import rows

pytestmark = pytest.mark.integration
BATCH = {fault: size for size, fault in FAULTS.items()}
FINISHED = ("succeeded", "failed", "cancelled")


def create_job(env, spec: dict) -> int:
    return int(manage(env, "shell", "-c", (
        "from django.contrib.auth import get_user_model; from playground.jobs import services; "
        "from trainer.spec import validate_spec; "
        "owner = get_user_model().objects.get(username='alice'); "
        f"print(services.create_job(owner, validate_spec({spec!r})).pk)")).splitlines()[-1])


@pytest.fixture(scope="module")
def faulty_worker(stack, redis_url, database_url, tmp_path_factory):
    import sys

    tmp = tmp_path_factory.mktemp("faulty")
    env = stack_env(database_url, redis_url.rsplit("/", 1)[0] + "/6", tmp)
    env["FAULTY_WORKER_MIRROR"] = f"http://127.0.0.1:{free_port()}/"  # nothing listens there
    log = tmp / "worker.log"
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.support.faulty_worker", "-Q", "training", "-c", "1",
         "--prefetch-multiplier=1", "-n", f"faulty-{free_port()}@%h", "--loglevel", "INFO"],
        cwd=ROOT, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: worker_is_ready(log), 90, "faulty worker", tmp)
        yield env, log
    finally:
        stop([worker])


def run_to_end(env, database_url, spec: dict, timeout: float = 60) -> tuple[str, str, int, float]:
    started = time.monotonic()
    job_id = create_job(env, spec)
    wait_for(lambda: rows(database_url, "SELECT status FROM jobs_job WHERE id=%s", job_id)[0][0] in FINISHED,
             timeout, f"job {job_id} ({spec}) to finish")
    status, error, attempts = rows(database_url, "SELECT status, error, attempts FROM jobs_job WHERE id=%s", job_id)[0]
    return status, error, attempts, time.monotonic() - started


def digits_job(fault: str) -> dict:
    return {"recipe": "mlp", "dataset": "digits",
            "hyperparameters": {"epochs": 3, "batch_size": BATCH[fault], "hidden_layers": [16]}}


@pytest.mark.parametrize("fault, where", [
    ("loader", "before the first epoch: InjectedFault: injected fault while loading digits"),
    ("fit", "in epoch 2: InjectedFault: injected fault in fit"),
    ("export", "after epoch 3: InjectedFault: injected fault in export"),
    ("handler", "in epoch 2: InjectedFault: injected fault in fit; then its failure handling failed too: "
                "InjectedFault: injected fault in the failure handler"),
])
def test_an_unexpected_exception_fails_the_job_at_once_saying_where(faulty_worker, database_url, fault, where):
    env, _ = faulty_worker

    status, error, attempts, _ = run_to_end(env, database_url, digits_job(fault))

    assert status == "failed"
    assert error == f"Training stopped with an unexpected error {where}"
    assert attempts == 1, "failed by its own worker, not requeued as a dead one"


def test_a_dataset_that_cannot_be_downloaded_fails_within_seconds_with_the_download_message(faulty_worker, database_url):
    env, log = faulty_worker

    status, error, attempts, seconds = run_to_end(
        env, database_url, {"recipe": "mlp", "dataset": "mnist", "hyperparameters": {"epochs": 1}})

    assert status == "failed" and attempts == 1
    assert "MNIST" in error and "could not be downloaded" in error and "Download " in error, error
    assert "into " in error and "PLAYGROUND_DATA_DIR" in error
    assert seconds < 20, f"took {seconds:.1f} s"
    # Before a model was built: no TensorFlow strategy or model line for that job.
    assert "Running in float32" not in "".join(
        data["message"] for (data,) in rows(
            database_url, "SELECT data FROM jobs_jobevent WHERE type='log' AND job_id="
                          "(SELECT max(id) FROM jobs_job)"))
