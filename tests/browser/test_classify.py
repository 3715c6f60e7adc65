"""/classify/ in a real browser: a pre-trained CNN (locally made MobileNetV2 weights placed in the
site's cache, never the internet) labels a photo in TF.js and on the server, side by side."""
from __future__ import annotations

import shutil
import time

import numpy as np
import requests
from PIL import Image

from tests.browser.conftest import log_in, on_phone, screenshot
from tests.support.pretrained import write_manifest
from trainer import pretrained


def test_a_photo_gets_the_same_top_5_in_the_browser_and_on_the_server(site, page, tmp_path, pretrained_mirror):
    shutil.copytree(pretrained_mirror[0], pretrained.cache_dir(site.data_dir), dirs_exist_ok=True)
    write_manifest(site.data_dir, "http://127.0.0.1:9", pretrained_mirror[1])
    headers = {"Authorization": f"Token {site.tokens['alice']}"}
    job = requests.post(f"{site.base_url}/api/v1/jobs/", json={"recipe": "imagenet"}, headers=headers, timeout=10).json()
    deadline = time.monotonic() + 180
    while (status := requests.get(f"{site.base_url}/api/v1/jobs/{job['id']}/", headers=headers,
                                  timeout=10).json())["status"] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline, status
        time.sleep(1)
    assert status["status"] == "succeeded", status["error"]
    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(5).integers(0, 256, (240, 320, 3), dtype=np.uint8)).save(photo)

    log_in(page, site)
    page.goto(f"{site.base_url}/classify/")
    assert page.url == f"{site.base_url}/try/classify/{job['id']}/"
    page.wait_for_function("() => document.getElementById('model-status').textContent === 'ready'", timeout=60_000)
    page.set_input_files("#photo", str(photo))
    page.wait_for_function("() => window.playground.runs >= 1", timeout=60_000)

    result = page.evaluate("() => window.playground")
    assert page.locator("#error").is_hidden(), page.locator("#error").inner_text()
    assert result["backend"] in ("wasm", "webgl", "cpu") and result["browser"]["variant"] == "float32"
    browser, server = result["browser"]["top"], result["server"]["top"]
    assert [e["class"] for e in browser] == [e["class"] for e in server]
    assert np.allclose([e["probability"] for e in browser], [e["probability"] for e in server], atol=1e-3)
    assert page.locator("#agreement").inner_text() == f"Browser and server agree: {server[0]['label']}."
    print("classify latency (ms): browser", round(result["browser"]["latency_ms"]), result["backend"],
          "server forward", round(result["server"]["latency_ms"]), "round trip", round(result["server"]["round_trip_ms"]))
    screenshot(page, "classify")
    assert page.console_errors == []

    with on_phone(page, site, page.url) as phone:
        phone.wait_for_function("() => document.getElementById('model-status').textContent === 'ready'", timeout=60_000)
        phone.click("#camera")  # headless Chromium has no camera: the page says so
        phone.wait_for_function("() => document.getElementById('camera-status').textContent.startsWith('No camera here')")
        screenshot(phone, "classify_phone")
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
