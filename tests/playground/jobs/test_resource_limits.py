"""The worker and web sides of the resource limits: TF.js export guard, disk_bytes, the
byte-bounded model cache behind /predict and /translate."""
from __future__ import annotations

import pytest
from django.apps import apps

from playground.jobs import services
from playground.jobs.models import Job
from tests.conftest import client_for
from tests.playground.jobs.test_translate import TINY as TINY_SEQ2SEQ
from tests.playground.jobs.test_translate import data_dir  # noqa: F401  (fixture)
from trainer import inference
from trainer.spec import validate_spec

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")]


@pytest.fixture(autouse=True)
def empty_model_cache():
    inference.clear_cache()
    yield
    inference.clear_cache()


def test_a_job_above_the_tfjs_limit_succeeds_with_its_h5_only_and_says_why(alice, settings):
    settings.PLAYGROUND_MAX_TFJS_BYTES = 1_000  # an mlp of [16] has 1,210 parameters: 4,840 bytes
    job = services.create_job(alice, validate_spec({"recipe": "mlp", "hyperparameters": {"epochs": 1,
                                                                                          "hidden_layers": [16]}}))

    services.run_job(job.pk, "w1")

    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert [a["variant"] for a in job.artifacts] == ["h5"]
    logs = [e.data["message"] for e in job.events.filter(type="log")]
    assert any(m.startswith("TF.js export skipped for the model: its float32 weights are 4,840 bytes") for m in logs)
    assert job.disk_bytes == services.workdir_bytes(job.pk) > 0


def keras_job(owner, tmp_path) -> Job:
    import tf_keras as keras

    job = Job.objects.create(owner=owner, recipe="mlp", dataset="digits", status=Job.Status.SUCCEEDED,
                             artifacts=[{"kind": "keras", "variant": "h5", "path": "model.h5", "files": ["model.h5"]}])
    services.job_workdir(job.pk).mkdir(parents=True)
    model = keras.Sequential([keras.Input(shape=(8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])  # 650 weights: 2,600 bytes
    model.save(services.job_workdir(job.pk) / "model.h5")
    return job


def test_predict_on_a_model_over_the_cache_budget_is_a_413_and_loads_nothing(alice, tmp_path, monkeypatch):
    job = keras_job(alice, tmp_path)
    monkeypatch.setattr(inference, "CACHE_BYTES", 2_599)

    response = client_for(alice).post(f"/api/v1/jobs/{job.pk}/predict/", {"inputs": [[0.0] * 8] * 8}, format="json")

    assert response.status_code == 413
    assert response.json()["detail"].startswith("The model's weights are 2,600 bytes; the server loads models of at "
                                                "most 2,599 bytes.")
    assert inference.cached_bytes() == 0

    monkeypatch.setattr(inference, "CACHE_BYTES", 2_600)
    assert client_for(alice).post(f"/api/v1/jobs/{job.pk}/predict/", {"inputs": [[0.0] * 8] * 8},
                                  format="json").status_code == 200


def test_the_web_sets_the_cache_budget_from_settings(settings, monkeypatch):
    monkeypatch.setattr(inference, "CACHE_BYTES", inference.CACHE_BYTES)  # restored afterwards
    settings.PLAYGROUND_PREDICT_CACHE_BYTES = 12_345

    apps.get_app_config("jobs").ready()

    assert inference.CACHE_BYTES == 12_345


def test_a_seq2seq_job_above_the_tfjs_limit_exports_h5s_and_translate_refuses_too_big_models(
        alice, settings, data_dir, monkeypatch):  # noqa: F811
    settings.PLAYGROUND_MAX_TFJS_BYTES = 1_000
    job = services.create_job(alice, validate_spec({"recipe": "seq2seq", "hyperparameters": TINY_SEQ2SEQ}))

    services.run_job(job.pk, "w1")

    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert not [a for a in job.artifacts if a["kind"] == "tfjs"]
    assert {a.get("model") for a in job.artifacts if a["kind"] == "keras"} == {"encoder", "decoder"}
    logs = [e.data["message"] for e in job.events.filter(type="log")]
    assert sum(m.startswith("TF.js export skipped for encoder") or m.startswith("TF.js export skipped for decoder")
               for m in logs) == 2

    monkeypatch.setattr(inference, "CACHE_BYTES", 100)
    response = client_for(alice).post(f"/api/v1/jobs/{job.pk}/translate/", {"text": "Ein Hund."}, format="json")

    assert response.status_code == 413 and "the server loads models of at most 100 bytes" in response.json()["detail"]
