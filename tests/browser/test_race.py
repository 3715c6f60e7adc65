"""An optimizer race in a real browser: every optimizer's val_loss lands on one chart."""
from __future__ import annotations

import requests

from tests.browser.conftest import log_in, screenshot


def test_a_race_draws_each_optimizers_validation_loss_on_one_chart(site, page):
    response = requests.post(
        f"{site.base_url}/api/v1/races/", headers={"Authorization": f"Token {site.tokens['alice']}"},
        json={"recipe": "mlp", "optimizers": ["sgd", "adam"],
              "hyperparameters": {"epochs": 2, "hidden_layers": [8], "batch_size": 128}}, timeout=10)
    assert response.status_code == 201, response.text
    race = response.json()
    log_in(page, site)

    page.goto(f"{site.base_url}{race['page']}")

    page.wait_for_function("() => Object.values(window.playground.points).every((n) => n >= 2)", timeout=120_000)
    datasets = page.evaluate("Chart.getChart('race-chart').data.datasets.map((d) => [d.label, d.data.length])")
    assert [label.split(" ")[0] for label, _ in datasets] == ["sgd", "adam"]
    assert all(n == 2 for _, n in datasets)
    screenshot(page, "race")
    assert page.console_errors == []


def test_a_race_page_shows_reconnecting_and_draws_each_missed_epoch_once(site, page):
    # Imported here: test_reconnect's Outage routes the page's job sockets through Playwright.
    from tests.browser.test_reconnect import Outage

    response = requests.post(
        f"{site.base_url}/api/v1/races/", headers={"Authorization": f"Token {site.tokens['alice']}"},
        json={"recipe": "mlp", "optimizers": ["sgd", "adam"],
              "hyperparameters": {"epochs": 6, "hidden_layers": [8], "batch_size": 16}}, timeout=10)
    assert response.status_code == 201, response.text
    race = response.json()
    log_in(page, site)
    outage = Outage(page)
    page.goto(f"{site.base_url}{race['page']}")
    note = page.locator("#connection")
    page.wait_for_function("() => window.playground.points.sgd >= 1", timeout=120_000)
    assert note.is_hidden()

    outage.down()
    note.wait_for(state="visible")
    assert note.text_content() == "reconnecting…"
    page.wait_for_timeout(2000)  # the race goes on unseen; its events are stored
    drawn = sum(page.evaluate("Object.values(window.playground.points)"))
    stored = sum(len(requests.get(f"{site.base_url}/api/v1/jobs/{job['id']}/", timeout=10, headers={
        "Authorization": f"Token {site.tokens['alice']}"}).json()["metrics"].get("val_loss", [])) for job in race["jobs"])
    assert stored > drawn, "epochs ended while the page was away"
    outage.up()
    note.wait_for(state="hidden", timeout=30_000)

    page.wait_for_function("() => Object.values(window.playground.points).every((n) => n >= 6)", timeout=120_000)
    page.wait_for_timeout(500)  # a duplicate would land now
    epochs = page.evaluate("Chart.getChart('race-chart').data.datasets.map((d) => d.data.map((p) => p.x))")
    assert epochs == [[1, 2, 3, 4, 5, 6]] * 2, "every epoch once, in order"
    assert page.console_errors == []
