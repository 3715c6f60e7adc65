"""The staff dashboard in a real browser against the embedded playground: a submitted job shows
up live with its progress on the embedded worker, and can be cancelled and retried from there."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import log_in, screenshot
from tests.browser.test_pages import api, cancelled_afterwards, submit

LONG_JOB = {"recipe": "mlp", "hyperparameters": {"epochs": 400, "batch_size": 8}}


def job_row(page, job_id: int):
    return page.locator(f"#jobs tbody tr[data-job='{job_id}']")


def test_staff_watch_a_job_live_on_the_embedded_worker_then_cancel_and_retry_it(site, page):
    log_in(page, site, "root")
    page.click("header.top a[href='/dashboard/']")
    expect(page.locator("#connection")).to_have_text("live")
    page.evaluate("window.dashboard.state.socket.close()")  # a dropped connection comes back by itself
    expect(page.locator("#connection")).to_have_text("reconnecting…")
    expect(page.locator("#connection")).to_have_text("live")
    embedded = page.locator("#workers tbody tr[data-online='true']", has_text="embedded@")
    expect(embedded).to_have_count(1, timeout=30_000)
    snapshots_before = page.evaluate("window.dashboard.state.snapshots")

    job = submit(site, LONG_JOB)
    with cancelled_afterwards(site, job["id"]):
        row = job_row(page, job["id"])
        expect(row).to_be_visible(timeout=5_000)  # pushed, no reload
        expect(row.locator("td").nth(1)).to_have_text("alice")
        expect(row).to_have_attribute("data-status", "running", timeout=60_000)
        expect(row.locator("td.progress")).to_contain_text(re.compile(r"epoch \d+/400 · step \d+/\d+"), timeout=30_000)
        first = row.locator("td.progress").inner_text()
        expect(row.locator("td.progress")).not_to_have_text(first, timeout=10_000)  # it moves
        expect(row.locator("td").nth(6)).to_contain_text("embedded@")
        expect(embedded.locator("td").nth(4)).to_contain_text(f"#{job['id']}", timeout=20_000)
        assert int(page.locator("#samples-per-s").inner_text()) > 0
        assert page.evaluate("window.dashboard.state.snapshots") > snapshots_before + 2
        screenshot(page, "dashboard")

        row.locator("button.cancel").click()
        expect(page.locator("#banner")).to_contain_text(f"Job #{job['id']}")
        expect(row).to_have_attribute("data-status", "cancelled", timeout=30_000)
        expect(row.locator("button.cancel")).to_be_hidden()

        row.locator("button.retry").click()
        expect(page.locator("#banner")).to_contain_text(re.compile(rf"Job #{job['id']} retried as job #\d+"))
        retry_id = int(re.search(r"job #(\d+)\.?$", page.locator("#banner").inner_text()).group(1))
        with cancelled_afterwards(site, retry_id):
            retry = job_row(page, retry_id)
            expect(retry).to_be_visible(timeout=5_000)
            expect(retry.locator("td").nth(1)).to_have_text("alice")  # the owner's job, not staff's
            expect(retry).to_have_attribute("data-status", re.compile("queued|running"))
            screenshot(page, "dashboard_retried")
    assert api(site, "GET", f"/api/v1/jobs/{retry_id}/").json()["hyperparameters"] == job["hyperparameters"]
    assert page.console_errors == []


def test_a_user_who_is_not_staff_finds_no_dashboard(site, page):
    log_in(page, site, "alice")

    assert page.locator("header.top a[href='/dashboard/']").count() == 0
    assert page.goto(f"{site.base_url}/dashboard/").status == 404
