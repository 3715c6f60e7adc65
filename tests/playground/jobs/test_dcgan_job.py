"""A dcgan job through services.run_job: metrics per epoch, the stored film, the export, /try/gan/."""
from __future__ import annotations

import json
import shutil

import pytest
from django.test import Client

from playground.jobs import services
from playground.jobs.models import Job, JobEvent
from playground.jobs.reporter import artifact_url
from tests.conftest import client_for
from trainer.spec import validate_spec

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")]

TINY = {"epochs": 2, "latent_dim": 8, "filters": 8, "batch_size": 64}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The first test trains a real job; later ones reuse a copy of its rows and files (the database
    and MEDIA_ROOT are fresh per test)."""
    return {"folder": tmp_path_factory.mktemp("trained") / "job", "job": None, "events": None}


@pytest.fixture
def gan_job(alice, trained) -> Job:
    if trained["job"] is None:
        job = services.create_job(alice, validate_spec({"recipe": "dcgan", "hyperparameters": TINY}))
        services.run_job(job.pk, "w1")
        job.refresh_from_db()
        assert job.status == "succeeded", job.error
        shutil.copytree(services.job_workdir(job.pk), trained["folder"])
        trained["job"] = {f: getattr(job, f) for f in ("metrics", "test_metrics", "artifacts", "best_epoch")}
        trained["events"] = [(e.seq, e.type, e.data) for e in job.events.order_by("seq")]
        return job
    job = Job.objects.create(owner=alice, recipe="dcgan", dataset="digits", hyperparameters=TINY,
                             status=Job.Status.SUCCEEDED, **trained["job"])
    job.artifacts = [{**a, "url": artifact_url(job.pk, a["path"])} for a in job.artifacts]  # a new pk
    job.save(update_fields=["artifacts"])
    JobEvent.objects.bulk_create(JobEvent(job=job, seq=seq, type=type, data=data)
                                 for seq, type, data in trained["events"])
    shutil.copytree(trained["folder"], services.job_workdir(job.pk))
    return job


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_dcgan_job_succeeds_with_gan_and_quality_figures_per_epoch(gan_job):
    gan_job.refresh_from_db()

    for name in ("d_loss", "g_loss", "d_real", "d_fake", "val_d_real", "confidence", "diversity", "distinct_classes"):
        assert len(gan_job.metrics[name]) == 2, name
    assert gan_job.best_epoch == 2
    assert gan_job.test_metrics["confidence"] == gan_job.metrics["confidence"][-1]
    assert gan_job.test_metrics["judge_accuracy"] > 0.8  # the judge learned digits before scoring
    assert {(a["kind"], a["variant"]) for a in gan_job.artifacts} == {
        ("keras", "h5"), ("tfjs", "float32"), ("tfjs", "float16"), ("tfjs", "uint8"), ("json", "latent_space")}
    assert all(a["url"].startswith(f"/api/v1/jobs/{gan_job.pk}/artifacts/") for a in gan_job.artifacts)


def test_the_sample_grids_are_stored_and_replayed_by_the_events_api(api, gan_job):
    response = api.get(f"/api/v1/jobs/{gan_job.pk}/events/")

    assert response.status_code == 200
    samples = [e["data"] for e in response.json()["results"] if e["type"] == "sample"]
    assert [s["epoch"] for s in samples] == [1, 2]
    assert all(s["image"].startswith("data:image/png;base64,") for s in samples)
    assert samples[0]["image"] != samples[1]["image"]


def test_the_latent_space_json_and_the_generator_are_served_to_their_owner_only(api, bob, gan_job):
    urls = {a["variant"]: a["url"] for a in gan_job.artifacts}

    meta = api.get(urls["latent_space"])
    model_json = api.get(urls["uint8"])

    assert meta.status_code == 200
    body = json.loads(b"".join(meta.streaming_content))
    assert body["latent_dim"] == 8 and body["image_shape"] == [8, 8, 1] and len(body["grid_latents"]) == 64
    assert model_json.status_code == 200
    assert client_for(bob).get(urls["latent_space"]).status_code == 404


def test_the_gan_page_gives_the_browser_the_generator_urls(alice, gan_job):
    response = logged_in(alice).get(f"/try/gan/{gan_job.pk}/")

    assert response.status_code == 200
    config = response.context["config"]
    assert response.context["reason"] == ""
    assert set(config["variants"]) == {"float32", "float16", "uint8"}
    assert config["metaUrl"].endswith("/artifacts/gan.json")
    assert config["quality"]["confidence"] == gan_job.test_metrics["confidence"]
    assert b'id="grid"' in response.content and b"js/try_gan.js" in response.content


def test_the_gan_page_hides_other_users_jobs_and_asks_anonymous_users_to_log_in(bob, gan_job):
    assert logged_in(bob).get(f"/try/gan/{gan_job.pk}/").status_code == 404
    anonymous = Client().get(f"/try/gan/{gan_job.pk}/")
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]


@pytest.mark.parametrize(("recipe", "status", "says"), [
    ("dcgan", "queued", "is queued; its generator is exported when it succeeds"),
    ("mlp", "succeeded", "needs a dcgan job"),
    ("dcgan", "succeeded", "has no TF.js generator"),
])
def test_the_gan_page_says_why_a_job_cannot_be_tried(alice, recipe, status, says):
    job = Job.objects.create(owner=alice, recipe=recipe, dataset="digits", hyperparameters={}, status=status)

    response = logged_in(alice).get(f"/try/gan/{job.pk}/")

    assert response.status_code == 200
    assert says in response.content.decode()
    assert b"js/try_gan.js" not in response.content


def test_the_play_page_offers_the_gan_knobs(alice):
    response = logged_in(alice).get("/play/dcgan/")

    assert response.status_code == 200
    for knob in ("latent_dim", "filters", "learning_rate", "d_learning_rate", "beta_1", "label_smoothing"):
        assert knob.encode() in response.content, knob
