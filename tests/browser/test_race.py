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
