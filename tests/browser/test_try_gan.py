"""The dcgan job in a real browser: the film of sample grids on the job page, then the generator
drawing a grid and interpolating between two picked samples on /try/gan/<id>/."""
from __future__ import annotations

import pytest

from tests.browser.conftest import log_in, screenshot
from tests.browser.test_pages import submit
from tests.browser.test_try_digits import wait_until_succeeded

# Small and short: the embedded worker runs one job at a time.
TINY_GAN = {"recipe": "dcgan", "hyperparameters": {"epochs": 3, "latent_dim": 8, "filters": 8}}

GRID_INK = ("Array.from(document.getElementById('grid').getContext('2d').getImageData(0, 0, 320, 320).data)"
            ".filter((v, i) => i % 4 === 0 && v < 250).length")
BETWEEN_PIXELS = "Array.from(document.getElementById('between').getContext('2d').getImageData(0, 0, 8, 8).data).join()"


@pytest.fixture(scope="module")
def gan_job(site):
    return wait_until_succeeded(site, submit(site, TINY_GAN))


def test_the_job_page_plays_the_sample_grids_as_a_film(site, page, gan_job):
    log_in(page, site)
    page.goto(f"{site.base_url}/jobs/{gan_job['id']}/")
    page.wait_for_selector("#film-frame[src^='data:image/png']", timeout=30_000)
    page.wait_for_function("() => document.getElementById('film-slider').max === '2'")
    last = page.get_attribute("#film-frame", "src")

    page.locator("#film-slider").fill("0")

    assert page.locator("#film-label").inner_text().strip() == "epoch 1"
    assert page.get_attribute("#film-frame", "src") != last
    assert page.locator("#try-link").get_attribute("href") == f"/try/gan/{gan_job['id']}/"
    assert page.console_errors == []


def test_the_gan_page_draws_a_grid_and_the_slider_moves_between_two_picked_samples(site, page, gan_job):
    log_in(page, site)
    page.goto(f"{site.base_url}/try/gan/{gan_job['id']}/")
    page.wait_for_selector("#grid[data-model=float32]", timeout=30_000)
    assert page.evaluate(GRID_INK) > 500  # 16 generated tiles, not a blank canvas
    assert page.locator("#latency").inner_text().endswith("ms for 16 samples")
    assert page.locator("#backend").inner_text() in ("webgl", "cpu", "wasm", "webgpu")

    box = page.locator("#grid").bounding_box()
    page.mouse.click(box["x"] + 40, box["y"] + 40)     # tile 1
    page.mouse.click(box["x"] + 280, box["y"] + 280)   # tile 16
    page.wait_for_function("() => document.getElementById('between').dataset.t === '0.50'")
    assert page.locator("#picked").inner_text() == "#1 → #16"
    assert page.locator("#mix").is_enabled()
    middle = page.evaluate(BETWEEN_PIXELS)

    page.locator("#mix").fill("0")
    page.wait_for_function("() => document.getElementById('between').dataset.t === '0.00'")
    start = page.evaluate(BETWEEN_PIXELS)
    page.locator("#mix").fill("100")
    page.wait_for_function("() => document.getElementById('between').dataset.t === '1.00'")
    end = page.evaluate(BETWEEN_PIXELS)

    assert len({start, middle, end}) == 3  # moving the slider changes the image
    from_tile = page.evaluate(BETWEEN_PIXELS.replace("'between'", "'from'"))
    to_tile = page.evaluate(BETWEEN_PIXELS.replace("'between'", "'to'"))
    assert start == from_tile and end == to_tile  # the ends of the slide are the picked samples
    assert page.locator("#latency").inner_text().endswith("ms a sample")
    screenshot(page, "try_gan")

    before = page.evaluate(GRID_INK + " + '/' + document.getElementById('grid').toDataURL()")
    page.click("#new-samples")
    page.wait_for_function("() => document.getElementById('grid').dataset.draws === '2'")
    assert page.evaluate(GRID_INK + " + '/' + document.getElementById('grid').toDataURL()") != before
    assert page.locator("#picked").inner_text() == "none" and page.locator("#mix").is_disabled()

    page.select_option("#variant", "uint8")
    page.wait_for_selector("#grid[data-model=uint8]", timeout=30_000)
    assert page.evaluate(GRID_INK) > 500
    assert page.console_errors == []
