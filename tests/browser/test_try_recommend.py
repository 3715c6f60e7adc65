"""The recommend page in a real browser: rate five movies, TF.js folds you in, the server agrees."""
from __future__ import annotations

import shutil

import pytest

from tests.support.ci import unavailable
import requests

from tests.browser.conftest import log_in, screenshot
from tests.browser.test_pages import submit
from tests.browser.test_try_digits import wait_until_succeeded
from tests.trainer.test_movielens import SHARED

# MovieLens ids: Star Wars, Return of the Jedi, Toy Story, Silence of the Lambs, Scream
FIVE = {50: 5, 181: 4, 1: 5, 98: 2, 288: 1}


@pytest.fixture(scope="module")
def recommender_job(site):
    if not (SHARED / "ml-100k" / "u.data").is_file():
        unavailable("MovieLens copy not found")
    # The site downloads nothing in tests: its data dir gets the unpacked copy, used as is.
    shutil.copytree(SHARED / "ml-100k", site.data_dir / "ml-100k", dirs_exist_ok=True)
    job = submit(site, {"recipe": "matrix_factorization",
                        "hyperparameters": {"epochs": 2, "factors": 8, "batch_size": 2048, "learning_rate": 0.01}})
    return wait_until_succeeded(site, job)


def test_rating_five_movies_recommends_in_the_browser_exactly_as_the_server_does(site, page, recommender_job):
    log_in(page, site)
    page.goto(f"{site.base_url}/try/recommend/{recommender_job['id']}/")
    page.wait_for_selector("body[data-recommender=ready]", timeout=30_000)
    assert page.locator("#user-recs").get_attribute("data-count") == "10"
    assert page.locator("#similar").get_attribute("data-count") == "10"
    assert "Test RMSE" in page.locator("#test-metrics").inner_text()

    for movie, rating in FIVE.items():
        page.select_option("#rate-movie", str(movie))
        page.select_option("#rate-value", str(rating))
        page.click("#rate-add")
    page.wait_for_selector("#my-recs[data-ratings='5'][data-count='10']")

    rows = page.locator("#my-recs tbody tr")
    browser = [(int(rows.nth(i).get_attribute("data-movie")), float(rows.nth(i).get_attribute("data-score")))
               for i in range(rows.count())]
    server = requests.post(
        f"{site.base_url}/api/v1/jobs/{recommender_job['id']}/recommend/",
        json={"ratings": [{"movie": m, "rating": r} for m, r in FIVE.items()]},
        headers={"Authorization": f"Token {site.tokens['alice']}"}, timeout=30,
    ).json()["recommendations"]
    assert [m for m, _ in browser] == [r["movie"] for r in server]
    assert max(abs(s - r["score"]) for (_, s), r in zip(browser, server)) < 1e-4
    assert not {m for m, _ in browser} & set(FIVE)

    page.click("#ask")
    page.wait_for_function("() => document.getElementById('agreement').textContent !== ''", timeout=30_000)
    assert page.locator("#agreement").inner_text().startswith("Same movies in the same order")
    screenshot(page, "try_recommend")
    assert page.console_errors == []


def test_picking_a_user_and_a_movie_updates_their_tables(site, page, recommender_job):
    log_in(page, site)
    page.goto(f"{site.base_url}/try/recommend/{recommender_job['id']}/")
    page.wait_for_selector("body[data-recommender=ready]", timeout=30_000)
    first = page.locator("#user-recs tbody").inner_text()
    page.select_option("#user", "2")
    page.wait_for_function(f"() => document.querySelector('#user-recs tbody').innerText !== {first!r}")
    page.select_option("#like-movie", "50")
    rows = page.locator("#similar tbody tr")
    assert rows.count() == 10
    assert "50" not in [rows.nth(i).get_attribute("data-movie") for i in range(10)]
    cosines = [float(rows.nth(i).get_attribute("data-score")) for i in range(10)]
    assert cosines == sorted(cosines, reverse=True) and all(-1 <= c <= 1 for c in cosines)
    assert page.console_errors == []


def test_the_job_page_charts_rmse_and_links_to_the_recommend_page(site, page, recommender_job):
    log_in(page, site)
    page.goto(f"{site.base_url}/jobs/{recommender_job['id']}/")
    page.wait_for_selector("#try-link:not([hidden])", timeout=30_000)
    assert page.locator("#try-link").get_attribute("href") == f"/try/recommend/{recommender_job['id']}/"
    assert recommender_job["metrics"]["val_rmse"] and recommender_job["test_metrics"]["biases_rmse"] > 0
    screenshot(page, "job_recommender")
    assert page.console_errors == []
