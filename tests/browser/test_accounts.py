"""Accounts in a real browser: sign up, log in and out, API tokens, share links."""
from __future__ import annotations

import time

import requests

from tests.browser.conftest import log_in, screenshot


def get_jobs(site, key: str) -> int:
    return requests.get(f"{site.base_url}/api/v1/jobs/", headers={"Authorization": f"Token {key}"}, timeout=10).status_code


def test_sign_up_log_out_log_in_and_manage_api_tokens(site, page):
    username = f"dora{int(time.time() * 1000)}"
    page.goto(f"{site.base_url}/")
    page.click("header a[href='/accounts/signup/']")
    page.fill("input[name=username]", username)
    page.fill("input[name=password1]", "a-long-pass-123")
    page.fill("input[name=password2]", "a-long-pass-123")
    page.click("#signup-form button[type=submit]")
    page.wait_for_url(f"{site.base_url}/")
    assert page.locator("header .who").text_content() == username

    page.click("header button:has-text('Log out')")
    page.wait_for_url(f"{site.base_url}/")
    site.passwords[username] = "a-long-pass-123"
    log_in(page, site, username)

    page.click("header a[href='/accounts/tokens/']")
    assert page.locator("#no-tokens").is_visible()
    page.fill("input[name=name]", "laptop")
    page.click("#token-form button[type=submit]")
    key = page.locator("#new-key").text_content()
    row = page.locator("#tokens tr[data-name='laptop']")
    assert row.is_visible() and key[:8] in row.text_content()
    screenshot(page, "api_tokens")
    assert get_jobs(site, key) == 200

    page.goto(f"{site.base_url}/accounts/tokens/")
    assert page.locator("#new-key").count() == 0  # the key is shown once
    questions = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    page.click("button[aria-label='Revoke laptop']")  # asked, and not confirmed: nothing happens
    assert questions and "Revoke “laptop”?" in questions[0]
    assert page.locator("#tokens tr[data-name='laptop']").count() == 1
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button[aria-label='Revoke laptop']")
    page.wait_for_selector("text=Revoked “laptop”")
    assert page.locator("#tokens tr[data-name='laptop']").count() == 0
    assert get_jobs(site, key) == 401
    assert not page.console_errors


def test_a_shared_job_page_works_for_an_anonymous_visitor(site, page, browser):
    headers = {"Authorization": f"Token {site.tokens['alice']}"}
    job = requests.post(f"{site.base_url}/api/v1/jobs/", headers=headers, timeout=10,
                        json={"recipe": "mlp", "hyperparameters": {"epochs": 2}}).json()
    log_in(page, site)
    page.goto(f"{site.base_url}/jobs/{job['id']}/")
    page.wait_for_selector("#status.status-succeeded", timeout=120_000)
    page.click("#share")
    page.wait_for_selector("#share-url", state="visible")
    url = page.locator("#share-url").input_value()
    assert "/s/" in url and page.locator("#unshare").is_visible()

    visitor = browser.new_context().new_page()
    visitor_errors, visitor_sockets = [], []
    visitor.on("console", lambda m: m.type == "error" and visitor_errors.append(m.text))
    visitor.on("websocket", lambda ws: visitor_sockets.append(ws.url))
    visitor.goto(url)
    visitor.wait_for_selector("#status.status-succeeded", timeout=30_000)
    visitor.wait_for_selector("#exports tr", timeout=30_000)
    # The analysis comes from the share link's URLs, not the owner's API (which answers 401).
    visitor.wait_for_selector("#analysis-box:not([hidden]) #confusion td", timeout=30_000)
    assert visitor_errors == []
    assert visitor.locator("#connection").text_content() == "live"
    assert visitor.locator("#cancel").count() == 0 and visitor.locator("#shared-note").is_visible()
    artifact = visitor.locator("#exports a").first.get_attribute("href")
    assert artifact.startswith("/s/")
    assert visitor.request.get(f"{site.base_url}{artifact}").status == 200
    screenshot(visitor, "shared_job")

    page.click("#unshare")
    page.wait_for_selector("#share", state="visible")
    assert visitor.request.get(url).status == 404
    # The server closes the visitor's socket (4401, revoked); the page says so and does not retry.
    visitor.wait_for_function("() => document.getElementById('connection').textContent === 'refused (4401)'")
    visitor.wait_for_timeout(1500)
    assert len(visitor_sockets) == 1 and "/ws/share/" in visitor_sockets[0]
    visitor.context.close()
