"""No shared disk: web and two workers, each with its own PLAYGROUND_MEDIA_ROOT, keep every job
file and upload in an S3 bucket (moto in server mode on loopback, started here).

A job trains on worker A, A is killed -9, worker B resumes it from the checkpoint in the
bucket; the web serves its exports byte for byte and a browser runs the model; an upload made
to the web trains on a worker; with the storage down every request and job ends with a reason
that says so, and none stays running."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.integration.test_resume import epochs_reported, kill_group, rows, start_worker_group
from tests.playground.datasets.factories import csv_bytes
from tests.support.ci import unavailable
from tests.support.processes import BIN, free_port, stack_env, start_web, stop, wait_for, web_is_up, worker_is_ready

pytestmark = pytest.mark.integration
BUCKET = "playground-files"
EPOCHS = 6
HYPERPARAMETERS = {"epochs": EPOCHS, "batch_size": 16, "hidden_layers": [64], "learning_rate": 0.003,
                   "optimizer": "adam", "seed": 7}


def start_moto(port: int, log: Path) -> subprocess.Popen:
    return subprocess.Popen([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True)


def s3_is_up(client) -> bool:
    try:
        client.list_buckets()
        return True
    except Exception:  # noqa: BLE001 - not answering yet
        return False


@pytest.fixture
def s3(tmp_path):
    """A moto S3 server with an empty bucket: (its endpoint, a boto3 client, the process)."""
    import boto3

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = start_moto(port, tmp_path / "moto.log")
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test")
    try:
        wait_for(lambda: s3_is_up(client), 30, "moto_server", tmp_path)
        client.create_bucket(Bucket=BUCKET)
        yield endpoint, client, server
    finally:
        if server.poll() is None:
            stop([server])


def machine_env(stack_env_: dict[str, str], endpoint: str, media: Path) -> dict[str, str]:
    """One machine's environment: the shared services and bucket, its own disk."""
    return {**stack_env_, "PLAYGROUND_STORAGE": "s3", "AWS_STORAGE_BUCKET_NAME": BUCKET,
            "AWS_S3_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_S3_REGION_NAME": "us-east-1", "PLAYGROUND_MEDIA_ROOT": str(media)}


def stored(client, prefix: str) -> dict[str, bytes]:
    found = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return {o["Key"]: client.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in found}


def files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def wait_finished(api, job_id: int, timeout: float, logs: Path) -> dict:
    finished = {}

    def done() -> bool:
        answer = api.get(f"/api/v1/jobs/{job_id}/")
        assert answer.status_code == 200, answer.text  # a running job's page works with the storage down
        finished.update(answer.json())
        return finished["status"] in ("succeeded", "failed", "cancelled")

    wait_for(done, timeout, f"job {job_id}", logs)
    return finished


class Api:
    def __init__(self, base_url: str, token: str):
        self.base_url, self.session = base_url, requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"

    def get(self, path: str, **kwargs):
        return self.session.get(self.base_url + path, timeout=30, **kwargs)

    def post(self, path: str, **kwargs):
        return self.session.post(self.base_url + path, timeout=30, **kwargs)


def test_web_and_two_workers_share_only_a_bucket(stack, s3, redis_url, database_url, tmp_path):
    endpoint, client, moto = s3
    logs = tmp_path / "logs"
    logs.mkdir()
    base = stack_env(database_url, redis_url.rsplit("/", 1)[0] + "/8", tmp_path)
    # Short leases so a takeover happens within seconds (defaults: 5 s and 120 s).
    base.update(PLAYGROUND_HEARTBEAT_S="1", PLAYGROUND_LEASE_TIMEOUT_S="4")
    disks = {name: tmp_path / f"disk-{name}" for name in ("web", "a", "b")}
    port = free_port()
    web = start_web(machine_env(base, endpoint, disks["web"]), port, logs / "web.log")
    first = start_worker_group(machine_env(base, endpoint, disks["a"]), "storage-a", logs / "worker-a.log")
    second = None
    api = Api(f"http://127.0.0.1:{port}", stack.tokens["alice"])
    try:
        wait_for(lambda: web_is_up(api.base_url), 60, "uvicorn", logs)
        wait_for(lambda: worker_is_ready(logs / "worker-a.log"), 90, "worker a", logs)

        # --- a job trains on A; A dies; B resumes from the bucket's checkpoint -----------------
        job_id = api.post("/api/v1/jobs/", json={"recipe": "mlp", "dataset": "digits",
                                                 "hyperparameters": HYPERPARAMETERS}).json()["id"]
        wait_for(lambda: len(epochs_reported(database_url, job_id)) >= 2, 120, "two epochs", logs)
        wait_for(lambda: f"jobs/{job_id}/checkpoints/latest.weights.npz" in stored(client, f"jobs/{job_id}/"),
                 30, "a checkpoint in the bucket", logs)
        kill_group(first)
        killed_after = len(epochs_reported(database_url, job_id))
        assert killed_after < EPOCHS, "the job must still be running when its worker dies"
        second = start_worker_group(machine_env(base, endpoint, disks["b"]), "storage-b", logs / "worker-b.log")
        job = wait_finished(api, job_id, 180, logs)
        assert job["status"] == "succeeded", job["error"]
        assert worker_of(database_url, job_id).startswith("storage-b@")
        assert rows(database_url, "SELECT attempts FROM jobs_job WHERE id=%s", job_id)[0][0] == 2
        assert epochs_reported(database_url, job_id) == list(range(1, EPOCHS + 1)), "each epoch exactly once"
        logs_of_job = [data["message"] for (data,) in rows(
            database_url, "SELECT data FROM jobs_jobevent WHERE job_id=%s AND type='log' ORDER BY seq", job_id)]
        resumed = [m for m in logs_of_job if m.startswith("Resumed from epoch")]
        assert len(resumed) == 1, logs_of_job  # not "Restarted from epoch 1": B found A's checkpoint
        assert 1 <= int(resumed[0].split()[3]) <= killed_after

        # The web never trained: the files it serves come from the bucket (it fetched only the
        # snapshot its job page showed while the job ran).
        assert [f for f in files_under(disks["web"] / "jobs" / str(job_id)) if not f.startswith("snapshot/")] == []
        in_bucket = stored(client, f"jobs/{job_id}/")
        tfjs = next(a for a in job["artifacts"] if a["kind"] == "tfjs" and a["variant"] == "float32")
        assert len(tfjs["files"]) >= 2  # model.json and at least one shard
        for name in tfjs["files"]:
            served = api.get(f"/api/v1/jobs/{job_id}/artifacts/{name}")
            assert served.status_code == 200, (name, served.status_code)
            on_b = (disks["b"] / "jobs" / str(job_id) / name).read_bytes()
            assert served.content == on_b == in_bucket[f"jobs/{job_id}/{name}"], name
        assert f"jobs/{job_id}/checkpoints/best.weights.npz" in in_bucket
        assert any(k.startswith(f"jobs/{job_id}/tensorboard/") for k in in_bucket), sorted(in_bucket)
        # The quota's figure is the bucket's.
        assert rows(database_url, "SELECT disk_bytes FROM jobs_job WHERE id=%s", job_id)[0][0] == \
            sum(len(v) for v in in_bucket.values())

        # --- a browser runs the model the web streams; the server predicts from the bucket ----
        from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
        from tests.browser.test_try_digits import draw_a_seven

        if CHROMIUM is None:
            unavailable("Chromium is not installed (apt-get install chromium)")
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{api.base_url}/accounts/login/")
            page.fill("input[name=username]", "alice")
            page.fill("input[name=password]", "pw-alice")
            page.click("button[type=submit]")
            page.wait_for_url(f"{api.base_url}/")
            page.goto(f"{api.base_url}/try/digits/{job_id}/")
            page.wait_for_selector("#pad[data-model=float32]", timeout=60_000)
            draw_a_seven(page)
            page.wait_for_selector("#pad[data-predicted]", timeout=30_000)
            page.click("#ask")
            page.wait_for_function("() => document.getElementById('server-latency').textContent"
                                   ".includes('round trip')", timeout=60_000)
            assert page.locator("#server-class").inner_text() != "–"
            browser.close()
        # The server's prediction needed the Keras model on the web's disk: fetched, not trained.
        assert (disks["web"] / "jobs" / str(job_id) / job_artifact(job, "keras")).is_file()

        # --- an upload made to the web trains on a worker ---------------------------------------
        upload = api.post("/api/v1/datasets/", data={"name": "plants"}, files={"file": ("plants.csv", csv_bytes(40))})
        assert upload.status_code == 201, upload.text
        dataset = upload.json()
        assert not (disks["web"] / "datasets").exists()
        assert any(k.startswith("datasets/") for k in stored(client, "datasets/"))
        on_upload = api.post("/api/v1/jobs/", json={"recipe": "mlp", "dataset": f"user:{dataset['id']}",
                                                    "hyperparameters": {"epochs": 3, "hidden_layers": [8]}})
        assert on_upload.status_code == 201, on_upload.text
        trained = wait_finished(api, on_upload.json()["id"], 120, logs)
        assert trained["status"] == "succeeded", trained["error"]
        assert worker_of(database_url, trained["id"]).startswith("storage-b@")

        # --- the storage goes down: clear failures, nothing stuck ------------------------------
        os.killpg(moto.pid, signal.SIGKILL)
        moto.wait(timeout=10)
        down = api.get(f"/api/v1/jobs/{job_id}/artifacts/{tfjs['path']}")
        assert down.status_code == 503 and "storage" in down.json()["detail"], down.text
        refused = api.post("/api/v1/datasets/", data={"name": "lost"}, files={"file": ("lost.csv", csv_bytes(12))})
        assert refused.status_code == 503 and "nothing was kept" in refused.json()["detail"], refused.text
        assert [d["name"] for d in api.get("/api/v1/datasets/").json()["results"]] == ["plants"]
        stranded = api.post("/api/v1/jobs/", json={"recipe": "mlp", "dataset": "digits",
                                                   "hyperparameters": {"epochs": 1}}).json()
        failed = wait_finished(api, stranded["id"], 120, logs)
        assert failed["status"] == "failed" and "file storage" in failed["error"], failed["error"]
    finally:
        stop([p for p in (web, second) if p is not None and p.poll() is None])
        if first.poll() is None:
            kill_group(first)


def worker_of(database_url: str, job_id: int) -> str:
    return rows(database_url, "SELECT worker FROM jobs_job WHERE id=%s", job_id)[0][0]


def job_artifact(job: dict, kind: str) -> str:
    return next(a["path"] for a in job["artifacts"] if a["kind"] == kind)
