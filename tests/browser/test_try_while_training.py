"""Try it while it trains: the digits page runs a worker job's latest snapshot and loads newer ones."""
from __future__ import annotations

import time

from tests.browser.conftest import log_in, screenshot
from tests.browser.test_pages import api, cancelled_afterwards, submit
from tests.browser.test_try_digits import draw_a_seven


def test_the_digits_page_works_during_training_and_follows_newer_snapshots(site, page):
    job = submit(site, {"recipe": "mlp", "hyperparameters": {"epochs": 400, "batch_size": 16, "hidden_layers": [64]}})
    with cancelled_afterwards(site, job["id"]):
        deadline = time.monotonic() + 120
        while not (detail := api(site, "GET", f"/api/v1/jobs/{job['id']}/").json())["snapshot"]:
            assert detail["status"] in ("queued", "running") and time.monotonic() < deadline, detail
            time.sleep(0.5)
        log_in(page, site)
        page.goto(f"{site.base_url}/try/digits/{job['id']}/")
        page.wait_for_selector("#pad[data-model=float32]", timeout=30_000)
        assert "still training" in page.locator("#model-status").inner_text()
        first = int(page.locator("#pad").get_attribute("data-epoch"))

        draw_a_seven(page)
        page.wait_for_selector("#pad[data-predicted]")
        # A snapshot is at most every 2 s: a newer epoch's model arrives without a reload.
        page.wait_for_function(f"() => Number(document.getElementById('pad').dataset.epoch) > {first}",
                               timeout=60_000)
        assert "of 400, still training" in page.locator("#model-status").inner_text()
        screenshot(page, "try_while_training")
