"""An optimizer race in a real browser: every optimizer's val_loss lands on one chart."""
from __future__ import annotations

import contextlib

import requests

from tests.browser.conftest import log_in, on_phone, screenshot
from tests.browser.test_pages import cancelled_afterwards


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
              "hyperparameters": {"epochs": 6, "hidden_layers": [8], "batch_size": 4}}, timeout=10)
    assert response.status_code == 201, response.text
    race = response.json()
    with contextlib.ExitStack() as stack:
        # The embedded worker runs one job at a time: a failure here must not leave the next
        # test's jobs queued behind this race's.
        for job in race["jobs"]:
            stack.enter_context(cancelled_afterwards(site, job["id"]))
        log_in(page, site)
        outage = Outage(page)
        page.goto(f"{site.base_url}{race['page']}")
        note = page.locator("#connection")
        page.wait_for_function("() => window.playground.points.sgd >= 1", timeout=120_000)
        # Both sockets live (under load a first connection through Playwright's route can drop
        # and come back; that retry is the behaviour under test too).
        note.wait_for(state="hidden", timeout=30_000)

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


def test_the_browser_races_the_server_on_one_chart_against_the_clock(site, page):
    log_in(page, site)
    page.goto(f"{site.base_url}/play/mlp/?hidden_layers=16&epochs=3&batch_size=64&learning_rate=0.01")

    page.click("#race-engines")
    page.wait_for_url("**/races/*/")
    # Both results, or the page's own words on why not (a browser engine that stopped says so).
    page.wait_for_function("() => Object.keys(window.playground.results).length === 2"
                           " || window.playground.engine?.state === 'failed'", timeout=120_000)
    assert page.evaluate("() => window.playground.engine.state") != "failed", page.locator("#engine-text").inner_text()

    # This tab trained the browser's job; a worker trained the other; both drew every epoch.
    assert page.evaluate("() => window.playground.engine.state") == "finished"
    assert page.evaluate("() => window.playground.points") == {"server": 3, "browser": 3}
    curves = page.evaluate("Chart.getChart('race-chart').data.datasets.map((d) => d.data.map((p) => p.x))")
    assert all(xs == sorted(xs) and xs[0] > 0 for xs in curves), "seconds since the race began, rising"
    results = page.evaluate("() => window.playground.results")
    assert all(0.5 < r["accuracy"] <= 1 and r["elapsed_s"] > 0 for r in results.values()), results
    rows = page.locator("tbody tr")
    assert [rows.nth(i).locator(".racer").inner_text() for i in range(2)] == ["server", "browser"]
    assert all(rows.nth(i).locator(".speed").inner_text() != "–" for i in range(2))
    print("engine race (s to finish, test accuracy):", results)
    screenshot(page, "race_engines")
    assert page.console_errors == []

    with on_phone(page, site, page.url) as phone:
        phone.wait_for_function("() => Object.keys(window.playground.results).length === 2")
        # A finished race replays: no tab trains anything, every stored epoch is drawn once.
        assert phone.evaluate("() => [window.playground.points, window.playground.engine]") == [
            {"server": 3, "browser": 3}, None]
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
        screenshot(phone, "race_engines_phone")
