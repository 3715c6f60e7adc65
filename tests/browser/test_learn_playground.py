"""/learn/playground/ in a real browser: a setup from a link trains in the tab and then on the
site's worker, and both draw the decision boundary and every neuron from their sample events;
the two pictures agree. Also at a phone's width."""
from __future__ import annotations

import time

import numpy as np

from tests.browser.conftest import log_in, on_phone, screenshot
from tests.browser.test_browser_training import stored_events

# A disc inside a ring, seen through x1² and x2²: a few neurons separate it in 15 epochs.
SETUP = ("dataset=circle&features=x1_squared,x2_squared&hidden_layers=3&optimizer=adam&learning_rate=0.1"
         "&epochs=15&points=200")


def trained(page, previous: str | None = None, timeout_s: float = 90) -> str:
    """Presses Train and waits for the run to end; returns its job id."""
    page.click("#pg-play")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job, status = page.get_attribute("#pg", "data-job"), page.get_attribute("#pg", "data-status")
        if job and job != previous and status in ("succeeded", "failed", "cancelled"):
            assert status == "succeeded", page.text_content("#pg-status")
            return job
        page.wait_for_timeout(250)
    raise AssertionError(f"no end within {timeout_s} s: {page.text_content('#pg-status')}")


def last_picture(site, job_id: str) -> np.ndarray:
    """The final sample's probability of class 1 over the lattice, as stored."""
    samples = [e["data"] for e in stored_events(site, int(job_id)) if e["type"] == "sample"]
    output = samples[-1]["probe"][-1]
    return np.array(output["values"]).reshape(-1, output["units"])[:, 1]


def test_a_setup_trains_in_the_tab_and_on_a_worker_and_both_draw_the_same_boundary(site, page):
    log_in(page, site)
    page.goto(f"{site.base_url}/learn/playground/?{SETUP}")
    assert page.get_attribute("[data-dataset=circle]", "aria-checked") == "true"
    assert page.eval_on_selector_all("#pg-features input:checked", "boxes => boxes.map(b => b.value)") == [
        "x1_squared", "x2_squared"]
    assert page.text_content("#pg-shape").startswith("2 → 3 → 2")

    in_tab = trained(page)

    assert page.locator(".pg-neuron[data-drawn=true]").count() == 3
    assert page.get_attribute("#pg-canvas", "data-epoch") == "15"
    assert float(page.get_attribute("#pg-canvas", "data-train-agreement")) > 0.9
    screenshot(page, "learn_playground_browser")

    page.check("input[name=engine][value=server]")
    assert "engine=server" in page.url  # the link holds the engine too
    on_worker = trained(page, previous=in_tab)

    assert float(page.get_attribute("#pg-canvas", "data-train-agreement")) > 0.9
    assert page.locator(".pg-neuron[data-drawn=true]").count() == 3
    tab, worker = last_picture(site, in_tab), last_picture(site, on_worker)
    assert np.mean((tab > 0.5) == (worker > 0.5)) > 0.9  # the same disc, whichever engine drew it
    assert page.console_errors == []

    with on_phone(page, site, f"/learn/playground/?{SETUP}") as phone:
        phone.wait_for_selector("#pg-datasets button")
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
        screenshot(phone, "learn_playground_phone")


def test_a_visitor_sees_the_points_move_with_the_noise_before_logging_in(site, page):
    page.goto(f"{site.base_url}/learn/playground/?dataset=xor&points=100")
    page.wait_for_selector("[data-dataset=xor][aria-checked=true]")
    quiet = page.evaluate("document.getElementById('pg-canvas').toDataURL()")

    page.fill("#pg-noise", "0.5")
    page.dispatch_event("#pg-noise", "change")
    page.wait_for_function("() => location.search.includes('noise=0.5')")
    page.wait_for_timeout(500)

    assert page.evaluate("document.getElementById('pg-canvas').toDataURL()") != quiet
    page.click("#pg-play")
    page.wait_for_url("**/accounts/login/?next=*")
    assert "noise%3D0.5" in page.url or "noise=0.5" in page.url
