"""The translate page in a real browser: TF.js greedy decoding gives the server's greedy tokens."""
from __future__ import annotations

import shutil

import pytest

from tests.support.ci import unavailable
import requests

from tests.browser.conftest import log_in, screenshot
from tests.browser.test_pages import submit
from tests.browser.test_try_digits import wait_until_succeeded
from tests.trainer.conftest import REPO

SHARED_MULTI30K = REPO.parent / "shared" / "data" / "multi30k"
SENTENCES = ["Ein Mann fährt Fahrrad.", "Zwei Hunde spielen im Schnee.", "Eine Frau mit einem roten Hut liest."]


@pytest.fixture(scope="module")
def translation_job(site):
    if not (SHARED_MULTI30K / "train.de.gz").is_file():
        unavailable("Multi30k copy not found")
    # The site downloads nothing in tests: its data dir gets the verified copy, used as is.
    shutil.copytree(SHARED_MULTI30K, site.data_dir / "multi30k_de_en", dirs_exist_ok=True)
    # Bahdanau attention and two layers: the most layer types and states the browser must load.
    job = submit(site, {"recipe": "seq2seq", "hyperparameters": {
        "train_pairs": 400, "epochs": 1, "units": 24, "embedding_size": 16, "vocab_size": 500, "layers": 2,
        "max_length": 12, "bleu_sample": 12, "attention": "bahdanau"}})
    return wait_until_succeeded(site, job, timeout=240)


def server_greedy(site, job, text: str) -> dict:
    response = requests.post(f"{site.base_url}/api/v1/jobs/{job['id']}/translate/",
                             json={"text": text, "beam_width": 1},
                             headers={"Authorization": f"Token {site.tokens['alice']}"}, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_browsers_greedy_decode_yields_the_servers_greedy_tokens(site, page, translation_job):
    log_in(page, site)
    page.goto(f"{site.base_url}/jobs/{translation_job['id']}/")
    page.wait_for_selector("table.translations td")  # the job page replays the epoch samples
    assert page.locator("table.translations tbody tr").count() == 6

    page.goto(f"{site.base_url}/try/translate/{translation_job['id']}/")
    page.wait_for_selector("#translate-form[data-model=float32]", timeout=30_000)
    page.fill("#beam-width", "1")
    page.click("button.example >> nth=0")  # "Ein Mann fährt Fahrrad."
    page.wait_for_selector("#translate-form[data-browser-done][data-server-done]", timeout=60_000)

    assert page.locator("#source").input_value() == "Ein Mann fährt Fahrrad."
    browser_ids = page.locator("#browser-ids").inner_text()
    assert browser_ids == page.locator("#server-ids").inner_text()
    assert browser_ids.split() == [str(i) for i in server_greedy(site, translation_job, SENTENCES[0])["ids"]]
    # Not only the same argmax: the same probabilities (the log-probability of the whole output).
    assert float(page.locator("#browser-ids").get_attribute("data-log-probability")) == pytest.approx(
        float(page.locator("#server-ids").get_attribute("data-log-probability")), abs=1e-3)
    assert page.locator("#browser-translation").inner_text() == page.locator("#server-translation").inner_text()
    assert "ms/token" in page.locator("#browser-timing").inner_text()
    assert "beam width 1" in page.locator("#server-timing").inner_text()
    lengths = []
    for text in SENTENCES:
        browser = page.evaluate("(text) => window.translatePage.greedyTranslate(text)", text)
        server = server_greedy(site, translation_job, text)
        assert browser["ids"] == server["ids"], text
        assert browser["logProbability"] == pytest.approx(server["score"], abs=1e-3), text
        lengths.append(len(browser["ids"]))
    assert any(lengths), "every output was empty: the comparison proved little"
    screenshot(page, "try_translate")

    page.select_option("#variant", "uint8")
    page.wait_for_selector("#translate-form[data-model=uint8]", timeout=30_000)
    page.fill("#beam-width", "3")
    page.click("#translate")
    page.wait_for_selector("#translate-form[data-browser-done][data-server-done]", timeout=60_000)
    assert "uint8" in page.locator("#browser-timing").inner_text()
    assert "beam width 3" in page.locator("#server-timing").inner_text()
    assert page.console_errors == []
