"""Transfer learning in the browser: the tab turns each image into the features of a frozen base
(here the user's own LeNet job, without its last layer) once, trains only the new head, and the
server puts the head back on the base, tests and exports the whole."""
from __future__ import annotations

import shutil
import time

import requests

from tests.browser.conftest import log_in
from tests.browser.test_browser_training import api, stored_events
from tests.support.pretrained import write_manifest
from trainer import pretrained


def test_a_head_on_your_own_job_trains_in_the_tab_on_the_bases_features(site, page):
    parent = api(site, "POST", "/api/v1/jobs/", json={"recipe": "lenet", "dataset": "digits_0_4",
                                                      "hyperparameters": {"epochs": 3}}).json()
    deadline = time.monotonic() + 120
    while (status := api(site, "GET", f"/api/v1/jobs/{parent['id']}/").json()["status"]) != "succeeded":
        assert status not in ("failed", "cancelled") and time.monotonic() < deadline, status
        time.sleep(1)

    log_in(page, site)
    page.goto(f"{site.base_url}/play/transfer/?base=job:{parent['id']}&dataset=digits_5_9&epochs=5"
              "&learning_rate=0.01")
    assert page.locator("#id_base").input_value() == f"job:{parent['id']}"
    page.click("#train-browser")
    page.wait_for_url("**/jobs/*/")
    job_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    page.wait_for_selector("#status.status-succeeded", timeout=90_000)

    job = api(site, "GET", f"/api/v1/jobs/{job_id}/").json()
    assert job["engine"] == "browser" and job["run_info"]["devices"] == ["browser"]
    assert [e["data"]["epoch"] for e in stored_events(site, job_id) if e["type"] == "epoch"] == [1, 2, 3, 4, 5]
    # Digits 5-9 on the features a LeNet learned from 0-4: far above the 0.2 of guessing.
    assert job["test_metrics"]["accuracy"] > 0.5, job["test_metrics"]
    assert {("tfjs", "float32"), ("keras", "h5")} <= {(a["kind"], a["variant"]) for a in job["artifacts"]}
    # The exported model takes the dataset's own 8x8 images: the base and the head in one.
    url = next(a["url"] for a in job["artifacts"] if a["variant"] == "float32" and a["kind"] == "tfjs")
    model = requests.get(url, headers={"Authorization": f"Token {site.tokens['alice']}"}, timeout=10)
    assert model.json()["modelTopology"]["model_config"]["config"]["layers"][0]["config"]["batch_input_shape"] == [None, 8, 8, 1]
    assert page.console_errors == []


def test_a_head_on_an_imagenet_cnn_trains_in_the_tab(site, page, pretrained_mirror):
    # MobileNetV2 (locally made weights): the tab runs grey-to-RGB, resizing, the input scale and
    # the CNN itself in TF.js, then trains the head.
    shutil.copytree(pretrained_mirror[0], pretrained.cache_dir(site.data_dir), dirs_exist_ok=True)
    write_manifest(site.data_dir, "http://127.0.0.1:9", pretrained_mirror[1])
    log_in(page, site)
    page.goto(f"{site.base_url}/play/transfer/?base=mobilenet_v2&input_size=32&epochs=2")
    page.click("#train-browser")
    page.wait_for_url("**/jobs/*/")
    job_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    page.wait_for_function("() => document.getElementById('status').textContent === 'succeeded'"
                           " || window.playground.engine?.state === 'failed'", timeout=120_000)
    assert page.evaluate("() => window.playground.engine.state") != "failed", page.evaluate("() => window.playground.engine.error")

    job = api(site, "GET", f"/api/v1/jobs/{job_id}/").json()
    assert job["engine"] == "browser" and job["test_metrics"]["accuracy"] >= 0
    assert [e["data"]["epoch"] for e in stored_events(site, job_id) if e["type"] == "epoch"] == [1, 2]
    assert page.console_errors == []
