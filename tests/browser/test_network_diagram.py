"""Network diagrams in a real browser: the play page redraws the model its settings build as
they change; the job page draws its job's model when opened."""
from __future__ import annotations

import time

from tests.browser.conftest import on_phone, screenshot


def units(page) -> list[str]:
    return page.eval_on_selector_all("#network-diagram .layer", "rows => rows.map(r => r.dataset.type)")


def wait_for_layers(page, expected: list[str], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while units(page) != expected:
        assert time.monotonic() < deadline, f"{units(page)} != {expected}"
        page.wait_for_timeout(200)


def test_the_play_page_draws_the_network_its_settings_build_and_redraws_on_change(site, page):
    page.goto(f"{site.base_url}/play/mlp/")
    wait_for_layers(page, ["Flatten", "Dense", "Dense", "Dense"])
    assert "8,320" in page.text_content("#network-diagram")  # 64 × 128 + 128

    page.fill("#id_hidden_layers", "32, 16, 8")
    wait_for_layers(page, ["Flatten", "Dense", "Dense", "Dense", "Dense"])
    assert "→ 8" in page.text_content("#network-diagram")

    page.fill("#id_hidden_layers", "0")
    page.wait_for_selector("#network-diagram .network-refused")
    assert "Must be between 1 and 4096" in page.text_content("#network-diagram")
    screenshot(page, "network_diagram")
    # The browser logs the 400 it got for [0]; nothing else went wrong.
    assert [e for e in page.console_errors if "status of 400" not in e] == []

    with on_phone(page, site, "/play/lenet/") as phone:
        wait_for_layers(phone, ["Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten", "Dense", "Dense"])
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
