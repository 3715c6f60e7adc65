"""POST /api/v1/jobs/<id>/predict/ against a real model trained through services.run_job."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from playground.jobs import services
from playground.jobs.models import Job
from tests.conftest import client_for
from tests.trainer.conftest import REPO
from trainer import datasets
from trainer.spec import validate_spec

pytestmark = pytest.mark.django_db(transaction=True)

TINY = {"epochs": 2, "hidden_layers": [16], "batch_size": 64}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The first test trains a real job; later ones reuse a copy of its files (the database and
    MEDIA_ROOT are fresh per test)."""
    return {"folder": tmp_path_factory.mktemp("trained") / "job", "artifacts": None}


@pytest.fixture
def succeeded_job(alice, trained) -> Job:
    if trained["artifacts"] is None:
        job = services.create_job(alice, validate_spec({"recipe": "mlp", "hyperparameters": TINY}))
        services.run_job(job.pk, "w1")
        job.refresh_from_db()
        assert job.status == "succeeded", job.error
        shutil.copytree(services.job_workdir(job.pk), trained["folder"])
        trained["artifacts"] = job.artifacts
        return job
    job = Job.objects.create(owner=alice, recipe="mlp", dataset="digits", hyperparameters=TINY,
                             status=Job.Status.SUCCEEDED, artifacts=trained["artifacts"])
    shutil.copytree(trained["folder"], services.job_workdir(job.pk))
    return job


def predict(api, job: Job, inputs):
    return api.post(f"/api/v1/jobs/{job.pk}/predict/", {"inputs": inputs}, format="json")


def digit_images(n: int) -> np.ndarray:
    return datasets.load("digits").x_test[:n]


def test_predict_returns_the_keras_models_probabilities_for_one_sample_and_a_batch(api, succeeded_job):
    import tf_keras as keras

    images = digit_images(3)
    model = keras.models.load_model(services.job_workdir(succeeded_job.pk) / "model.h5", compile=False)
    expected = model.predict(images, verbose=0)

    one = predict(api, succeeded_job, images[0].tolist())
    batch = predict(api, succeeded_job, images[:, :, :, 0].tolist())  # channel axis left out

    assert one.status_code == 200, one.content
    body = one.json()
    assert body["model"] == "keras h5" and body["input_shape"] == [8, 8, 1] and body["latency_ms"] >= 0
    [prediction] = body["predictions"]
    assert len(prediction["probabilities"]) == 10
    assert sum(prediction["probabilities"]) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(prediction["probabilities"], expected[0], atol=1e-5)
    assert prediction["class"] == int(np.argmax(expected[0]))
    assert batch.status_code == 200, batch.content
    np.testing.assert_allclose([p["probabilities"] for p in batch.json()["predictions"]], expected, atol=1e-5)
    assert [p["class"] for p in batch.json()["predictions"]] == list(np.argmax(expected, axis=1))


@pytest.mark.parametrize("inputs, says", [
    ([[0.5] * 3] * 3, "Got shape [3, 3]"),
    ([[0.5] * 8] * 7 + [[0.5] * 7], "rows of different lengths"),
    ([["a"] * 8] * 8, "'a', which is not a number"),
    ([[True] * 8] * 8, "True, which is not a number"),
    ([[2.0] * 8] * 8, "between 0 and 1; found 2 to 2"),
    ("nope", "'nope', which is not a number"),
])
def test_predict_rejects_inputs_of_the_wrong_shape_or_values_naming_the_expected_shape(api, succeeded_job, inputs, says):
    response = predict(api, succeeded_job, inputs)

    assert response.status_code == 400
    [message] = response.json()["inputs"]
    assert says in message
    assert "Expected one sample of shape [8, 8, 1] or a batch [n, 8, 8, 1]" in message


def test_predict_without_inputs_is_a_400_naming_the_field(api, succeeded_job):
    response = api.post(f"/api/v1/jobs/{succeeded_job.pk}/predict/", {}, format="json")

    assert response.status_code == 400 and "inputs" in response.json()


def test_another_users_job_answers_404(bob, succeeded_job):
    response = predict(client_for(bob), succeeded_job, digit_images(1)[0].tolist())

    assert response.status_code == 404


def test_a_queued_job_answers_409_saying_why(api, alice):
    job = services.create_job(alice, validate_spec({"recipe": "mlp", "hyperparameters": TINY}))

    response = predict(api, job, digit_images(1)[0].tolist())

    assert response.status_code == 409
    assert response.json()["detail"] == f"Job {job.pk} is queued; predictions need a succeeded job with a Keras model."


def test_predict_needs_authentication(client, succeeded_job):
    response = client.post(f"/api/v1/jobs/{succeeded_job.pk}/predict/", {"inputs": [[0.0]]}, content_type="application/json")

    assert response.status_code == 401


def test_the_web_process_does_not_import_tensorflow_before_the_first_predict():
    done = subprocess.run(
        [sys.executable, "-c", "import django, sys; django.setup(); import playground.urls, playground.asgi; "
         "from django.urls import reverse; reverse('job-predict', args=[1]); reverse('try-digits', args=[1]); "
         "assert 'tensorflow' not in sys.modules and 'tf_keras' not in sys.modules"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "playground.settings"},
    )

    assert done.returncode == 0, done.stderr
