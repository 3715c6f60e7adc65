"""Training in the browser (docs/browser-training.md) on the live site: the page claims a browser
job, trains it with TF.js and uploads the weights; the server tests and exports them. The site's
embedded Celery worker never sees the job: a browser job is queued on "browser", which no worker
consumes and nothing is ever sent to."""
from __future__ import annotations

import sqlite3
import time
from datetime import datetime, timedelta, timezone

import requests

from tests.browser.conftest import log_in, on_phone, screenshot

TINY = "hidden_layers=16&epochs=3&batch_size=64&learning_rate=0.01"


def api(site, method: str, path: str, user: str = "alice", **kwargs) -> requests.Response:
    return requests.request(method, f"{site.base_url}{path}", headers={"Authorization": f"Token {site.tokens[user]}"},
                            timeout=10, **kwargs)


def stored_events(site, job_id: int) -> list[dict]:
    events, after = [], 0
    while True:
        page = api(site, "GET", f"/api/v1/jobs/{job_id}/events/?after={after}").json()
        events += page["results"]
        if not page["next"]:
            return events
        after = events[-1]["seq"]


def tab_went_quiet(site, job_id: int) -> None:
    """What PLAYGROUND_BROWSER_TIMEOUT_S (30 s) of silence does, at once: the job's last
    heartbeat an hour ago, in the site's SQLite database."""
    long_ago = (datetime.now(timezone.utc) - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S.%f")
    with sqlite3.connect(site.data_dir.parent / "db.sqlite3", timeout=10) as db:
        db.execute("UPDATE jobs_job SET heartbeat_at = ? WHERE id = ?", (long_ago, job_id))


def test_mlp_on_digits_trains_in_the_page_and_the_server_tests_and_exports_it(site, page):
    log_in(page, site)
    page.goto(f"{site.base_url}/play/mlp/?{TINY}")

    page.click("#train-browser")
    page.wait_for_url("**/jobs/*/")
    job_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    page.wait_for_selector("#status.status-succeeded", timeout=60_000)
    page.wait_for_function("() => window.playground.engine?.state === 'finished'", timeout=10_000)
    page.wait_for_selector("#exports-box:not([hidden])", timeout=10_000)

    job = api(site, "GET", f"/api/v1/jobs/{job_id}/").json()
    events = stored_events(site, job_id)
    assert job["engine"] == "browser" and job["queue"] == "browser" and job["attempts"] == 1
    assert job["hyperparameters"]["hidden_layers"] == [16] and job["hyperparameters"]["epochs"] == 3
    assert job["run_info"]["devices"] == ["browser"]
    # Claimed once, by this tab: no worker ever started it.
    assert [e["data"].get("worker") for e in events if e["type"] == "status" and e["data"]["status"] == "running"] \
        == ["browser of alice"]
    assert [e["data"]["epoch"] for e in events if e["type"] == "epoch"] == [1, 2, 3]
    assert all(set(e["data"]["logs"]) == {"loss", "accuracy", "val_loss", "val_accuracy"}
               for e in events if e["type"] in ("epoch",))
    assert any(e["type"] == "batch" for e in events)
    assert job["metrics"]["loss"][0] > job["metrics"]["loss"][-1]
    assert 0.5 < job["test_metrics"]["accuracy"] <= 1  # chance is 0.1
    assert {a["variant"] for a in job["artifacts"] if a["kind"] == "tfjs"} == {"float32", "float16", "uint8"}

    # The page drew the epochs from the event stream, and says where it trained.
    engine = page.evaluate("() => window.playground.engine")
    assert engine["backend"] in ("wasm", "webgl", "cpu") and engine["samplesPerS"] > 0
    assert page.evaluate("() => window.playground.epochPoints.map(p => p.epoch)") == [1, 2, 3]
    assert page.locator("#engine-text").inner_text().startswith(f"Trained in this browser on {engine['backend']}")
    assert page.locator("#exports tr").count() == 4
    assert page.locator("#test-metrics").inner_text().startswith("loss")
    print("browser job phases (ms since the job page loaded):", engine["times"])
    screenshot(page, "job_browser")
    assert page.console_errors == []

    with on_phone(page, site, f"/jobs/{job_id}/") as phone:
        phone.wait_for_selector("#exports-box:not([hidden])")
        assert phone.locator("#engine-text").inner_text() == "Trained in a browser."
        # The charts fit the phone's width (they sat side by side, 670 px wide).
        phone.wait_for_function("() => document.querySelector('#loss-chart').getBoundingClientRect().right <= 390")
        screenshot(phone, "job_browser_phone")


def test_the_play_page_offers_the_browser_only_for_recipes_it_can_train(site, page):
    log_in(page, site)

    page.goto(f"{site.base_url}/play/mlp/")
    assert page.locator("#train-browser").inner_text() == "Train in my browser"
    page.goto(f"{site.base_url}/play/dcgan/")
    assert page.locator("#train").is_visible() and page.locator("#train-browser").count() == 0


def test_a_second_tab_on_a_job_another_tab_trains_says_so(site, page, browser):
    job = api(site, "POST", "/api/v1/jobs/", json={
        "recipe": "mlp", "engine": "browser", "hyperparameters": {"hidden_layers": [16], "epochs": 200, "batch_size": 8}}).json()
    log_in(page, site)
    page.goto(f"{site.base_url}/jobs/{job['id']}/")
    try:
        page.wait_for_function("() => window.playground.engine?.state === 'training'", timeout=30_000)
        other = page.context.new_page()
        other.goto(f"{site.base_url}/jobs/{job['id']}/")

        other.wait_for_selector("#engine-box:not([hidden])")
        assert other.locator("#engine-text").inner_text() == "Training in another browser."
        assert other.evaluate("() => window.playground.engine") is None  # it claimed nothing
        other.wait_for_function("() => window.playground.epochPoints.length >= 1", timeout=30_000)
    finally:
        api(site, "POST", f"/api/v1/jobs/{job['id']}/cancel/")
    # The training tab sees the cancel in an events answer, stops within a batch and says so.
    page.wait_for_selector("#status.status-cancelled", timeout=30_000)
    # The status can arrive over the socket a moment before the engine finishes stopping.
    page.wait_for_function("() => window.playground.engine.state === 'stopped'", timeout=10_000)
    assert api(site, "GET", f"/api/v1/jobs/{job['id']}/").json()["status"] == "cancelled"
    assert page.console_errors == []


def test_a_closed_tab_s_job_continues_on_a_server_worker_with_every_epoch_once(site, page):
    # batch_size 1: an epoch takes seconds in the tab, so it closes between epoch 1 and 3.
    job = api(site, "POST", "/api/v1/jobs/", json={
        "recipe": "mlp", "engine": "browser", "hyperparameters": {"hidden_layers": [16], "epochs": 3, "batch_size": 1}}).json()
    log_in(page, site)
    page.goto(f"{site.base_url}/jobs/{job['id']}/")
    page.wait_for_function("() => window.playground.epochPoints.length >= 1", timeout=60_000)
    assert page.console_errors == []
    page.close()
    # A request the tab sent just before it closed can still land and count as a heartbeat
    # (it failed this way in CI): back-date the heartbeat until the quiet sticks.
    deadline = time.monotonic() + 15
    while True:
        tab_went_quiet(site, job["id"])
        stopped = api(site, "GET", f"/api/v1/jobs/{job['id']}/").json()["browser_stopped"]
        if stopped or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert stopped and stopped["epoch"] in (1, 2)

    other = page.context.new_page()
    errors = []
    other.on("console", lambda m: m.type == "error" and errors.append(m.text))
    other.on("pageerror", lambda e: errors.append(str(e)))
    other.goto(f"{site.base_url}/jobs/{job['id']}/")
    assert other.locator("#engine-text").inner_text() == f"The browser stopped at epoch {stopped['epoch']}."
    other.click("#continue")
    other.wait_for_selector("#continue", state="hidden")
    other.wait_for_selector("#status.status-succeeded", timeout=120_000)

    done = api(site, "GET", f"/api/v1/jobs/{job['id']}/").json()
    epochs = [e["data"]["epoch"] for e in stored_events(site, job["id"]) if e["type"] == "epoch"]
    assert done["engine"] == "server" and epochs == [1, 2, 3]
    assert len(done["metrics"]["loss"]) == 3 and done["test_metrics"]["accuracy"] > 0.5
    assert other.evaluate("() => window.playground.epochPoints.map(p => p.epoch)") == [1, 2, 3]
    assert "continuing on a server worker" in other.locator("#engine-text").inner_text()
    assert errors == []
