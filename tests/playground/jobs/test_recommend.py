"""POST /api/v1/jobs/<id>/recommend/ and the recommend page, on a tiny real job run through the worker."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from tests.support.ci import unavailable

from playground.jobs import services
from playground.jobs.models import Job
from tests.conftest import client_for
from tests.trainer.test_movielens import SHARED
from trainer.recipes import matrix_factorization as mf
from trainer.spec import validate_spec

pytestmark = pytest.mark.django_db(transaction=True)

TINY = {"epochs": 1, "factors": 4, "batch_size": 4096, "learning_rate": 0.01}
FIVE = [{"movie": 50, "rating": 5}, {"movie": 181, "rating": 5}, {"movie": 1, "rating": 4},
        {"movie": 98, "rating": 2}, {"movie": 288, "rating": 1}]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The first test trains a real job; later ones reuse a copy of its files."""
    return {"folder": tmp_path_factory.mktemp("trained") / "job", "artifacts": None}


@pytest.fixture
def succeeded_job(alice, trained, settings) -> Job:
    if not (SHARED / "ml-100k" / "u.data").is_file():
        unavailable("MovieLens copy not found")
    settings.PLAYGROUND_DATA_DIR = SHARED
    if trained["artifacts"] is None:
        job = services.create_job(alice, validate_spec({"recipe": "matrix_factorization", "hyperparameters": TINY}))
        services.run_job(job.pk, "w1")
        job.refresh_from_db()
        assert job.status == "succeeded", job.error
        shutil.copytree(services.job_workdir(job.pk), trained["folder"])
        trained["artifacts"] = job.artifacts
        return job
    job = Job.objects.create(owner=alice, recipe="matrix_factorization", dataset="movielens_100k",
                             hyperparameters=TINY, status=Job.Status.SUCCEEDED)
    # artifact URLs name their job: point the copies at this one
    job.artifacts = [{**a, "url": f"/api/v1/jobs/{job.pk}/artifacts/{a['path']}"} for a in trained["artifacts"]]
    job.test_metrics = {"rmse": 1.0}
    job.save()
    shutil.copytree(trained["folder"], services.job_workdir(job.pk))
    return job


def factors_of(job: Job) -> dict:
    return mf.load_export(services.job_workdir(job.pk) / mf.FACTORS_FILE)


def test_a_job_through_the_worker_succeeds_with_metrics_baselines_and_json_artifacts(succeeded_job):
    assert succeeded_job.metrics["val_rmse"] and succeeded_job.metrics["rmse"]
    for key in ("rmse", "mae", "precision_at_10", "recall_at_10", "global_mean_rmse", "biases_rmse"):
        assert key in succeeded_job.test_metrics
    assert {a["variant"] for a in succeeded_job.artifacts} == {"factors", "movies"}


def test_fold_in_returns_the_top_10_of_the_same_formula_computed_here(api, succeeded_job):
    response = api.post(f"/api/v1/jobs/{succeeded_job.pk}/recommend/", {"ratings": FIVE}, format="json")

    assert response.status_code == 200, response.json()
    body = response.json()
    f = factors_of(succeeded_job)
    items = np.array([r["movie"] - 1 for r in FIVE])
    vector, bias = mf.fold_in(f["item_factors"], f["item_bias"], f["global_bias"], items,
                              np.array([r["rating"] for r in FIVE], float), f["l2"], f["bias_l2"])
    scores = mf.user_scores(f["item_factors"], f["item_bias"], f["global_bias"], vector, bias)
    expected = mf.top_items(scores, exclude=items)
    assert [r["movie"] for r in body["recommendations"]] == [i + 1 for i in expected]
    np.testing.assert_allclose([r["score"] for r in body["recommendations"]], scores[expected], atol=1e-9)
    assert not {r["movie"] for r in body["recommendations"]} & {r["movie"] for r in FIVE}
    assert body["recommendations"][0]["title"]


def test_a_known_user_gets_unseen_movies_from_their_trained_vector(api, succeeded_job):
    response = api.post(f"/api/v1/jobs/{succeeded_job.pk}/recommend/", {"user": 1, "top": 5}, format="json")

    assert response.status_code == 200
    f = factors_of(succeeded_job)
    scores = mf.user_scores(f["item_factors"], f["item_bias"], f["global_bias"], f["user_factors"][0], f["user_bias"][0])
    assert [r["movie"] - 1 for r in response.json()["recommendations"]] == mf.top_items(scores, f["rated"][0], 5)


@pytest.mark.parametrize("body, field", [
    ({"ratings": [{"movie": 99999, "rating": 5}]}, "ratings"),
    ({"ratings": [{"movie": 1, "rating": 6}]}, "ratings"),
    ({"ratings": []}, "ratings"),
    ({"user": 5000}, "user"),
    ({}, "non_field_errors"),
])
def test_invalid_requests_get_400_naming_the_field(api, succeeded_job, body, field):
    response = api.post(f"/api/v1/jobs/{succeeded_job.pk}/recommend/", body, format="json")
    assert response.status_code == 400 and field in response.json(), response.json()


def test_another_users_job_is_404_and_an_unfinished_one_409(alice, bob, succeeded_job):
    assert client_for(bob).post(f"/api/v1/jobs/{succeeded_job.pk}/recommend/", {"user": 1},
                                format="json").status_code == 404
    queued = Job.objects.create(owner=alice, recipe="matrix_factorization", dataset="movielens_100k",
                                hyperparameters=TINY)
    response = client_for(alice).post(f"/api/v1/jobs/{queued.pk}/recommend/", {"user": 1}, format="json")
    assert response.status_code == 409 and "queued" in response.json()["detail"]


def test_the_recommend_page_loads_its_config_and_others_get_404(client, alice, bob, succeeded_job):
    client.force_login(alice)
    page = client.get(f"/try/recommend/{succeeded_job.pk}/")
    assert page.status_code == 200
    config = json.loads(page.content.decode().split('id="try-config" type="application/json">')[1].split("</script>")[0])
    assert config["files"]["factors"].endswith(mf.FACTORS_FILE) and config["recommendUrl"].endswith("/recommend/")
    assert client.get(config["files"]["factors"]).status_code == 200
    client.force_login(bob)
    assert client.get(f"/try/recommend/{succeeded_job.pk}/").status_code == 404


def test_the_page_explains_when_the_job_is_not_a_recommender(client, alice):
    job = Job.objects.create(owner=alice, recipe="mlp", dataset="digits", hyperparameters={},
                             status=Job.Status.SUCCEEDED)
    client.force_login(alice)
    page = client.get(f"/try/recommend/{job.pk}/").content.decode()
    assert 'id="unavailable"' in page and "matrix_factorization" in page
