"""The digits page while its job trains: the worker's latest snapshot, labelled with its epoch."""
from __future__ import annotations

import json

import pytest
from django.test import Client

from playground.jobs import services
from playground.jobs.models import Job
from tests.conftest import client_for
from trainer import snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def training(alice):
    import tf_keras as keras

    job = Job.objects.create(owner=alice, recipe="mlp", dataset="digits", status=Job.Status.RUNNING,
                             hyperparameters={"epochs": 9}, last_seq=12)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    snapshot.write(services.job_workdir(job.pk), model, 3, 9)
    return job


def page_config(user, job) -> dict:
    client = Client()
    client.force_login(user)
    response = client.get(f"/try/digits/{job.pk}/")
    assert response.status_code == 200
    text = response.content.decode()
    start = text.index('<script id="try-config" type="application/json">') + len('<script id="try-config" type="application/json">')
    return json.loads(text[start:text.index("</script>", start)])


def test_a_training_job_is_tried_from_its_latest_snapshot(alice, training):
    config = page_config(alice, training)

    assert config["training"] == {"epoch": 3, "epochs": 9, "lastSeq": 12}
    url = config["variants"]["float32"]["url"]
    assert url == f"/api/v1/jobs/{training.pk}/snapshot/snapshot/3/model.json"
    api = client_for(alice)
    assert b'"weightsManifest"' in b"".join(api.get(url).streaming_content)
    assert api.get(f"/api/v1/jobs/{training.pk}/").json()["snapshot"]["epoch"] == 3


def test_snapshot_files_are_the_owners_and_only_the_snapshots(alice, bob, training):
    url = f"/api/v1/jobs/{training.pk}/snapshot/snapshot/3/model.json"

    assert client_for(bob).get(url).status_code == 404
    assert client_for(alice).get(f"/api/v1/jobs/{training.pk}/snapshot/snapshot/latest.json").status_code == 404
    assert client_for(alice).get(f"/api/v1/jobs/{training.pk}/snapshot/../../etc/passwd").status_code == 404


def test_a_training_job_without_a_snapshot_yet_says_so(alice):
    job = Job.objects.create(owner=alice, recipe="mlp", dataset="digits", status=Job.Status.RUNNING)
    client = Client()
    client.force_login(alice)

    text = client.get(f"/try/digits/{job.pk}/").content.decode()

    assert "works from its first snapshot" in text and "try-config" not in text
