"""The digits page in a real browser: draw, predict with TF.js, compare with the server."""
from __future__ import annotations

import time

import pytest
import requests

from tests.browser.conftest import log_in, screenshot
from tests.browser.test_pages import submit


def wait_until_succeeded(site, job: dict, user: str = "alice", timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = requests.get(f"{site.base_url}/api/v1/jobs/{job['id']}/",
                           headers={"Authorization": f"Token {site.tokens[user]}"}, timeout=10).json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            assert job["status"] == "succeeded", job["error"]
            return job
        time.sleep(0.5)
    raise TimeoutError(f"job {job['id']} still {job['status']} after {timeout} s")


def draw_a_seven(page) -> None:
    box = page.locator("#pad").bounding_box()
    x, y = box["x"], box["y"]
    strokes = [[(70, 50), (210, 50), (120, 240)]]
    for stroke in strokes:
        page.mouse.move(x + stroke[0][0], y + stroke[0][1])
        page.mouse.down()
        for (x0, y0), (x1, y1) in zip(stroke, stroke[1:]):
            for i in range(1, 11):
                page.mouse.move(x + x0 + (x1 - x0) * i / 10, y + y0 + (y1 - y0) * i / 10)
        page.mouse.up()


@pytest.fixture(scope="module")
def digits_job(site):
    job = submit(site, {"recipe": "mlp", "hyperparameters": {"epochs": 20, "hidden_layers": [64]}})
    return wait_until_succeeded(site, job)


def test_drawing_a_digit_predicts_in_the_browser_and_the_server_agrees(site, page, digits_job):
    log_in(page, site)
    page.goto(f"{site.base_url}/try/digits/{digits_job['id']}/")
    page.wait_for_selector("#pad[data-model=float32]", timeout=30_000)
    assert page.locator("#backend").inner_text() in ("webgl", "cpu", "wasm", "webgpu")

    draw_a_seven(page)

    page.wait_for_selector("#pad[data-predicted]")
    assert page.locator("#prediction").inner_text() != "–"
    assert page.locator("#latency").inner_text().endswith(" ms")
    bars = page.evaluate("Chart.getChart('chart').data.datasets[0].data")
    assert len(bars) == 10 and sum(bars) == pytest.approx(1.0, abs=1e-3)
    preview = page.evaluate("Array.from(document.getElementById('preview').getContext('2d')"
                            ".getImageData(0, 0, 8, 8).data).filter((v, i) => i % 4 === 0 && v < 200).length")
    assert preview > 3  # the 8x8 input shows ink

    page.select_option("#variant", "uint8")
    page.wait_for_selector("#pad[data-model=uint8]", timeout=30_000)
    page.wait_for_function("() => Chart.getChart('chart').data.datasets[0].data.some(p => p > 0)")

    page.click("#ask")
    page.wait_for_function("() => document.getElementById('server-latency').textContent.includes('round trip')", timeout=60_000)
    browser_class = page.locator("#browser-class").inner_text()
    server_class = page.locator("#server-class").inner_text()
    assert browser_class != "–" and server_class != "–"
    assert "uint8" in page.locator("#browser-latency").inner_text()
    assert "keras h5" in page.locator("#server-latency").inner_text()
    assert len(page.locator("#server-probabilities").inner_text().split()) == 10
    assert page.locator("#agreement").inner_text() != ""
    screenshot(page, "try_digits")

    page.click("#clear")
    page.wait_for_function("() => document.getElementById('prediction').textContent === '–'")
    assert page.console_errors == []


def test_preprocessing_fills_8x8_and_centres_mnist_by_mass(site, page):
    log_in(page, site)
    result = page.evaluate("""async () => {
        const { preprocess } = await import('/static/js/digit_preprocess.js');
        const ink = new Float32Array(100 * 100);
        for (let y = 10; y < 50; y++) for (let x = 60; x < 80; x++) ink[y * 100 + x] = 1;  // a 20x40 bar
        const digits = Array.from(preprocess(ink, 100, 100, 8, 8));
        const mnist = Array.from(preprocess(ink, 100, 100, 28, 28));
        let m = 0, cx = 0, cy = 0;
        mnist.forEach((v, i) => { m += v; cx += v * (i % 28); cy += v * Math.floor(i / 28); });
        return { digits, mass: m, cx: cx / m, cy: cy / m, max: Math.max(...mnist),
                 empty: preprocess(new Float32Array(100), 10, 10, 8, 8) };
    }""")
    rows = [result["digits"][r * 8:(r + 1) * 8] for r in range(8)]

    assert all(row[3] == pytest.approx(1) and row[4] == pytest.approx(1) for row in rows)  # full height, centred
    assert all(row[0] == 0 and row[7] == 0 for row in rows)
    assert result["cx"] == pytest.approx(14, abs=0.01) and result["cy"] == pytest.approx(14, abs=0.01)
    assert result["mass"] == pytest.approx(10 * 20, rel=1e-3) and result["max"] <= 1  # a 10x20 box
    assert result["empty"] is None


def test_a_job_that_is_not_an_image_classifier_gets_a_clear_message(site, page):
    job = submit(site, {"recipe": "fizzbuzz", "hyperparameters": {"epochs": 1}})
    log_in(page, site)

    page.goto(f"{site.base_url}/try/digits/{job['id']}/")

    assert "needs an mlp or lenet job on digits" in page.locator("#unavailable").inner_text()
    assert page.console_errors == []


def test_another_users_digits_page_is_a_404(site, page):
    job = submit(site, {"recipe": "fizzbuzz", "hyperparameters": {"epochs": 1}}, user="bob")
    log_in(page, site)

    response = page.goto(f"{site.base_url}/try/digits/{job['id']}/")

    assert response.status == 404


def test_inspect_neurons_shows_lenets_filters_and_each_layers_activations_for_the_drawing(site, page):
    job = wait_until_succeeded(site, submit(site, {"recipe": "lenet", "hyperparameters": {"epochs": 1}}))
    log_in(page, site)
    page.goto(f"{site.base_url}/try/digits/{job['id']}/")
    page.wait_for_selector("#pad[data-model=float32]", timeout=30_000)
    page.click("#neurons-box summary")

    draw_a_seven(page)

    page.wait_for_selector("#neurons[data-layers='6']")  # conv, pool, conv, pool, dense, dense
    assert page.locator("#neurons .neuron-map.filter").count() == 20  # the first convolution's 5×5 filters
    titles = page.eval_on_selector_all("#neurons h3", "hs => hs.map(h => h.textContent)")
    assert any("20 maps of 8×8" in t for t in titles) and any("10 units" in t for t in titles)
    # The maps are of this drawing: not blank.
    inked = page.evaluate("""() => [...document.querySelectorAll('#neurons .neuron-map:not(.filter)')]
        .filter(c => new Set(c.getContext('2d').getImageData(0, 0, c.width, c.height).data).size > 2).length""")
    assert inked > 5
    screenshot(page, "inspect_neurons")
    assert page.console_errors == []
