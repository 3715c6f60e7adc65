"""The job page's analysis in a real browser: click a confusion-matrix cell, see its samples."""
from __future__ import annotations

from tests.browser.conftest import log_in, screenshot
from tests.browser.test_pages import submit
from tests.browser.test_try_digits import wait_until_succeeded


def test_clicking_a_confusion_matrix_cell_shows_that_cells_test_samples(site, page):
    job = wait_until_succeeded(site, submit(site, {"recipe": "mlp", "hyperparameters": {"epochs": 2, "hidden_layers": [16]}}))
    analysis = job["analysis"]
    row, col = max(((r, c) for r, counts in enumerate(analysis["confusion_matrix"])
                    for c, n in enumerate(counts) if n and r != c),
                   key=lambda rc: analysis["confusion_matrix"][rc[0]][rc[1]], default=(0, 0))
    expected = analysis["cells"][f"{row},{col}"]
    log_in(page, site)
    page.goto(f"{site.base_url}/jobs/{job['id']}/")
    page.wait_for_selector("#analysis-box:not([hidden])", timeout=30_000)
    assert page.locator("#cell-list .sample-card").count() == 0

    page.click(f"#confusion td[data-row='{row}'][data-col='{col}']")

    cards = page.locator("#cell-list .sample-card")
    assert cards.count() == len(expected)
    names = analysis["class_names"]
    first = analysis["samples"][str(expected[0])]
    assert cards.first.locator("figcaption").inner_text().startswith(
        f"#{first['index']}: true {names[row]}, predicted {names[col]}")
    assert cards.first.locator("img").get_attribute("src").startswith("data:image/png;base64,")
    assert page.locator(f"#confusion td.selected[data-row='{row}'][data-col='{col}']").count() == 1
    assert page.locator("#low-confidence .sample-card").count() == len(analysis["low_confidence"])
    assert page.get_attribute("#fork-link", "href").endswith(f"parent={job['id']}&parent_epoch=best&freeze=all_but_last")
    screenshot(page, "job_analysis")
    assert page.console_errors == []
