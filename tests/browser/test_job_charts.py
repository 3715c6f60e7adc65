"""The job page's charts in a real browser: epochs from 1, the batch curve without Keras'
per-epoch sawtooth, smoothing and a log scale, a replay a person can watch grow, and a failed
job with no empty charts but a Retry."""
from __future__ import annotations

import time

from tests.browser.conftest import log_in, screenshot
from tests.browser.test_pages import api, submit
from tests.browser.test_try_digits import wait_until_succeeded

CHART = "Chart.getChart(document.getElementById('{}'))"
LOSS, METRICS = CHART.format("loss-chart"), CHART.format("metrics-chart")


def points(page, chart: str, label: str) -> list[dict]:
    return page.evaluate(f"{chart}.data.datasets.find(d => d.label === '{label}').data")


def test_a_finished_jobs_curves_replay_at_a_watchable_pace_and_tell_the_truth(site, page):
    job = wait_until_succeeded(site, submit(site, {"recipe": "mlp", "hyperparameters": {
        "epochs": 6, "hidden_layers": [16], "batch_size": 8}}))
    log_in(page, site)
    page.goto(f"{site.base_url}/jobs/{job['id']}/?replay")
    page.wait_for_selector("#replay:not([hidden])")

    seen = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and (not seen or seen[-1] < 6):
        seen.append(len(points(page, METRICS, "accuracy")))
        page.wait_for_timeout(150)
    assert seen[-1] == 6 and len(set(seen)) >= 4, seen  # it grew epoch by epoch, not all at once
    page.wait_for_function("() => !document.getElementById('replay').disabled")

    assert page.evaluate(f"{METRICS}.options.scales.x.min") == 1
    batches = points(page, LOSS, "loss (per batch)")
    assert len(batches) >= 6
    # Per-batch values, not Keras' running mean: the last epoch's batches end near its loss.
    last_epoch = points(page, LOSS, "loss")[-1]["y"]
    assert abs(batches[-1]["y"] - last_epoch) < 0.5

    page.fill("#smoothing", "0.9")
    page.dispatch_event("#smoothing", "input")
    smoothed = points(page, LOSS, "loss (per batch)")
    assert smoothed[0]["y"] == batches[0]["y"] and smoothed[-1]["y"] != batches[-1]["y"]
    page.check("#log-scale")
    assert page.evaluate(f"{LOSS}.options.scales.y.type") == "logarithmic"
    screenshot(page, "job_charts")
    assert page.console_errors == []


def test_a_failed_job_shows_no_empty_charts_and_retries_as_a_new_job(site, page):
    # MNIST is not in the site's data folder and the internet is not reachable: it fails at once.
    job = submit(site, {"recipe": "mlp", "dataset": "mnist", "hyperparameters": {"epochs": 1}})
    deadline = time.monotonic() + 60
    while api(site, "GET", f"/api/v1/jobs/{job['id']}/").json()["status"] != "failed":
        assert time.monotonic() < deadline
        time.sleep(0.5)
    log_in(page, site)
    page.goto(f"{site.base_url}/jobs/{job['id']}/")
    page.wait_for_selector("#banner.banner-error")

    assert page.is_hidden("#charts") and page.is_hidden("#epochs-box")
    assert page.locator("#fork-link").count() == 0

    page.click("#retry")
    page.wait_for_url(lambda url: "/jobs/" in url and f"/jobs/{job['id']}/" not in url)
    retried = api(site, "GET", page.url.replace(site.base_url, "/api/v1")).json()
    assert (retried["recipe"], retried["dataset"], retried["hyperparameters"]) == ("mlp", "mnist", job["hyperparameters"])
