"""POST /api/v1/races/: one recipe, several optimizers, one seed, one group of jobs."""
from __future__ import annotations

import pytest

from playground.jobs import services
from playground.jobs.models import Job
from tests.conftest import client_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_race_creates_one_job_per_optimizer_with_the_same_seed_in_one_group(alice):
    response = client_for(alice).post("/api/v1/races/", {
        "recipe": "mlp", "hyperparameters": {"epochs": 1, "seed": 7}}, format="json")

    assert response.status_code == 201, response.json()
    race = response.json()
    jobs = Job.objects.filter(group_id=race["id"]).order_by("id")
    assert [job.hyperparameters["optimizer"] for job in jobs] == ["sgd", "adagrad", "rmsprop", "adam"]
    assert {job.hyperparameters["seed"] for job in jobs} == {7}
    assert [j["id"] for j in race["jobs"]] == [job.pk for job in jobs]
    assert race["page"] == f"/races/{race['id']}/"


def test_the_race_jobs_train_and_differ_only_in_their_optimizer(alice):
    race = client_for(alice).post("/api/v1/races/", {
        "recipe": "mlp", "optimizers": ["sgd", "adam"],
        "hyperparameters": {"epochs": 1, "hidden_layers": [8], "batch_size": 128}}, format="json").json()
    for job in race["jobs"]:
        services.run_job(job["id"], "w1")

    jobs = list(Job.objects.filter(group_id=race["id"]).order_by("id"))

    assert [job.status for job in jobs] == ["succeeded", "succeeded"]
    sgd, adam = ({k: v for k, v in job.hyperparameters.items() if k != "optimizer"} for job in jobs)
    assert sgd == adam
    assert jobs[0].metrics["val_loss"] != jobs[1].metrics["val_loss"]


@pytest.mark.parametrize("body, field", [
    ({"recipe": "mlp", "optimizers": ["adam"]}, "optimizers"),
    ({"recipe": "mlp", "optimizers": ["adam", "adam"]}, "optimizers"),
    ({"recipe": "mlp", "optimizers": ["adam", "lbfgs"]}, "optimizers"),
    ({"recipe": "mlp", "hyperparameters": {"epochs": 0}}, "hyperparameters"),
    ({"recipe": "nope"}, "recipe"),
    ({"recipe": "mlp", "race": True}, "race"),
])
def test_an_invalid_race_is_a_400_naming_the_field_and_creates_nothing(alice, body, field):
    response = client_for(alice).post("/api/v1/races/", body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert Job.objects.count() == 0


def test_another_users_race_is_a_404(alice, bob):
    race = client_for(alice).post("/api/v1/races/", {"recipe": "mlp"}, format="json").json()

    assert client_for(bob).get(f"/api/v1/races/{race['id']}/").status_code == 404
    assert client_for(alice).get(f"/api/v1/races/{race['id']}/").json()["id"] == race["id"]
