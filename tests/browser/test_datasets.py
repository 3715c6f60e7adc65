"""Your own data on the live site: a CSV uploaded through the /datasets/ page is listed, trains a
job on the embedded worker and is deleted from the page; to another user it is not there."""
from __future__ import annotations

from tests.browser.conftest import log_in, on_phone, screenshot
from tests.browser.test_pages import api, submit
from tests.browser.test_try_digits import wait_until_succeeded

SPECIES = ("setosa", "versicolor", "virginica")


def write_flowers_csv(path) -> None:
    """30 rows: 4 numeric columns, 10 rows of each species, the species apart in every column."""
    lines = ["sepal_length,sepal_width,petal_length,petal_width,species"]
    for i in range(30):
        k = i % 3
        lines.append(f"{4 + 1.5 * k + i * 0.01:.2f},{3 - 0.5 * k + i * 0.005:.3f},"
                     f"{1 + 2 * k + i * 0.02:.2f},{0.2 + 0.8 * k:.1f},{SPECIES[k]}")
    path.write_text("\n".join(lines) + "\n")


def test_a_csv_uploaded_on_the_page_is_listed_trains_a_job_and_is_deleted_from_the_page(site, page, tmp_path):
    csv = tmp_path / "flowers.csv"
    write_flowers_csv(csv)
    log_in(page, site)
    page.goto(f"{site.base_url}/datasets/")

    page.set_input_files("#id_file", str(csv))
    page.fill("#id_name", "flowers")
    page.click("#upload-form button[type=submit]")

    banner = page.locator("p.banner-info", has_text="Uploaded")
    banner.wait_for()
    row = page.locator("#datasets tbody tr", has_text="flowers")
    dataset_id = int(row.get_attribute("data-id"))
    assert banner.inner_text() == f"Uploaded “flowers” (version 1): jobs name it user:{dataset_id}."
    cells = row.locator("td")
    assert cells.nth(0).inner_text() == f"flowers v1 · user:{dataset_id}"
    assert cells.nth(1).inner_text() == "tabular"
    assert cells.nth(2).inner_text() == "setosa (10), versicolor (10), virginica (10)"
    stored = api(site, "GET", f"/api/v1/datasets/{dataset_id}/").json()
    assert stored["meta"]["input_shape"] == [4] and stored["meta"]["samples"] == 30
    assert stored["meta"]["upload"]["filename"] == "flowers.csv"
    screenshot(page, "datasets")

    # Bob: not there, whatever he does with it (and it is still there afterwards).
    assert api(site, "GET", f"/api/v1/datasets/{dataset_id}/", "bob").status_code == 404
    assert api(site, "DELETE", f"/api/v1/datasets/{dataset_id}/", "bob").status_code == 404
    assert dataset_id not in [d["id"] for d in api(site, "GET", "/api/v1/datasets/", "bob").json()["results"]]

    job = wait_until_succeeded(site, submit(site, {"recipe": "mlp", "dataset": f"user:{dataset_id}",
                                                   "hyperparameters": {"epochs": 2, "hidden_layers": [8]}}))
    assert job["dataset"] == f"user:{dataset_id}" and len(job["metrics"]["loss"]) == 2
    assert 0 <= job["test_metrics"]["accuracy"] <= 1

    with on_phone(page, site, "/datasets/") as phone:
        assert phone.locator(f"#datasets tr[data-id='{dataset_id}']").is_visible()
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
        screenshot(phone, "datasets_phone")

    row.get_by_role("button", name="Delete flowers version 1").click()

    page.locator("p.banner-info", has_text="Deleted").wait_for()
    assert page.locator("p.banner-info").inner_text() == "Deleted “flowers” (version 1)."
    assert page.locator(f"#datasets tr[data-id='{dataset_id}']").count() == 0
    assert api(site, "GET", f"/api/v1/datasets/{dataset_id}/").status_code == 404
    assert page.console_errors == []
