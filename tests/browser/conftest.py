"""Playwright on Debian's Chromium against the embedded playground as `make run` starts it:
one uvicorn process with its in-process Celery worker and channel layer, on SQLite."""
from __future__ import annotations

import contextlib
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.ci import unavailable
from tests.support.processes import ROOT, free_port, manage, stack_env, start_web, stop, wait_for, web_is_up

ARTIFACTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@dataclass
class Site:
    base_url: str
    tokens: dict[str, str]
    passwords: dict[str, str] = field(default_factory=dict)
    data_dir: Path | None = None  # the site's PLAYGROUND_DATA_DIR (tests copy datasets there)
    log: Path | None = None  # the uvicorn process's output, shown under a failed test


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("embedded")
    env = stack_env(f"sqlite:///{tmp / 'db.sqlite3'}", "", tmp)
    manage(env, "migrate", "--noinput")
    users = {"alice": "pw-alice", "bob": "pw-bob", "root": "pw-root"}
    tokens = {
        user: manage(env, "ensure_demo_user", "--username", user, "--password", pw, *(["--staff"] if user == "root" else []))
        for user, pw in users.items()
    }
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    web = start_web(env, port, tmp / "web.log")
    try:
        wait_for(lambda: web_is_up(base_url), 60, "embedded playground", tmp)
        yield Site(base_url, tokens, users, data_dir=tmp / "data", log=tmp / "web.log")
    finally:
        stop([web])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # A failed browser test shows what the site logged meanwhile: without it a CI failure
    # (a socket that closed, a 500 behind a page that never finished) leaves nothing to read.
    report = (yield).get_result()
    site = item.funcargs.get("site") if report.when == "call" and report.failed else None
    if site is not None and site.log is not None and site.log.exists():
        lines = [line for line in site.log.read_text(errors="replace").splitlines()
                 if not re.search(r'HTTP/1\.1" [23]\d\d', line)]  # requests that went well
        report.sections.append(("embedded site log (but 2xx/3xx requests), last 60 lines", "\n".join(lines[-60:])))


# Package scope, not session: Playwright's sync API keeps its event loop marked as running in
# this thread while it is open, and every async test that runs after it (pytest-asyncio) would
# fail with "Runner.run() cannot be called from a running event loop".
@pytest.fixture(scope="package")
def browser():
    if CHROMIUM is None:
        unavailable("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.console_errors = []
    page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
    page.on("pageerror", lambda e: page.console_errors.append(str(e)))
    yield page
    context.close()


def log_in(page, site: Site, user: str = "alice") -> None:
    page.goto(f"{site.base_url}/accounts/login/")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", site.passwords[user])
    page.click("button[type=submit]")
    page.wait_for_url(f"{site.base_url}/")


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@contextlib.contextmanager
def on_phone(page, site: Site, path: str, user: str = "alice"):
    """A second, logged-in page at a 390x844 phone viewport, opened at `path` (a path on the
    site, or a full URL), beside `page`; closed on exit."""
    phone = page.context.browser.new_context(viewport={"width": 390, "height": 844})
    try:
        opened = phone.new_page()
        log_in(opened, site, user)
        opened.goto(path if path.startswith("http") else f"{site.base_url}{path}")
        yield opened
    finally:
        phone.close()
