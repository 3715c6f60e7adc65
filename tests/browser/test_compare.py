"""Compare runs in a real browser: a learning-rate sweep started from the play form, its jobs
ticked on the home page and overlaid on /compare/, on a desktop and on a phone."""
from __future__ import annotations

from tests.browser.conftest import log_in, on_phone, screenshot

LEARNING_RATES = ("0.001", "0.01", "0.1")


def test_a_sweep_from_the_play_form_overlays_on_compare_with_the_differing_setting_marked(site, page):
    log_in(page, site)
    page.goto(f"{site.base_url}/play/mlp/?dataset=digits&epochs=2&hidden_layers=8&batch_size=64")
    page.select_option("#id_vary", "learning_rate")
    page.fill("#id_values", ", ".join(LEARNING_RATES))
    page.click("#start-sweep")
    page.wait_for_url("**/races/*/")

    # The race page names each line by its value; the embedded worker trains the three in turn.
    page.wait_for_function("() => [...document.querySelectorAll('td.status')]"
                           ".every((cell) => cell.textContent === 'succeeded')", timeout=60_000)
    labels = page.evaluate("Chart.getChart('race-chart').data.datasets.map((d) => d.label)")
    assert [label.split(" (#")[0] for label in labels] == [f"learning_rate = {lr}" for lr in LEARNING_RATES]
    ids = page.evaluate("JSON.parse(document.getElementById('race-data').textContent).jobs.map((j) => j.id)")

    page.goto(f"{site.base_url}/")
    for job_id in ids:
        page.check(f"#jobs input[name=jobs][value='{job_id}']")
    page.click("#compare")
    page.wait_for_url("**/compare/?jobs=*")

    assert sorted(map(int, page.url.split("jobs=")[1].split("&")[0].split(","))) == sorted(ids)
    points = page.evaluate("Chart.getChart('compare-chart').data.datasets.map((d) => d.data.map((p) => p.x))")
    assert points == [[1, 2]] * 3, "val_loss at epochs 1 and 2 for each job"
    assert page.locator("#metric").input_value() == "val_loss"
    differing = page.eval_on_selector_all("#settings tr.differs", "rows => rows.map((r) => r.dataset.setting)")
    assert differing == ["learning_rate"]
    marked = page.eval_on_selector("#settings tr.differs td", "td => getComputedStyle(td).backgroundColor")
    plain = page.eval_on_selector("#settings tr[data-setting=epochs] td", "td => getComputedStyle(td).backgroundColor")
    assert marked != plain
    # Per batch, against the clock: every job's loss has batch points from its first seconds.
    page.select_option("#metric", "loss")
    page.check("#per-batch")
    page.select_option("#x-axis", "time")
    batches = page.evaluate("Chart.getChart('compare-chart').data.datasets.map((d) => d.data)")
    assert all(len(line) >= 2 and all(0 <= p["x"] < 60 for p in line) for line in batches), batches
    assert "metric=loss" in page.url and "batch=1" in page.url and "x=time" in page.url
    screenshot(page, "compare")
    assert page.console_errors == []

    with on_phone(page, site, page.url) as phone:
        phone.wait_for_function("() => window.playground?.points?.length === 3")
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
        screenshot(phone, "compare_phone")
