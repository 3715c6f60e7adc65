"""A browser job whose tab went away continues on a real Celery worker from the checkpoint the
tab uploaded, over real HTTP, and every epoch is reported once. The tab is played here."""
from __future__ import annotations

import json
import time

import psycopg
import pytest
import requests

from tests.support.browser_tab import issued_weights

pytestmark = pytest.mark.integration
HP = {"hidden_layers": [16], "epochs": 3, "batch_size": 64, "seed": 5, "learning_rate": 0.1}


def test_a_stopped_tabs_job_finishes_on_a_worker_from_its_last_checkpoint(stack, database_url):
    headers = stack.headers()
    job = requests.post(f"{stack.base_url}/api/v1/jobs/", headers=headers, timeout=10,
                        json={"recipe": "mlp", "engine": "browser", "hyperparameters": HP}).json()
    claimed = requests.post(f"{stack.base_url}/api/v1/jobs/{job['id']}/browser/claim/", headers=headers,
                            timeout=120).json()
    lease = {**headers, "X-Browser-Lease": claimed["lease"]}
    epoch = {"epoch": 1, "epochs": 3, "best_epoch": 1, "duration_s": 0.4, "samples_per_s": 3000.0,
             "logs": {"loss": 2.0, "accuracy": 0.3, "val_loss": 1.9, "val_accuracy": 0.35}}
    sent = requests.post(f"{stack.base_url}{claimed['events_url']}", headers=lease, timeout=10,
                         json={"events": [{"type": "epoch", "data": epoch}]})
    assert sent.status_code == 200, sent.text
    assert requests.put(f"{stack.base_url}/api/v1/jobs/{job['id']}/browser/checkpoint/?epoch=1",
                        data=issued_weights(claimed["model_url"], lambda url: requests.get(
                            f"{stack.base_url}{url}", headers=headers, timeout=30).content), timeout=30,
                        headers={**lease, "Content-Type": "application/octet-stream"}).status_code == 204
    # The tab closes: its last word is an hour old.
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE jobs_job SET heartbeat_at = now() - interval '1 hour' WHERE id = %s", (job["id"],))

    continued = requests.post(f"{stack.base_url}/api/v1/jobs/{job['id']}/continue/", headers=headers, timeout=10)

    assert continued.status_code == 202, continued.text
    deadline = time.monotonic() + 180
    while (detail := requests.get(f"{stack.base_url}/api/v1/jobs/{job['id']}/", headers=headers,
                                  timeout=10).json())["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert detail["status"] == "succeeded", detail["error"]
    assert detail["engine"] == "server"
    events = requests.get(f"{stack.base_url}/api/v1/jobs/{job['id']}/events/?limit=500", headers=headers,
                          timeout=10).json()["results"]
    assert [e["data"]["epoch"] for e in events if e["type"] == "epoch"] == [1, 2, 3]
    logs = " ".join(e["data"].get("message", "") for e in events if e["type"] == "log")
    assert "The browser stopped at epoch 1" in logs and "Resumed from epoch 1" in logs
    assert detail["metrics"]["loss"][0] == 2.0  # the tab's epoch, kept
    assert {a["variant"] for a in detail["artifacts"] if a["kind"] == "tfjs"} == {"float32", "float16", "uint8"}
    assert json.dumps(detail["test_metrics"])
