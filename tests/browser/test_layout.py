"""Every page fits a phone (390x844) and a desktop (1280x900) without scrolling sideways: tables
scroll inside their own box, grids collapse, the nav wraps. A full-page screenshot of each page
at each size goes to $PLAYGROUND_SCREENSHOTS (default test-artifacts/screenshots/layout/)."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.browser.conftest import ARTIFACTS, log_in
from tests.browser.test_pages import api, submit
from tests.browser.test_try_digits import wait_until_succeeded

VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}
SHOTS = Path(os.environ.get("PLAYGROUND_SCREENSHOTS") or ARTIFACTS / "layout")

# (name, path, who sees it: None = logged out), the path formatted with the module's `made`
# ({mlp}, {gan}, {race} ids, {race_jobs} the race's job ids, {share} a share token). A new page
# is one line here; every /play/<recipe>/ from GET /api/v1/recipes/ is added to these.
PAGES = [
    ("home, logged out", "/", None),
    ("login", "/accounts/login/", None),
    ("signup", "/accounts/signup/", None),
    ("home", "/", "alice"),
    ("mlp job", "/jobs/{mlp}/", "alice"),
    ("dcgan job", "/jobs/{gan}/", "alice"),
    ("shared job", "/s/{share}/", None),
    ("try digits", "/try/digits/{mlp}/", "alice"),
    ("try gan", "/try/gan/{gan}/", "alice"),
    ("race", "/races/{race}/", "alice"),
    ("races", "/races/", "alice"),
    ("compare", "/compare/?jobs={race_jobs},{gan}", "alice"),
    ("learn activations", "/learn/activations/", "alice"),
    ("learn training", "/learn/training/", "alice"),
    ("learn playground", "/learn/playground/", "alice"),
    ("datasets", "/datasets/", "alice"),
    ("new dataset", "/datasets/new/", "alice"),
    ("classify", "/classify/", "alice"),
    ("API tokens", "/accounts/tokens/", "alice"),
    ("dashboard", "/dashboard/", "root"),
]

# Two tiny mlp jobs on digits in a race (the mlp job page and /try/digits/ use the second), and
# a tiny GAN: about 20 s of training on two CPU cores, most of it the exports' measurements.
TINY_RACE = {"recipe": "mlp", "dataset": "digits", "optimizers": ["sgd", "adam"],
             "hyperparameters": {"epochs": 2, "hidden_layers": [8], "batch_size": 128}}
TINY_GAN = {"recipe": "dcgan", "hyperparameters": {"epochs": 2, "latent_dim": 8, "filters": 8}}

# The elements that stick out past the right edge while their parent does not (the cause, not
# every ancestor that grew with it), widest first; none inside a box that scrolls or clips.
STICKING_OUT = """() => {
  const edge = window.innerWidth;
  const clipped = (e) => { for (let a = e.parentElement; a; a = a.parentElement) {
    if (a === document.body || a === document.documentElement) return false;
    if (getComputedStyle(a).overflowX !== 'visible') return true; } return false; };
  const out = (e) => e.getBoundingClientRect().right > edge + 0.5;
  const name = (e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
    [...e.classList].map((c) => '.' + c).join('');
  return [...document.body.querySelectorAll('*')]
    .filter((e) => out(e) && !(e.parentElement !== document.body && out(e.parentElement)) && !clipped(e)
      && e.checkVisibility())
    .sort((a, b) => b.getBoundingClientRect().right - a.getBoundingClientRect().right)
    .slice(0, 3).map((e) => `${name(e)} (right edge at ${Math.round(e.getBoundingClientRect().right)} px)`);
}"""


@pytest.fixture(scope="module")
def made(site):
    """A finished race of two tiny mlp jobs, a finished tiny dcgan job and a share link: every
    page that needs a job has one."""
    race = api(site, "POST", "/api/v1/races/", json=TINY_RACE)
    assert race.status_code == 201, race.text
    race = race.json()
    gan = submit(site, TINY_GAN)
    for job in [*race["jobs"], gan]:
        wait_until_succeeded(site, job)
    mlp = race["jobs"][-1]["id"]
    shared = api(site, "POST", f"/api/v1/jobs/{mlp}/share/")
    assert shared.status_code in (200, 201), shared.text
    return {"mlp": mlp, "gan": gan["id"], "race": race["id"],
            "race_jobs": ",".join(str(job["id"]) for job in race["jobs"]),
            "share": shared.json()["url"].rstrip("/").rsplit("/", 1)[1]}


@pytest.fixture(scope="module")
def pages(site, made):
    recipes = api(site, "GET", "/api/v1/recipes/").json()
    return [(name, path.format(**made), who) for name, path, who in PAGES] + [
        (f"play {r['name']}", f"/play/{r['name']}/", "alice") for r in recipes]


def settled(page) -> None:
    # The pages fill in from their sockets and fetches; a table that arrives late can widen the
    # page, so wait for the network to go quiet (open sockets do not count).
    try:
        page.wait_for_load_state("networkidle", timeout=10_000)
    except PlaywrightTimeout:  # a page that keeps fetching is measured as it is
        pass


def test_every_page_fits_a_phone_and_a_desktop_without_scrolling_sideways(site, browser, pages):
    # Each page loads once, on a phone, then the window widens to a desktop's (the charts and
    # media queries follow): half the page loads of a visit per size.
    SHOTS.mkdir(parents=True, exist_ok=True)
    tabs, problems, started = {}, [], time.monotonic()
    try:
        for name, path, who in pages:
            if who not in tabs:
                tabs[who] = browser.new_context(viewport=VIEWPORTS["phone"]).new_page()
                if who:
                    log_in(tabs[who], site, who)
            page = tabs[who]
            page.set_viewport_size(VIEWPORTS["phone"])
            response = page.goto(f"{site.base_url}{path}")
            if not response.ok:
                problems.append(f"{name} ({path}): HTTP {response.status}")
                continue
            settled(page)
            # A stylesheet changed on disk after the server started is served empty (whitenoise
            # indexes files at start-up): say so rather than blame the layout.
            assert page.evaluate("[...document.styleSheets].every((s) => s.cssRules.length)"), f"{name}: a stylesheet came empty"
            for viewport, size in VIEWPORTS.items():
                if page.viewport_size != size:
                    page.set_viewport_size(size)
                    page.wait_for_timeout(100)  # Chart.js redraws on its ResizeObserver
                width = page.evaluate("document.documentElement.scrollWidth")
                page.screenshot(path=str(SHOTS / f"{viewport}-{name.replace(' ', '_').replace(',', '')}.png"),
                                full_page=True)
                if width > size["width"]:
                    problems.append(f"{name} ({path}) at {size['width']}x{size['height']} is {width} px wide; "
                                    f"sticking out: {', '.join(page.evaluate(STICKING_OUT)) or '?'}")
    finally:
        for page in tabs.values():
            page.context.close()
    print(f"{len(pages)} pages at {len(VIEWPORTS)} sizes in {time.monotonic() - started:.1f} s; screenshots in {SHOTS}")
    assert not problems, "\n".join(problems)
