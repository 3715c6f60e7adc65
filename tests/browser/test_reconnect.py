"""A dropped WebSocket in a real browser: the job page and the home page say "reconnecting…"
while the server cannot be reached, and the job page catches up from its last seq when it
can, with every event exactly once."""
from __future__ import annotations

import json

from tests.browser.conftest import log_in, screenshot
from tests.browser.test_pages import api, cancelled_afterwards, submit

LONG = {"recipe": "mlp", "hyperparameters": {"epochs": 200, "batch_size": 8}}


class Outage:
    """Routes the page's job sockets through Playwright: `down()` closes the open ones and
    refuses new ones (as a server whose Redis is gone does), `up()` lets them through again."""

    def __init__(self, page) -> None:
        self.refusing = False
        self.open = []
        page.route_web_socket("**/ws/jobs/**", self.route)

    def route(self, ws) -> None:
        if self.refusing:
            ws.close(code=1011, reason="channel layer unavailable")
            return
        ws.connect_to_server()
        self.open.append(ws)

    def down(self) -> None:
        self.refusing = True
        for ws in self.open:
            ws.close(code=1011, reason="channel layer unavailable")
        self.open.clear()

    def up(self) -> None:
        self.refusing = False


def event_seqs(page) -> list[int]:
    return page.eval_on_selector_all("#events tr", "rows => rows.map(r => Number(r.dataset.seq))")


def test_the_job_page_shows_reconnecting_and_catches_up_without_gaps_or_repeats(site, page):
    log_in(page, site)
    job = submit(site, LONG)
    with cancelled_afterwards(site, job["id"]):
        outage = Outage(page)
        page.goto(f"{site.base_url}/jobs/{job['id']}/")
        connection = page.locator("#connection")
        page.wait_for_function("() => window.playground.epochPoints.length >= 1", timeout=90_000)
        assert connection.text_content() == "live"

        outage.down()
        page.wait_for_function("() => document.getElementById('connection').textContent === 'reconnecting…'")
        missed_from = page.evaluate("window.playground.state.lastSeq")
        page.wait_for_timeout(2500)  # the job goes on; its events are stored, not seen
        assert connection.text_content() == "reconnecting…"
        assert "connection-down" in connection.get_attribute("class")
        screenshot(page, "job_reconnecting")
        stored = api(site, "GET", f"/api/v1/jobs/{job['id']}/events/?after={missed_from}").json()["results"]
        assert stored, "events were published while the page was away"

        outage.up()
        page.wait_for_function("() => document.getElementById('connection').textContent === 'live'", timeout=30_000)
        page.wait_for_function(f"() => window.playground.state.lastSeq > {stored[-1]['seq']}", timeout=30_000)

    page.wait_for_function("() => document.getElementById('status').textContent === 'cancelled'", timeout=60_000)
    last_seq = api(site, "GET", f"/api/v1/jobs/{job['id']}/events/?after=0&limit=1").json()["last_seq"]
    assert event_seqs(page) == list(range(1, last_seq + 1)), "every event exactly once, in order"
    assert not page.console_errors


def test_the_home_page_shows_reconnecting_while_its_job_sockets_are_down(site, page):
    log_in(page, site)
    job = submit(site, LONG)
    with cancelled_afterwards(site, job["id"]):
        outage = Outage(page)
        page.goto(f"{site.base_url}/")
        row = page.locator(f"#jobs tr[data-job='{job['id']}']")
        indicator = page.locator("#connection")
        row.locator(".status-running").wait_for(timeout=90_000)
        assert indicator.is_hidden()

        outage.down()
        indicator.wait_for(state="visible")
        assert indicator.text_content() == "reconnecting…"
        screenshot(page, "home_reconnecting")

        outage.up()
        indicator.wait_for(state="hidden", timeout=30_000)
    row.locator(".status-cancelled").wait_for(timeout=60_000)


def test_a_live_event_lost_on_the_way_is_fetched_again_and_drawn_in_order(site, page):
    """The server skips no seq; if one never reaches the page (a full channel buffer, a proxy),
    the page asks for the stored events again ("resume") instead of drawing a hole."""
    dropped, resumes = [], []

    def route(ws) -> None:
        server = ws.connect_to_server()

        def to_page(message) -> None:
            event = json.loads(message)
            if event.get("type") == "epoch" and event["data"]["epoch"] == 2 and not dropped:
                dropped.append(event["seq"])  # lost once; the stored copy is still there
                return
            ws.send(message)

        def to_server(message) -> None:
            resumes.extend([json.loads(message)] if '"resume"' in message else [])
            server.send(message)

        server.on_message(to_page)
        ws.on_message(to_server)

    page.route_web_socket("**/ws/jobs/**", route)
    log_in(page, site)
    job = submit(site, {"recipe": "mlp", "hyperparameters": {"epochs": 4, "hidden_layers": [16]}})
    page.goto(f"{site.base_url}/jobs/{job['id']}/")
    page.wait_for_function("() => document.getElementById('status').textContent === 'succeeded'", timeout=120_000)

    assert dropped, "the route saw epoch 2 go by"
    assert resumes and resumes[0]["after"] == dropped[0] - 1
    assert page.evaluate("window.playground.epochPoints.map(p => p.epoch)") == [1, 2, 3, 4]
    last_seq = api(site, "GET", f"/api/v1/jobs/{job['id']}/events/?after=0&limit=1").json()["last_seq"]
    assert event_seqs(page) == list(range(1, last_seq + 1)), "every event exactly once, in order"
    assert not page.console_errors
