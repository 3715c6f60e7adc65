"""The /learn/ pages in a real browser: the activation explorer draws and toggles, a training
preset button submits its job and opens the job's page."""
from __future__ import annotations

import requests

from playground.demos.learn import ACTIVATIONS, PRESETS
from tests.browser.conftest import log_in, screenshot

CHART = "Chart.getChart(document.getElementById('activation-chart'))"


def visible_labels(page) -> list[str]:
    return page.evaluate(f"{CHART}.data.datasets.filter((d, i) => {CHART}.isDatasetVisible(i)).map(d => d.label)")


def test_the_activation_explorer_draws_each_function_and_derivative_and_toggles_them(site, page):
    page.goto(f"{site.base_url}/learn/activations/")
    page.wait_for_function(f"() => {CHART} !== undefined")

    labels = page.evaluate(f"{CHART}.data.datasets.map(d => d.label)")
    assert len(labels) == 2 * len(ACTIVATIONS)
    assert {"ReLU", "ReLU (derivative)", "SELU", "Logistic (sigmoid) (derivative)"} <= set(labels)
    relu = page.evaluate(f"{CHART}.data.datasets.find(d => d.label === 'ReLU').data")
    assert [p["y"] for p in relu if p["x"] in (-1, 0, 2)] == [0, 0, 2]
    assert "tanh" in visible_labels(page)

    page.check("input.show-df[data-name=relu]")
    page.uncheck("input.show-f[data-name=tanh]")

    assert "ReLU (derivative)" in visible_labels(page)
    assert "tanh" not in visible_labels(page)
    assert page.locator("a.try[href='/play/mlp/?activation=relu']").is_visible()
    assert page.locator("tr[data-name=arctan] a.try").count() == 0
    screenshot(page, "learn_activations")
    assert page.console_errors == []


def test_a_training_preset_button_submits_its_job_and_opens_the_job_page(site, page):
    log_in(page, site)
    page.goto(f"{site.base_url}/learn/training/")
    assert page.locator("button.run-preset").count() == len(PRESETS)
    screenshot(page, "learn_training")

    page.click("button[data-preset=lr_too_small]")
    page.wait_for_url(f"{site.base_url}/jobs/*/")

    job_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    job = requests.get(f"{site.base_url}/api/v1/jobs/{job_id}/",
                       headers={"Authorization": f"Token {site.tokens['alice']}"}, timeout=10).json()
    preset = PRESETS["lr_too_small"].body
    assert job["recipe"] == preset["recipe"]
    assert job["hyperparameters"].items() >= preset["hyperparameters"].items()
    assert page.console_errors == []


def test_a_visitor_who_is_not_logged_in_is_sent_to_log_in(site, page):
    page.goto(f"{site.base_url}/learn/training/")

    page.click("a.run-preset >> nth=0")

    page.wait_for_url(f"{site.base_url}/accounts/login/?next=/learn/training/")
