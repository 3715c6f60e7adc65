from __future__ import annotations

import pytest

from playground.jobs import leases, services
from playground.jobs.models import Job, JobEvent
from tests.conftest import client_for
from trainer.spec import validate_spec

pytestmark = pytest.mark.django_db


def submit(api, **body):
    return api.post("/api/v1/jobs/", body, format="json")


def make_job(owner, **spec) -> Job:
    return services.create_job(owner, validate_spec({"recipe": "mlp", **spec}))


def test_it_lists_recipes_with_their_hyperparameter_schema(api):
    response = api.get("/api/v1/recipes/")

    assert response.status_code == 200
    recipes = {r["name"]: r for r in response.json()}
    assert {"mlp", "lenet", "fizzbuzz"} <= set(recipes)
    mlp = recipes["mlp"]
    assert mlp["default_dataset"] == "digits"
    assert {"digits", "mnist", "fashion_mnist"} <= set(mlp["datasets"])
    epochs = mlp["hyperparameters"]["epochs"]
    assert epochs["type"] == "int" and epochs["min"] >= 1 and "default" in epochs
    assert {"relu", "tanh", "sigmoid", "softsign", "elu", "linear"} <= set(mlp["hyperparameters"]["activation"]["choices"])


def test_it_creates_a_queued_job_with_defaults_filled_in(api):
    response = submit(api, recipe="mlp", hyperparameters={"epochs": 3})

    assert response.status_code == 201, response.json()
    job = response.json()
    assert job["status"] == "queued"
    assert job["dataset"] == "digits"
    assert job["hyperparameters"]["epochs"] == 3
    assert job["hyperparameters"]["hidden_layers"] == [128, 64]
    assert job["ws_url"].endswith(f"/ws/jobs/{job['id']}/") and job["ws_url"].startswith("ws://")
    assert set(job["progress"]) == {"epoch", "epochs", "step", "steps"}
    queued = JobEvent.objects.get(job_id=job["id"])
    assert (queued.seq, queued.type, queued.data) == (1, "status", {"status": "queued"})


@pytest.mark.parametrize(
    "body, field",
    [
        ({"recipe": "resnet"}, "recipe"),
        ({}, "recipe"),
        ({"recipe": "mlp", "dataset": "imagenet"}, "dataset"),
        ({"recipe": "fizzbuzz", "dataset": "digits"}, "dataset"),
        ({"recipe": "mlp", "precision": "float8"}, "precision"),
        ({"recipe": "mlp", "strategy": "tpu"}, "strategy"),
        ({"recipe": "mlp", "colour": "red"}, "colour"),
    ],
)
def test_it_rejects_bad_top_level_fields_naming_the_field(api, body, field):
    response = submit(api, **body)

    assert response.status_code == 400
    assert field in response.json()
    assert Job.objects.count() == 0


@pytest.mark.parametrize(
    "hyperparameters, name, words",
    [
        ({"epochs": "ten"}, "epochs", "integer"),
        ({"epochs": 0}, "epochs", "1"),
        ({"epochs": 10**6}, "epochs", "between"),
        ({"learning_rate": -0.1}, "learning_rate", "between"),
        ({"optimizer": "lbfgs"}, "optimizer", "adam"),
        ({"dropout": True}, "dropout", ""),
        ({"momentum_of_the_moon": 1}, "momentum_of_the_moon", "epochs"),
    ],
)
def test_it_rejects_bad_hyperparameters_per_field(api, hyperparameters, name, words):
    response = submit(api, recipe="mlp", hyperparameters=hyperparameters)

    assert response.status_code == 400
    messages = response.json()["hyperparameters"][name]
    assert messages and words in " ".join(messages)


def test_it_reports_every_bad_hyperparameter_at_once(api):
    response = submit(api, recipe="mlp", hyperparameters={"epochs": -1, "batch_size": "x"})

    assert response.status_code == 400
    assert set(response.json()["hyperparameters"]) == {"epochs", "batch_size"}


def test_it_requires_authentication(client):
    assert client.get("/api/v1/jobs/").status_code == 401
    assert client.post("/api/v1/jobs/", {"recipe": "mlp"}, content_type="application/json").status_code == 401
    assert client.get("/api/v1/recipes/").status_code == 401


def test_it_accepts_session_authentication(client, alice):
    client.force_login(alice)

    assert client.get("/api/v1/jobs/").status_code == 200


def test_another_users_job_is_invisible(alice, bob):
    job = make_job(alice)
    as_bob = client_for(bob)

    for url in (f"/api/v1/jobs/{job.pk}/", f"/api/v1/jobs/{job.pk}/events/", f"/api/v1/jobs/{job.pk}/artifacts/model.h5"):
        assert as_bob.get(url).status_code == 404, url
    assert as_bob.post(f"/api/v1/jobs/{job.pk}/cancel/").status_code == 404
    assert as_bob.get("/api/v1/jobs/").json()["count"] == 0
    assert Job.objects.get(pk=job.pk).status == "queued"


def test_staff_see_every_job(alice, make_user):
    job = make_job(alice)
    staff = client_for(make_user("root", staff=True))

    assert staff.get(f"/api/v1/jobs/{job.pk}/").status_code == 200
    assert staff.get("/api/v1/jobs/").json()["count"] == 1


def test_the_job_list_is_paginated_newest_first(api, alice):
    ids = [make_job(alice).pk for _ in range(3)]

    page = api.get("/api/v1/jobs/").json()

    assert set(page) == {"count", "next", "previous", "results"}
    assert [j["id"] for j in page["results"]] == ids[::-1]


def test_cancelling_a_queued_job_cancels_it_at_once(api, alice):
    job = make_job(alice)

    response = api.post(f"/api/v1/jobs/{job.pk}/cancel/")

    assert response.status_code == 202
    assert response.json()["status"] == "cancelled"
    assert leases.acquire(job.pk, "w1") is None
    assert [e.data["status"] for e in job.events.filter(type="status")] == ["queued", "cancelled"]


def test_cancelling_a_running_job_sets_the_flag_and_keeps_it_running(api, alice):
    job = make_job(alice)
    assert leases.acquire(job.pk, "w1")

    response = api.post(f"/api/v1/jobs/{job.pk}/cancel/")

    assert response.status_code == 202
    assert response.json()["status"] == "running" and response.json()["cancel_requested"] is True


def test_cancelling_a_finished_job_is_a_conflict(api, alice):
    job = make_job(alice)
    leases.acquire(job.pk, "w1")
    services.fail_job(job.pk, "loss became NaN at epoch 3")

    response = api.post(f"/api/v1/jobs/{job.pk}/cancel/")

    assert response.status_code == 409
    assert "already failed" in response.json()["detail"]


def test_events_are_paged_after_a_sequence_number(api, alice):
    job = make_job(alice)
    leases.acquire(job.pk, "w1")
    services.fail_job(job.pk, "boom")

    everything = api.get(f"/api/v1/jobs/{job.pk}/events/").json()
    later = api.get(f"/api/v1/jobs/{job.pk}/events/?after=1").json()
    first = api.get(f"/api/v1/jobs/{job.pk}/events/?limit=1").json()

    assert [e["seq"] for e in everything["results"]] == [1, 2, 3]
    assert [e["data"]["status"] for e in everything["results"]] == ["queued", "running", "failed"]
    assert everything["results"][2]["data"]["error"] == "boom"
    assert [e["seq"] for e in later["results"]] == [2, 3]
    assert [e["seq"] for e in first["results"]] == [1] and "after=1" in first["next"]
    assert api.get(f"/api/v1/jobs/{job.pk}/events/?after=x").status_code == 400


def test_artifact_downloads_refuse_paths_outside_the_job(api, alice):
    job = make_job(alice)
    workdir = services.job_workdir(job.pk)
    workdir.mkdir(parents=True)
    (workdir / "model.h5").write_bytes(b"h5")
    (workdir.parent / "secret.txt").write_text("no")
    Job.objects.filter(pk=job.pk).update(artifacts=[{"kind": "keras", "variant": "h5", "path": "model.h5", "files": ["model.h5", "../secret.txt"], "bytes": 2, "url": "x"}])

    assert api.get(f"/api/v1/jobs/{job.pk}/artifacts/model.h5").getvalue() == b"h5"
    assert api.get(f"/api/v1/jobs/{job.pk}/artifacts/../secret.txt").status_code == 404
    assert api.get(f"/api/v1/jobs/{job.pk}/artifacts/other.bin").status_code == 404


def test_the_openapi_schema_and_docs_are_served(api):
    schema = api.get("/api/schema/")
    docs = api.get("/api/docs/")

    assert schema.status_code == 200
    text = schema.content.decode()
    for path in ("/api/v1/jobs/", "/api/v1/jobs/{id}/cancel/", "/api/v1/jobs/{id}/events/", "/api/v1/recipes/"):
        assert path in text
    assert docs.status_code == 200


def test_the_openapi_schema_validates_without_warnings(tmp_path):
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))

    assert "/api/v1/jobs/{id}/predict/" in (tmp_path / "schema.yaml").read_text()
