"""/datasets/new/: two classes drawn on their pads, uploaded as an images dataset through the API;
without a webcam (headless Chromium has none) the page says so and drawing keeps working."""
from __future__ import annotations

from tests.browser.conftest import log_in, on_phone, screenshot
from tests.browser.test_pages import api


def draw(page, pad, points) -> None:
    """One stroke through `points`, fractions of the pad's side."""
    box = pad.bounding_box()
    at = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in points]
    page.mouse.move(*at[0])
    page.mouse.down()
    for x, y in at[1:]:
        page.mouse.move(x, y, steps=4)
    page.mouse.up()


def ring(k: int) -> list[tuple[float, float]]:
    r, c = 0.25 + 0.05 * k, 0.5
    return [(c + r * dx, c + r * dy) for dx, dy in
            [(1, 0), (.7, .7), (0, 1), (-.7, .7), (-1, 0), (-.7, -.7), (0, -1), (.7, -.7), (1, 0)]]


def bar(k: int) -> list[tuple[float, float]]:
    x = 0.3 + 0.2 * k
    return [(x, 0.15), (x, 0.85)]


def test_drawn_classes_are_uploaded_as_an_images_dataset_and_a_missing_camera_is_said(site, page):
    log_in(page, site)
    page.goto(f"{site.base_url}/datasets/")
    page.click("#capture-link")
    page.wait_for_url(f"{site.base_url}/datasets/new/")
    cards = page.locator(".capture-class")
    assert cards.count() == 2
    page.click("#add-class")
    assert cards.count() == 3
    cards.nth(2).locator(".remove-class").click()
    assert cards.count() == 2

    # No camera here: pressing "Hold to record" says so, and drawing still works.
    record = cards.nth(0).locator(".record")
    record.hover()
    page.mouse.down()
    page.locator("#camera-status[data-state=unavailable]").wait_for()
    page.mouse.up()
    assert "Drawing still works" in page.inner_text("#camera-status")

    for card, name, shape in [(cards.nth(0), "rings", ring), (cards.nth(1), "bars", bar)]:
        card.locator(".class-name").fill(name)
        pad = card.locator(".capture-pad")
        draw(page, pad, [(0.2, 0.2), (0.8, 0.8)])
        card.locator(".clear-pad").click()
        card.locator(".add-drawing").click()  # a cleared pad is no sample
        assert page.inner_text("#upload-status") == f"Draw on the pad of “{name}” first."
        for k in range(3):
            draw(page, pad, shape(k))
            card.locator(".add-drawing").click()
            card.locator(".count", has_text=f"{k + 1} sample").wait_for()
        assert card.locator(".capture-thumbs img").count() == 3

    page.fill("#dataset-name", "drawn shapes")
    page.click("#upload")
    result = page.locator("#upload-result")
    result.wait_for()
    dataset_id = int(result.get_attribute("data-id"))
    assert result.inner_text() == (f"Uploaded “drawn shapes” (version 1): bars (3), rings (3). Train on it by naming "
                                   f"user:{dataset_id} as a job's dataset; it is listed with your datasets.")
    assert result.locator("a").get_attribute("href") == "/datasets/"
    stored = api(site, "GET", f"/api/v1/datasets/{dataset_id}/").json()
    assert stored["kind"] == "images" and stored["meta"]["num_classes"] == 2
    assert stored["meta"]["classes"] == [{"name": "bars", "count": 3}, {"name": "rings", "count": 3}]
    assert stored["meta"]["input_shape"] == [28, 28, 1] and stored["meta"]["upload"]["filename"] == "drawn_shapes.zip"
    screenshot(page, "dataset_capture")

    with on_phone(page, site, "/datasets/new/") as phone:
        phone.locator(".capture-class").nth(1).wait_for()
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
        screenshot(phone, "dataset_capture_phone")
    assert page.console_errors == []
