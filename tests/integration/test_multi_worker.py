"""multi_worker:2 over loopback: two separate Celery worker processes form one TensorFlow
cluster for one job (MultiWorkerMirroredStrategy), and a gang that cannot form fails.

Each test runs its own workers on its own Redis database (its own broker), sharing the
stack's PostgreSQL database, so the stack's worker never sees these jobs."""
from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import psutil
import psycopg
import pytest
import requests

from tests.support.processes import BIN, ROOT, manage, stack_env, stop, wait_for, worker_is_ready

pytestmark = pytest.mark.integration
EPOCHS = 3
HYPERPARAMETERS = {"epochs": EPOCHS, "batch_size": 32, "hidden_layers": [32], "seed": 3}
FINISHED = ("succeeded", "failed", "cancelled")


def start_worker(env: dict[str, str], name: str, log: Path) -> subprocess.Popen:
    """A worker in its own process group, so kill -9 reaches its pool and training processes."""
    return subprocess.Popen(
        [str(BIN / "celery"), "-A", "playground", "worker", "-Q", "training", "-c", "1",
         "--prefetch-multiplier=1", "-n", f"{name}@%h", "--loglevel", "INFO"],
        cwd=ROOT, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True,
    )


def rows(database_url: str, sql: str, *args):
    with psycopg.connect(database_url) as conn:
        return conn.execute(sql, args).fetchall()


def submit(env: dict[str, str], strategy: str, **hyperparameters) -> int:
    return int(manage(env, "shell", "-c", (
        "from django.contrib.auth import get_user_model; from playground.jobs import services; "
        "from trainer.spec import validate_spec; "
        "owner = get_user_model().objects.get(username='alice'); "
        f"print(services.create_job(owner, validate_spec({{'recipe': 'mlp', 'dataset': 'digits', "
        f"'strategy': {strategy!r}, 'hyperparameters': {({**HYPERPARAMETERS, **hyperparameters})!r}}})).pk)")).splitlines()[-1])


def wait_until_finished(database_url: str, job_id: int, timeout: float, logs: Path) -> tuple:
    query = "SELECT status, error, run_info, artifacts FROM jobs_job WHERE id=%s"
    wait_for(lambda: rows(database_url, query, job_id)[0][0] in FINISHED, timeout, f"job {job_id}", logs)
    return rows(database_url, query, job_id)[0]


def gang_env(stack, redis_url: str, database_url: str, tmp_path: Path, redis_db: int, timeout_s: int) -> dict[str, str]:
    env = stack_env(database_url, redis_url.rsplit("/", 1)[0] + f"/{redis_db}", tmp_path)
    env.update(PLAYGROUND_GANG_HOST="127.0.0.1", PLAYGROUND_GANG_TIMEOUT_S=str(timeout_s))
    return env


@pytest.fixture(scope="module")
def gang(stack, redis_url, database_url, tmp_path_factory):
    """Two worker processes on their own broker, and their environment for submissions."""
    tmp = tmp_path_factory.mktemp("gang")
    env = gang_env(stack, redis_url, database_url, tmp, redis_db=8, timeout_s=120)
    workers = [start_worker(env, f"gang-{name}", tmp / f"worker-{name}.log") for name in "ab"]
    try:
        for name in "ab":
            wait_for(lambda: worker_is_ready(tmp / f"worker-{name}.log"), 90, f"worker {name}", tmp)
        yield env, workers, tmp
    finally:
        stop(workers)


def training_processes(workers: list[subprocess.Popen]) -> list[psutil.Process]:
    return [child for worker in workers for child in psutil.Process(worker.pid).children(recursive=True)
            if "trainer.multi_worker" in " ".join(_cmdline(child))]


def _cmdline(process: psutil.Process) -> list[str]:
    # A member that just exited is a zombie until its worker reaps it: it no longer trains.
    try:
        return process.cmdline()
    except (psutil.ZombieProcess, psutil.NoSuchProcess):
        return []


def test_two_workers_train_one_multi_worker_job_and_the_chief_reports_it(gang, database_url):
    env, workers, tmp = gang
    job_id = submit(env, "multi_worker:2")
    status, error, run_info, artifacts = wait_until_finished(database_url, job_id, 240, tmp)

    assert status == "succeeded", error
    epochs = [data["epoch"] for (data,) in rows(
        database_url, "SELECT data FROM jobs_jobevent WHERE job_id=%s AND type='epoch' ORDER BY seq", job_id)]
    assert epochs == list(range(1, EPOCHS + 1)), "each epoch exactly once, from the chief only"
    seqs = [seq for (seq,) in rows(database_url, "SELECT seq FROM jobs_jobevent WHERE job_id=%s ORDER BY seq", job_id)]
    assert seqs == list(range(1, len(seqs) + 1))
    assert run_info["strategy"] == "multi_worker" and run_info["workers"] == 2
    assert run_info["replicas"] == 2
    assert (run_info["global_batch_size"], run_info["per_replica_batch_size"]) == (32, 16)

    slots = rows(database_url, "SELECT rank, worker, address FROM jobs_gangslot WHERE job_id=%s ORDER BY rank", job_id)
    assert [rank for rank, _, _ in slots] == [0, 1]
    assert {worker.split("@")[0] for _, worker, _ in slots} == {"gang-a", "gang-b"}, "one rank per worker"
    assert all(address.startswith("127.0.0.1:") for _, _, address in slots)

    # Batch logs are the chief's own, not summed over the two workers (a loss near 2×).
    batch_losses = [data["logs"]["loss"] for (data,) in rows(
        database_url, "SELECT data FROM jobs_jobevent WHERE job_id=%s AND type='batch' ORDER BY seq", job_id)]
    assert batch_losses and max(batch_losses) < 3.5, batch_losses
    # The chief exported into the job's folder.
    model_json = tmp / "media" / "jobs" / str(job_id) / "tfjs" / "float32" / "model.json"
    assert json.loads(model_json.read_text())["format"] == "layers-model"
    assert {a["variant"] for a in artifacts} >= {"h5", "float32", "float16", "uint8"}


def test_two_gangs_that_split_the_workers_between_them_both_train(gang, database_url):
    """Messages in the order A, B, A, B: each of the two workers joins a different gang. The
    younger gang gives its worker back (its message goes to the end of the queue), so the older
    one forms, trains, and the younger one follows, instead of both waiting for the timeout."""
    env, workers, tmp = gang
    spec = {"recipe": "mlp", "dataset": "digits", "strategy": "multi_worker:2", "hyperparameters": HYPERPARAMETERS}
    ids = manage(env, "shell", "-c", (
        "from unittest import mock; from django.contrib.auth import get_user_model; "
        "from playground.jobs import services, tasks; from trainer.spec import validate_spec; "
        "owner = get_user_model().objects.get(username='alice'); "
        "patch = mock.patch.object(services, 'enqueue'); patch.start(); "
        f"jobs = [services.create_job(owner, validate_spec({spec!r})) for _ in range(2)]; patch.stop(); "
        "[tasks.run_gang_member.apply_async((job.pk,), queue=job.queue) for job in jobs + jobs]; "
        "print(*[job.pk for job in jobs])")).splitlines()[-1]
    older, younger = (int(pk) for pk in ids.split())

    finished = {job_id: wait_until_finished(database_url, job_id, 240, tmp) for job_id in (older, younger)}

    assert [finished[job_id][0] for job_id in (older, younger)] == ["succeeded", "succeeded"], finished
    started = dict(rows(database_url, "SELECT id, started_at FROM jobs_job WHERE id IN (%s, %s)", older, younger))
    assert started[older] < started[younger], "the older gang went first"


def test_a_multi_worker_job_fails_with_the_reason_when_too_few_workers_join(stack, redis_url, database_url, tmp_path):
    env = gang_env(stack, redis_url, database_url, tmp_path, redis_db=9, timeout_s=3)
    worker = start_worker(env, "gang-alone", tmp_path / "worker.log")
    try:
        wait_for(lambda: worker_is_ready(tmp_path / "worker.log"), 90, "worker", tmp_path)
        job_id = submit(env, "multi_worker:2")
        status, error, _, _ = wait_until_finished(database_url, job_id, 60, tmp_path)
    finally:
        stop([worker])

    assert status == "failed"
    assert error.startswith("Only 1 of 2 workers joined within 3 s"), error
    assert rows(database_url, "SELECT count(*) FROM jobs_jobevent WHERE job_id=%s AND type='epoch'", job_id)[0][0] == 0


def test_cancelling_a_multi_worker_job_stops_every_member(gang, stack, database_url):
    env, workers, tmp = gang
    job_id = submit(env, "multi_worker:2", epochs=500)
    wait_for(lambda: rows(database_url, "SELECT count(*) FROM jobs_jobevent WHERE job_id=%s AND type='epoch'",
                          job_id)[0][0] >= 1, 180, "the first epoch", tmp)
    assert len(training_processes(workers)) == 2, "one training process per member"

    response = requests.post(f"{stack.base_url}/api/v1/jobs/{job_id}/cancel/", headers=stack.headers(), timeout=10)
    assert response.status_code == 202, response.text
    status, error, _, _ = wait_until_finished(database_url, job_id, 60, tmp)

    assert status == "cancelled", error
    wait_for(lambda: not training_processes(workers), 30, "the members' training processes to end", tmp)
    logs = [data["message"] for (data,) in rows(
        database_url, "SELECT data FROM jobs_jobevent WHERE job_id=%s AND type='log' ORDER BY seq", job_id)]
    assert any(m.startswith("Cancelled during epoch") and "stopped all 2 workers" in m for m in logs), logs


def test_a_multi_worker_job_whose_member_is_killed_fails_instead_of_hanging(stack, redis_url, database_url, tmp_path):
    env = gang_env(stack, redis_url, database_url, tmp_path, redis_db=10, timeout_s=120)
    env.update(PLAYGROUND_HEARTBEAT_S="1", PLAYGROUND_LEASE_TIMEOUT_S="4")
    workers = {name: start_worker(env, f"gang-{name}", tmp_path / f"worker-{name}.log") for name in "cd"}
    try:
        for name in workers:
            wait_for(lambda: worker_is_ready(tmp_path / f"worker-{name}.log"), 90, f"worker {name}", tmp_path)
        job_id = submit(env, "multi_worker:2", epochs=500)
        wait_for(lambda: rows(database_url, "SELECT count(*) FROM jobs_jobevent WHERE job_id=%s AND type='epoch'",
                              job_id)[0][0] >= 1, 180, "the first epoch", tmp_path)
        (member,) = rows(database_url, "SELECT worker FROM jobs_gangslot WHERE job_id=%s AND rank=1", job_id)[0]
        victim = workers[member.split("@")[0].removeprefix("gang-")]
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(timeout=10)
        status, error, _, _ = wait_until_finished(database_url, job_id, 90, tmp_path)
    finally:
        stop([worker for worker in workers.values() if worker.poll() is None])

    # The chief's all-reduce fails ("Connection reset by peer"), or, if it hangs, the chief
    # finds the member's slot silent: either way the job fails with a reason, never hangs.
    assert status == "failed"
    assert error.startswith("Multi-worker training stopped in epoch "), error
    assert "{{" not in error, "TensorFlow's node names are noise to users"
