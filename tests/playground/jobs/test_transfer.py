"""Transfer learning through the worker's service: a new head on the user's own earlier job (on
an uploaded images dataset) or on a pre-trained ImageNet CNN (locally made weights), with the
base's weights untouched; a base that is not the user's succeeded job is refused at submission."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from playground.datasets import ingest
from playground.datasets.services import create_dataset
from playground.jobs import services
from playground.jobs.models import Job
from tests.conftest import client_for
from tests.playground.datasets.factories import two_class_zip
from tests.support.pretrained import MODEL, write_manifest
from trainer import pretrained
from trainer.spec import validate_spec

pytestmark = pytest.mark.django_db(transaction=True)


def trained(owner, recipe="lenet", **hp) -> Job:
    job = services.create_job(owner, validate_spec({"recipe": recipe, "hyperparameters": {"epochs": 2, **hp}}))
    services.run_job(job.pk, "w1")
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    return job


def keras_weights(job: Job) -> dict[str, list[np.ndarray]]:
    import tf_keras as keras

    model = keras.models.load_model(services.job_workdir(job.pk) / job.artifact("keras").path, compile=False)
    return {layer.name: layer.get_weights() for layer in model.layers if layer.weights}


def test_a_head_on_your_own_earlier_job_learns_your_photos_and_leaves_the_job_as_it_was(alice):
    parent = trained(alice)  # lenet on 8x8 digits
    photos = create_dataset(alice, "pets", "pets.zip", two_class_zip(per_class=10), options=ingest.Options(size=12))

    response = client_for(alice).post("/api/v1/jobs/", {
        "recipe": "transfer", "dataset": f"user:{photos.pk}",
        "hyperparameters": {"base": f"job:{parent.pk}", "epochs": 15, "batch_size": 4, "learning_rate": 0.01}},
        format="json")
    assert response.status_code == 201, response.content
    services.run_job(response.json()["id"], "w1")

    job = Job.objects.get(pk=response.json()["id"])
    assert job.status == "succeeded", job.error
    # Dark cats, bright dogs (12x12 greyscale, resized to the base's 8x8): well above chance.
    assert job.test_metrics["accuracy"] >= 0.75 and 0 <= job.test_metrics["untrained_base_accuracy"] <= 1
    logs = list(job.events.filter(type="log").values_list("data__message", flat=True))
    assert any(m.startswith(f"Base: job {parent.pk}'s network") and "frozen, all of them" in m for m in logs)
    base, child = keras_weights(parent), keras_weights(job)
    shared = [name for name in base if name in child and name != list(base)[-1]]
    assert shared and all(np.array_equal(a, b) for name in shared for a, b in zip(base[name], child[name]))
    assert child["head"][0].shape == (500, 2)


def test_trainable_layers_trains_the_last_layers_of_the_base_and_no_other(alice):
    parent = trained(alice)
    job = services.create_job(alice, validate_spec({"recipe": "transfer", "dataset": "digits_5_9", "hyperparameters": {
        "base": f"job:{parent.pk}", "epochs": 2, "trainable_layers": 1}}))
    services.run_job(job.pk, "w1")
    job.refresh_from_db()

    assert job.status == "succeeded", job.error
    base, child = keras_weights(parent), keras_weights(job)
    convs = [name for name in base if name.startswith("conv")]
    dense = [name for name in base if name.startswith("dense")][0]  # the body's last layer with weights
    assert convs and all(np.array_equal(base[n][0], child[n][0]) for n in convs)
    assert not np.array_equal(base[dense][0], child[dense][0])


@pytest.mark.parametrize("base, says", [
    ("bob", "You have no job {pk}; name one of yours"),
    ("queued", "Job {pk} is queued and has no exported Keras model to build on"),
])
def test_a_base_job_that_is_not_your_succeeded_job_is_refused(alice, bob, base, says):
    other = services.create_job(bob if base == "bob" else alice, validate_spec({"recipe": "lenet"}))

    response = client_for(alice).post("/api/v1/jobs/", {
        "recipe": "transfer", "hyperparameters": {"base": f"job:{other.pk}"}}, format="json")

    assert response.status_code == 400
    assert response.json()["hyperparameters"]["base"] == [says.format(pk=other.pk) + (
        " (GET /api/v1/jobs/)." if base == "bob" else "; name a succeeded job.")]
    assert Job.objects.filter(recipe="transfer").count() == 0


def test_a_base_that_is_neither_a_cnn_nor_a_job_names_both(alice):
    response = client_for(alice).post("/api/v1/jobs/", {
        "recipe": "transfer", "hyperparameters": {"base": "job:007"}}, format="json")

    assert response.status_code == 400
    assert response.json()["hyperparameters"]["base"] == [
        "Must be one of: mobilenet_v2, densenet121, or job:<id> (one of your succeeded jobs)."]


def test_an_imagenet_base_stays_frozen_and_only_the_head_trains(alice, settings, tmp_path, pretrained_mirror):
    settings.PLAYGROUND_DATA_DIR = tmp_path / "data"
    folder = pretrained.cache_dir(settings.PLAYGROUND_DATA_DIR)
    shutil.copytree(pretrained_mirror[0], folder)
    write_manifest(settings.PLAYGROUND_DATA_DIR, "http://127.0.0.1:9", pretrained_mirror[1])
    job = services.create_job(alice, validate_spec({"recipe": "transfer", "hyperparameters": {
        "base": MODEL, "epochs": 2, "input_size": 32}}))
    services.run_job(job.pk, "w1")
    job.refresh_from_db()

    assert job.status == "succeeded", job.error
    child = keras_weights(job)
    source = pretrained.load(MODEL, settings.PLAYGROUND_DATA_DIR)
    for name in ("Conv1", "block_16_project", "Conv_1_bn"):
        assert all(np.array_equal(a, b) for a, b in zip(source.get_layer(name).get_weights(), child[name]))
    assert child["head"][0].shape == (1280, 10)
    assert {("tfjs", "float32"), ("tfjs", "uint8")} <= {(a["kind"], a["variant"]) for a in job.artifacts}


def test_the_play_form_offers_your_succeeded_jobs_as_bases_and_refuses_another_users(alice, bob):
    from django.test import Client

    mine, theirs = trained(alice), trained(bob)
    page = Client()
    page.force_login(alice)

    form = page.get("/play/transfer/").content.decode()
    assert f'<option value="job:{mine.pk}">job {mine.pk}: lenet on digits (accuracy' in form
    assert f'value="job:{theirs.pk}"' not in form

    response = page.post("/play/transfer/", {"base": f"job:{theirs.pk}", "dataset": "digits"})
    assert response.status_code == 400
    assert f"You have no job {theirs.pk}; name one of yours" in response.content.decode()


def test_a_browser_trains_a_head_on_a_frozen_base_only(alice):
    api = client_for(alice)
    catalog = {r["name"]: r["engines"] for r in api.get("/api/v1/recipes/").json()}
    assert catalog["transfer"] == ["server", "browser"] and catalog["imagenet"] == ["server"]

    refused = api.post("/api/v1/jobs/", {"recipe": "transfer", "engine": "browser",
                                         "hyperparameters": {"trainable_layers": 2}}, format="json")
    assert refused.status_code == 400
    assert "trainable_layers must be 0, not 2" in str(refused.json()["engine"])
    assert api.post("/api/v1/jobs/", {"recipe": "transfer", "engine": "browser"}, format="json").status_code == 201
