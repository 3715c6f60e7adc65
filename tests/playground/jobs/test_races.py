"""POST /api/v1/races/: one recipe, several optimizers, one seed, one group of jobs."""
from __future__ import annotations

import pytest

from playground.jobs import services
from playground.jobs.models import Job, JobGroup
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


def test_an_engine_race_queues_the_same_job_for_a_worker_and_for_a_browser(alice, monkeypatch,
                                                                            django_capture_on_commit_callbacks):
    sent = []
    monkeypatch.setattr(services, "enqueue", lambda job_id, *args, **kwargs: sent.append(job_id))

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(alice).post("/api/v1/races/", {
            "recipe": "mlp", "engines": ["browser", "server"], "hyperparameters": {"epochs": 2, "seed": 5}}, format="json")

    assert response.status_code == 201, response.json()
    race = response.json()
    assert race["kind"] == "engines"
    jobs = list(Job.objects.filter(group_id=race["id"]).order_by("id"))
    assert [job.engine for job in jobs] == ["browser", "server"]
    assert jobs[0].hyperparameters == jobs[1].hyperparameters and jobs[0].hyperparameters["seed"] == 5
    assert sent == [jobs[1].pk], "only the worker's job gets a task message"


@pytest.mark.parametrize("body, message", [
    ({"engines": ["browser"]}, "Give both engines once each"),
    ({"engines": ["browser", "browser"]}, "Give both engines once each"),
    ({"engines": ["browser", "gpu"]}, "Give both engines once each"),
    ({"engines": ["browser", "server"], "optimizers": ["sgd", "adam"]}, "not both"),
    ({"engines": ["browser", "server"], "precision": "mixed_float16"}, "A browser trains in float32"),
    ({"recipe": "dcgan", "engines": ["browser", "server"]}, "dcgan trains only on a server"),
])
def test_an_engine_race_the_browser_cannot_run_is_a_400_at_engines(alice, body, message):
    response = client_for(alice).post("/api/v1/races/", {"recipe": "mlp", **body}, format="json")

    assert response.status_code == 400
    assert message in " ".join(response.json()["engines"])
    assert Job.objects.count() == 0


def test_the_play_forms_race_button_starts_an_engine_race_and_opens_its_page(alice, monkeypatch):
    monkeypatch.setattr(services, "enqueue", lambda *args, **kwargs: None)
    client = client_for(alice)
    client.force_login(alice)

    response = client.post("/play/mlp/", {"dataset": "digits", "epochs": "2", "engine": "race"})

    assert response.status_code == 302, response.content
    jobs = list(Job.objects.order_by("id"))
    assert [job.engine for job in jobs] == ["server", "browser"]
    assert response["Location"] == f"/races/{jobs[0].group_id}/"
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert b"Browser against server" in page.content and b'id="race-engines"' not in page.content
    config = page.context["config"]
    assert config["kind"] == "engines" and [job["engine"] for job in config["jobs"]] == ["server", "browser"]
    assert all(job["points"] == [] and job["after"] == 0 for job in config["jobs"]), "no epoch yet: replay all"


def test_the_engine_race_page_draws_stored_epochs_against_seconds_since_the_race_began(alice, monkeypatch):
    from playground.jobs import events

    monkeypatch.setattr(services, "enqueue", lambda *args, **kwargs: None)
    race = client_for(alice).post("/api/v1/races/", {"recipe": "mlp", "engines": ["server", "browser"]},
                                  format="json").json()
    server_job = race["jobs"][0]["id"]
    for epoch, loss in ((1, 0.9), (2, 0.5)):
        events.publish(server_job, "epoch", {"epoch": epoch, "epochs": 2, "samples_per_s": 900.0,
                                             "logs": {"loss": loss, "val_loss": loss}})
    client = client_for(alice)
    client.force_login(alice)

    config = client.get(race["page"]).context["config"]

    points = config["jobs"][0]["points"]
    assert [(p["epoch"], p["y"], p["samples_per_s"]) for p in points] == [(1, 0.9, 900.0), (2, 0.5, 900.0)]
    assert 0 <= points[0]["x"] <= points[1]["x"] < 60
    assert config["jobs"][0]["after"] == 3 and config["jobs"][1]["points"] == []
    assert config["server_now_ms"] >= config["started_ms"]


def test_a_sweep_creates_one_job_per_value_in_a_sweep_group_that_names_what_varies(alice):
    response = client_for(alice).post("/api/v1/races/", {
        "recipe": "mlp", "hyperparameters": {"epochs": 2, "seed": 3},
        "vary": "learning_rate", "values": [0.001, 0.01, 0.1]}, format="json")

    assert response.status_code == 201, response.json()
    race = response.json()
    assert (race["kind"], race["vary"], race["values"]) == ("sweep", "learning_rate", [0.001, 0.01, 0.1])
    group = JobGroup.objects.get(pk=race["id"])
    assert (group.kind, group.vary) == (JobGroup.KIND_SWEEP, "learning_rate")
    jobs = list(group.jobs.order_by("id"))
    assert [job.hyperparameters["learning_rate"] for job in jobs] == [0.001, 0.01, 0.1]
    assert {(job.hyperparameters["epochs"], job.hyperparameters["seed"], job.hyperparameters["optimizer"])
            for job in jobs} == {(2, 3, "adam")}, "everything else shared"


def test_a_sweep_varies_any_hyperparameter_of_the_recipe_lists_and_choices_too(alice):
    layers = client_for(alice).post("/api/v1/races/", {
        "recipe": "mlp", "vary": "hidden_layers", "values": [[8], [16, 8]]}, format="json")
    optimizers = client_for(alice).post("/api/v1/races/", {
        "recipe": "mlp", "vary": "optimizer", "values": ["sgd", "adam"]}, format="json")

    assert layers.status_code == optimizers.status_code == 201
    assert [job["hyperparameters"]["hidden_layers"] for job in layers.json()["jobs"]] == [[8], [16, 8]]
    assert optimizers.json()["kind"] == "sweep" and optimizers.json()["vary"] == "optimizer"


def test_getting_a_sweep_includes_what_varies_and_other_races_say_null(alice):
    client = client_for(alice)
    sweep = client.post("/api/v1/races/", {"recipe": "mlp", "vary": "batch_size", "values": [16, 64]},
                        format="json").json()
    race = client.post("/api/v1/races/", {"recipe": "mlp", "optimizers": ["sgd", "adam"]}, format="json").json()

    got = client.get(f"/api/v1/races/{sweep['id']}/").json()
    assert (got["kind"], got["vary"], got["values"]) == ("sweep", "batch_size", [16, 64])
    assert [job["id"] for job in got["jobs"]] == [job["id"] for job in sweep["jobs"]]
    assert {k: client.get(f"/api/v1/races/{race['id']}/").json()[k] for k in ("kind", "vary", "values")} == {
        "kind": "race", "vary": None, "values": None}


@pytest.mark.parametrize("body, errors", [
    ({"vary": "learning_rate", "values": [0.01, 0.1, 20]}, {"values": {"2": ["Must be between 1e-06 and 10.0."]}}),
    ({"vary": "learning_rate", "values": ["fast", 0.1]}, {"values": {"0": ["Expected a number, got 'fast'."]}}),
    ({"vary": "optimizer", "values": ["sgd", "lbfgs"]},
     {"values": {"1": ["Must be one of: sgd, momentum, adagrad, rmsprop, adam."]}}),
    ({"vary": "learning_rate", "values": [0.01]}, {"values": ["Give 2 to 8 values."]}),
    ({"vary": "learning_rate", "values": [0.001 * n for n in range(1, 10)]}, {"values": ["Give 2 to 8 values."]}),
    ({"vary": "learning_rate", "values": 0.01}, {"values": ['Expected a list of items but got type "float".']}),
    ({"vary": "batch_size", "values": [32, 64, 32]},
     {"values": ["Give 2 to 8 distinct values: value 3 (32) repeats value 1."]}),
    ({"vary": "dropout_rate", "values": [0.1, 0.2]}, "vary"),
    ({"vary": "learning_rate"}, {"values": ["This field is required with vary."]}),
    ({"values": [0.1, 0.2]}, {"vary": ["This field is required with values."]}),
    ({"vary": "learning_rate", "values": [0.1, 0.2], "optimizers": ["sgd", "adam"]},
     {"vary": ["Vary one hyperparameter, or race optimizers or engines; not both."]}),
    ({"vary": "learning_rate", "values": [0.1, 0.2], "engines": ["browser", "server"]},
     {"vary": ["Vary one hyperparameter, or race optimizers or engines; not both."]}),
    ({"vary": "learning_rate", "values": [0.1, 0.2], "hyperparameters": {"epochs": 0}},
     {"hyperparameters": {"epochs": ["Must be between 1 and 500."]}}),
    ({"vary": "learning_rate", "values": [0.1, 0.2], "recipe": "nope"}, "recipe"),
])
def test_an_invalid_sweep_is_a_400_naming_the_field_and_creates_nothing(alice, body, errors):
    response = client_for(alice).post("/api/v1/races/", {"recipe": "mlp", **body}, format="json")

    assert response.status_code == 400
    if isinstance(errors, str):
        assert list(response.json()) == [errors], response.json()
    else:
        assert response.json() == errors
    assert Job.objects.count() == 0 and JobGroup.objects.count() == 0


def test_an_unknown_hyperparameter_to_vary_is_named_with_the_ones_the_recipe_has(alice):
    response = client_for(alice).post("/api/v1/races/", {"recipe": "mlp", "vary": "momentum", "values": [0.1, 0.9]},
                                      format="json")

    assert response.status_code == 400
    message = response.json()["vary"][0]
    assert message.startswith("mlp has no hyperparameter 'momentum'. Vary one of: ")
    assert "learning_rate" in message and "hidden_layers" in message
