"""Every page in a real browser against the embedded playground."""
from __future__ import annotations

import requests

from tests.browser.conftest import log_in, screenshot


def submit(site, body: dict, user: str = "alice") -> dict:
    response = requests.post(f"{site.base_url}/api/v1/jobs/", json=body,
                             headers={"Authorization": f"Token {site.tokens[user]}"}, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


def test_the_login_page_logs_a_user_in_and_home_lists_their_jobs(site, page):
    job = submit(site, {"recipe": "fizzbuzz", "hyperparameters": {"epochs": 2}})

    page.goto(f"{site.base_url}/accounts/login/")
    screenshot(page, "login")
    log_in(page, site)

    assert page.locator(f"#jobs a[href='/jobs/{job['id']}/']").is_visible()
    assert page.locator(".card h2").count() >= 3
    screenshot(page, "home")
    assert page.console_errors == []


def test_the_job_page_streams_epochs_live_and_lists_the_exports(site, page):
    log_in(page, site)
    job = submit(site, {"recipe": "mlp", "hyperparameters": {"epochs": 4, "hidden_layers": [32]}})

    page.goto(f"{site.base_url}/jobs/{job['id']}/")
    page.wait_for_selector("#status.status-succeeded", timeout=120_000)

    epochs = page.locator("#events tr[data-type=epoch]")
    assert epochs.count() == 4
    seqs = [int(s) for s in page.locator("#events tr").evaluate_all("rows => rows.map(r => r.dataset.seq)")]
    assert seqs == list(range(1, len(seqs) + 1))
    assert page.locator("#artifacts li").count() == 4
    assert page.locator("#connection").inner_text() == "live"
    screenshot(page, "job")
    assert page.console_errors == []


def test_another_users_job_page_is_a_404(site, page):
    job = submit(site, {"recipe": "fizzbuzz", "hyperparameters": {"epochs": 1}}, user="bob")
    log_in(page, site, "alice")

    response = page.goto(f"{site.base_url}/jobs/{job['id']}/")

    assert response.status == 404
