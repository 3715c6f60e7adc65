"""The playground pages in a real browser against the embedded playground."""
from __future__ import annotations

import contextlib

import requests

from tests.browser.conftest import log_in, screenshot


def api(site, method: str, path: str, user: str = "alice", **kwargs) -> requests.Response:
    return requests.request(method, f"{site.base_url}{path}", headers={"Authorization": f"Token {site.tokens[user]}"},
                            timeout=10, **kwargs)


def submit(site, body: dict, user: str = "alice") -> dict:
    response = api(site, "POST", "/api/v1/jobs/", user, json=body)
    assert response.status_code == 201, response.text
    return response.json()


@contextlib.contextmanager
def cancelled_afterwards(site, job_id: int):
    # The embedded worker runs one job at a time: never leave a long job behind for other tests.
    try:
        yield
    finally:
        api(site, "POST", f"/api/v1/jobs/{job_id}/cancel/")


def epochs_seen(page) -> list[int]:
    return page.evaluate("window.playground.epochPoints.map(p => p.epoch)")


def test_home_shows_the_recipes_and_a_newcomer_the_way_in(site, page):
    page.goto(f"{site.base_url}/")

    assert page.locator(".card h2").count() >= 3
    assert page.locator(".newcomer a[href='/accounts/login/']").is_visible()
    screenshot(page, "home_anonymous")
    assert page.console_errors == []


def test_logging_in_leads_home_with_the_users_jobs_and_their_live_status(site, page):
    job = submit(site, {"recipe": "fizzbuzz", "hyperparameters": {"epochs": 2}})

    page.goto(f"{site.base_url}/accounts/login/")
    screenshot(page, "login")
    log_in(page, site)

    row = page.locator(f"#jobs tr[data-job='{job['id']}']")
    assert row.is_visible()
    page.wait_for_selector(f"#jobs tr[data-job='{job['id']}'] .status-succeeded", timeout=120_000)
    screenshot(page, "home")
    assert page.console_errors == []


def test_the_recipe_form_keeps_its_setup_in_the_url_and_trains_on_the_server(site, page):
    log_in(page, site)
    page.goto(f"{site.base_url}/play/mlp/?epochs=12&activation=tanh&hidden_layers=32")

    assert page.input_value("#id_epochs") == "12"
    assert page.input_value("#id_activation") == "tanh"
    page.fill("#id_batch_size", "16")
    page.dispatch_event("#id_batch_size", "input")
    assert "batch_size=16" in page.url and "epochs=12" in page.url
    screenshot(page, "play_mlp")
    page.click("#train")
    page.wait_for_url("**/jobs/*/")
    job_id = int(page.url.rstrip("/").rsplit("/", 1)[1])

    # Live: an epoch point is drawn while the job is still running.
    page.wait_for_function("() => window.playground.epochPoints.length >= 1 && window.playground.state.status === 'running'",
                           timeout=120_000)
    page.wait_for_selector("#status.status-succeeded", timeout=120_000)

    job = api(site, "GET", f"/api/v1/jobs/{job_id}/").json()
    assert job["hyperparameters"] | {"epochs": 12, "activation": "tanh", "batch_size": 16, "hidden_layers": [32]} == job["hyperparameters"]
    assert epochs_seen(page) == list(range(1, 13))
    assert page.evaluate("window.playground.epochPoints.map(p => p.val_loss)") == job["metrics"]["val_loss"]
    # The analysis follows the live "succeeded" status, on a page opened while the job was queued.
    page.wait_for_selector("#analysis-box:not([hidden])", timeout=10_000)
    assert page.locator("#epochs tr.best").count() == 1
    assert page.locator("#exports tr").count() == 4
    assert page.locator("#test-metrics").inner_text().startswith("loss")
    assert page.locator("#try-link").is_visible()
    screenshot(page, "job")
    assert page.console_errors == []


def test_the_recipe_form_shows_server_errors_at_the_field(site, page):
    log_in(page, site)
    page.goto(f"{site.base_url}/play/mlp/?epochs=0&hidden_layers=8,x")

    page.click("#train")

    epochs_error = page.locator(".field[data-field=epochs] .field-error")
    assert "between 1 and" in epochs_error.inner_text()
    assert "whole numbers" in page.locator(".field[data-field=hidden_layers] .field-error").inner_text()
    assert page.input_value("#id_epochs") == "0"
    screenshot(page, "play_errors")


def test_reloading_mid_training_redraws_every_point_without_gaps(site, page):
    log_in(page, site)
    job = submit(site, {"recipe": "mlp", "hyperparameters": {"epochs": 400, "batch_size": 8, "hidden_layers": [64]}})
    with cancelled_afterwards(site, job["id"]):
        page.goto(f"{site.base_url}/jobs/{job['id']}/")
        page.wait_for_function("() => window.playground.epochPoints.length >= 2", timeout=120_000)

        page.reload()
        page.wait_for_function("() => window.playground.epochPoints.length >= 4", timeout=120_000)

        seen = epochs_seen(page)
        assert seen == list(range(1, len(seen) + 1))
        seqs = [int(s) for s in page.locator("#events tr").evaluate_all("rows => rows.map(r => r.dataset.seq)")]
        assert seqs == list(range(1, len(seqs) + 1))


def test_the_cancel_button_stops_a_running_job(site, page):
    log_in(page, site)
    job = submit(site, {"recipe": "mlp", "hyperparameters": {"epochs": 400, "batch_size": 8}})
    with cancelled_afterwards(site, job["id"]):
        page.goto(f"{site.base_url}/jobs/{job['id']}/")
        page.wait_for_function("() => window.playground.epochPoints.length >= 1", timeout=120_000)

        page.click("#cancel")

        page.wait_for_selector("#status.status-cancelled", timeout=60_000)
        assert page.locator("#banner").inner_text() == "Cancelled."
        assert len(epochs_seen(page)) < 400
        assert page.locator("#cancel").is_hidden()
        assert page.console_errors == []


def test_another_users_job_page_is_a_404(site, page):
    job = submit(site, {"recipe": "fizzbuzz", "hyperparameters": {"epochs": 1}}, user="bob")
    log_in(page, site, "alice")

    response = page.goto(f"{site.base_url}/jobs/{job['id']}/")

    assert response.status == 404


def test_a_finished_job_renders_from_its_stored_events_with_samples(site, page):
    job = submit(site, {"recipe": "fizzbuzz", "hyperparameters": {"epochs": 3}})
    log_in(page, site)
    for _ in range(600):
        if api(site, "GET", f"/api/v1/jobs/{job['id']}/").json()["status"] == "succeeded":
            break
        page.wait_for_timeout(200)

    page.goto(f"{site.base_url}/jobs/{job['id']}/")
    page.wait_for_function("() => window.playground.epochPoints.length === 3", timeout=30_000)

    assert page.locator("#sample-caption").inner_text().startswith("after epoch 3")
    assert len(page.locator("#sample").inner_text().split()) == 100
    headers = page.locator("#epochs-head th").all_inner_texts()
    assert headers[:1] == ["epoch"] and {"loss", "val_loss", "accuracy", "val_accuracy"} <= set(headers)
    assert page.evaluate("Chart.getChart('metrics-chart').data.datasets.map(d => d.label)") == ["accuracy", "val_accuracy"]
    assert page.console_errors == []


def test_the_api_docs_render_from_the_apps_own_static_files(site, page):
    requested = []
    page.on("request", lambda request: requested.append(request.url))

    page.goto(f"{site.base_url}/api/docs/")
    page.wait_for_selector(".swagger-ui .opblock", timeout=30_000)

    assert page.locator(".opblock-summary-path", has_text="/api/v1/jobs/").count() >= 1
    assert all(url.startswith(site.base_url) for url in requested), [u for u in requested if not u.startswith(site.base_url)]
    screenshot(page, "api_docs")
    assert page.console_errors == []


def test_the_admin_job_list_works_in_the_browser(site, page):
    submit(site, {"recipe": "fizzbuzz", "hyperparameters": {"epochs": 1}})
    page.goto(f"{site.base_url}/admin/login/?next=/admin/jobs/job/")
    page.fill("input[name=username]", "root")
    page.fill("input[name=password]", site.passwords["root"])
    page.click("input[type=submit]")

    page.wait_for_selector("#result_list")
    assert page.locator("#result_list tbody tr").count() >= 1
    assert page.locator("#changelist-filter").inner_text().lower().count("status") >= 1
    screenshot(page, "admin_jobs")
    assert page.console_errors == []
