"""The server side of browser jobs (docs/browser-training.md), with the tab played by this test:
claim, model, data, events, checkpoints, finish, refusals, and continuing on a worker."""
from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from playground.jobs import services
from playground.jobs.models import Job
from tests.conftest import client_for
from tests.support.browser_tab import issued_weights
from trainer import browser as engine
from trainer.checkpoint import resume_point

pytestmark = pytest.mark.django_db
TINY = {"hidden_layers": [8], "epochs": 2, "batch_size": 64, "seed": 3}


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.PLAYGROUND_DATA_DIR = tmp_path / "data"


def submit(api, **body):
    return api.post("/api/v1/jobs/", {"recipe": "mlp", "engine": "browser", "hyperparameters": TINY, **body},
                    format="json")


def claim(api, job_id):
    return api.post(f"/api/v1/jobs/{job_id}/browser/claim/")


def send(api, job_id, lease, *events, **extra):
    return api.post(f"/api/v1/jobs/{job_id}/browser/events/", {"events": list(events)}, format="json",
                    HTTP_X_BROWSER_LEASE=lease, **extra)


def epoch_event(epoch, loss=1.0, epochs=2):
    return {"type": "epoch", "data": {"epoch": epoch, "epochs": epochs, "best_epoch": epoch, "duration_s": 0.5,
                                      "samples_per_s": 2000.0,
                                      "logs": {"loss": loss, "accuracy": 0.5, "val_loss": loss, "val_accuracy": 0.5}}}


def initial_weights(api, claimed) -> bytes:
    return issued_weights(claimed["model_url"], lambda url: b"".join(api.get(url).streaming_content))


@pytest.fixture
def claimed(alice, api):
    job = submit(api).json()
    response = claim(api, job["id"])
    assert response.status_code == 200, response.json()
    return {"id": job["id"], **response.json()}


def test_a_browser_job_is_queued_without_a_task_message_and_shows_its_engine(
        api, monkeypatch, django_capture_on_commit_callbacks):
    sent = []
    monkeypatch.setattr(services, "enqueue", lambda *args, **kwargs: sent.append(args))

    with django_capture_on_commit_callbacks(execute=True):
        job = submit(api).json()

    assert job["engine"] == "browser" and job["status"] == "queued" and job["queue"] == "browser"
    assert job["waiting_for"] is None and job["browser_stopped"] is None
    assert sent == []
    with django_capture_on_commit_callbacks(execute=True):
        assert submit(api, engine="server").json()["engine"] == "server"
    assert len(sent) == 1


@pytest.mark.parametrize("body, message", [
    ({"recipe": "dcgan", "hyperparameters": {"epochs": 1}}, "dcgan trains only on a server"),
    ({"strategy": "mirrored"}, "strategy must be default"),
    ({"precision": "mixed_float16"}, "A browser trains in float32"),
    ({"engine": "gpu"}, '"gpu" is not a valid choice'),
])
def test_what_a_browser_cannot_train_is_a_400_at_engine(api, body, message):
    response = submit(api, **body)

    assert response.status_code == 400
    assert message in " ".join(response.json()["engine"])
    assert not Job.objects.exists()


def test_the_tab_trains_and_the_server_tests_and_exports_its_weights(api, claimed):
    job_id, lease = claimed["id"], claimed["lease"]
    assert Job.objects.get(pk=job_id).worker == "browser of alice"
    assert claimed["training"]["epochs"] == 2 and claimed["num_classes"] == 10
    # The data: the same split a worker trains on.
    train = b"".join(api.get(claimed["data"]["train"]).streaming_content)
    x, y = engine.decode_bundle(train)
    assert x.shape[1:] == (8, 8, 1) and x.dtype == np.float32 and y.dtype == np.int32
    assert len(x) == claimed["samples"]["train"] == 1293
    etag = api.get(claimed["data"]["test"])["ETag"]
    assert api.get(claimed["data"]["test"], HTTP_IF_NONE_MATCH=etag).status_code == 304

    batch = {"type": "batch", "data": {"epoch": 1, "epochs": 2, "step": 5, "steps": 21, "samples_per_s": 900.0,
                                       "logs": {"loss": 2.1, "accuracy": 0.2}}}
    assert send(api, job_id, lease, batch, epoch_event(1, 1.5)).json() == {"cancel": False, "last_epoch": 1}
    weights = initial_weights(api, claimed)
    assert api.put(f"/api/v1/jobs/{job_id}/browser/checkpoint/?epoch=1", weights,
                   content_type="application/octet-stream", HTTP_X_BROWSER_LEASE=lease).status_code == 204
    assert resume_point(services.job_workdir(job_id)).completed_epochs == 1
    send(api, job_id, lease, epoch_event(2, 1.2))

    done = api.put(f"/api/v1/jobs/{job_id}/browser/finish/", weights, content_type="application/octet-stream",
                   HTTP_X_BROWSER_LEASE=lease)

    assert done.status_code == 202, done.json()
    job = Job.objects.get(pk=job_id)
    assert job.status == "succeeded" and job.metrics["loss"] == [1.5, 1.2]
    assert 0 <= job.test_metrics["accuracy"] <= 1 and len(job.analysis["confusion_matrix"]) == 10
    assert {a["variant"] for a in job.artifacts if a["kind"] == "tfjs"} == {"float32", "float16", "uint8"}
    assert job.run_info["devices"] == ["browser"]
    assert list(job.events.filter(type="epoch").values_list("data__epoch", flat=True)) == [1, 2]
    # Finished: nothing more is taken.
    assert send(api, job_id, lease, {"type": "log", "data": {"message": "late"}}).status_code == 409


@pytest.mark.parametrize("event, status, field", [
    ({"type": "epoch", "data": {**epoch_event(1)["data"], "logs": {"loss": "NaN"}}}, 400, "finite"),
    ({"type": "epoch", "data": {**epoch_event(1)["data"], "samples_per_s": "1e400"}}, 400, "finite"),
    ({"type": "batch", "data": {"epoch": 1}}, 400, "missing"),
    ({"type": "nonsense", "data": {}}, 400, "Expected"),
    ({"type": "epoch", "data": {**epoch_event(1)["data"], "logs": [1.0]}}, 400, "logs must map"),
    ({"type": "sample", "data": {"epoch": 1, "probe": []}}, 400, "has 0 epoch"),
    ({"type": "sample", "data": {"epoch": 0, "probe": "x"}}, 400, "probe must be a list"),
    ({"type": "epoch", "data": {**epoch_event(1)["data"], "extra": 1}}, 400, "unknown field"),
    ({"type": "epoch", "data": {**epoch_event(1)["data"], "logs": {f"m{i}": 1.0 for i in range(17)}}}, 400, "at most 16"),
    (epoch_event(2), 409, "out of order"),
    ({"type": "epoch", "data": {**epoch_event(1)["data"], "epochs": 9}}, 400, "trains 2 epochs"),
])
def test_bad_events_are_refused_and_nothing_of_the_request_is_stored(api, claimed, event, status, field):
    before = Job.objects.get(pk=claimed["id"]).last_seq
    # Sent as text, as a browser would: "1e400" unquoted is a number JSON parses as infinity.
    body = json.dumps({"events": [{"type": "log", "data": {"message": "ok"}}, event]}).replace('"1e400"', "1e400")

    response = api.post(f"/api/v1/jobs/{claimed['id']}/browser/events/", body, content_type="application/json",
                        HTTP_X_BROWSER_LEASE=claimed["lease"])

    assert response.status_code == status
    assert field in json.dumps(response.json())
    assert Job.objects.get(pk=claimed["id"]).last_seq == before


def test_only_the_claiming_tab_of_the_owner_may_send(api, bob, claimed):
    job_id = claimed["id"]

    assert send(api, job_id, "forged", epoch_event(1)).status_code == 403
    assert send(api, job_id, "", epoch_event(1)).status_code == 403
    assert send(client_for(bob), job_id, claimed["lease"], epoch_event(1)).status_code == 404
    assert client_for(bob).get(claimed["data"]["train"]).status_code == 404
    assert claim(api, job_id).status_code == 409  # a second tab
    assert Job.objects.get(pk=job_id).completed_epochs == 0


def test_weights_that_do_not_match_the_issued_topology_are_a_400(api, claimed):
    job_id, lease = claimed["id"], claimed["lease"]
    send(api, job_id, lease, epoch_event(1))
    good = engine.decode_bundle(initial_weights(api, claimed))
    names = [spec["name"] for spec in json.loads(initial_weights(api, claimed)[4:4 + int.from_bytes(
        initial_weights(api, claimed)[:4], "little")])]
    bad_shape = engine.encode_bundle([(n, t if i else t[:-1]) for i, (n, t) in enumerate(zip(names, good))])
    renamed = engine.encode_bundle([(f"x{i}", t) for i, t in enumerate(good)])
    nan = engine.encode_bundle([(n, np.full_like(t, np.nan) if i == 0 else t) for i, (n, t) in enumerate(zip(names, good))])

    for body, words in ((bad_shape, "is not the model's"), (renamed, "is not the model's"), (nan, "NaN"),
                        (b"\x00\x01", "too short"), (initial_weights(api, claimed) + b"!", "follow the last")):
        response = api.put(f"/api/v1/jobs/{job_id}/browser/finish/", body, content_type="application/octet-stream",
                           HTTP_X_BROWSER_LEASE=lease)
        assert response.status_code == 400 and words in response.json()["weights"][0], response.json()
    assert Job.objects.get(pk=job_id).status == "running"


def test_a_cancel_elsewhere_reaches_the_tab_which_stops_the_job(api, claimed):
    job_id, lease = claimed["id"], claimed["lease"]
    assert api.post(f"/api/v1/jobs/{job_id}/cancel/").status_code == 202

    assert send(api, job_id, lease, epoch_event(1)).json()["cancel"] is True
    assert api.post(f"/api/v1/jobs/{job_id}/browser/stopped/", HTTP_X_BROWSER_LEASE=lease).status_code == 202
    assert Job.objects.get(pk=job_id).status == "cancelled"
    assert send(api, job_id, lease, epoch_event(2)).status_code == 409


def test_a_tab_gone_quiet_can_be_continued_on_a_worker(api, claimed, settings, monkeypatch):
    job_id, lease = claimed["id"], claimed["lease"]
    sent = []
    monkeypatch.setattr(services, "enqueue", lambda *args, **kwargs: sent.append(args))
    send(api, job_id, lease, epoch_event(1))
    assert api.post(f"/api/v1/jobs/{job_id}/continue/").status_code == 409  # the tab is alive
    Job.objects.filter(pk=job_id).update(
        heartbeat_at=timezone.now() - timedelta(seconds=settings.PLAYGROUND_BROWSER_TIMEOUT_S + 1))
    assert api.get(f"/api/v1/jobs/{job_id}/").json()["browser_stopped"]["epoch"] == 1

    response = api.post(f"/api/v1/jobs/{job_id}/continue/")

    assert response.status_code == 202
    assert response.json()["engine"] == "server" and response.json()["queue"] == "training"
    assert sent == [(job_id, "training")]
    assert send(api, job_id, lease, epoch_event(2)).status_code == 409  # no longer a browser job


def test_the_watchdog_leaves_a_quiet_browser_job_to_its_owner(api, claimed, monkeypatch):
    from playground.jobs import leases

    Job.objects.filter(pk=claimed["id"]).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    monkeypatch.setattr(services, "enqueue", lambda *args, **kwargs: pytest.fail("a browser job was requeued"))

    assert claimed["id"] not in leases.requeue_stale_jobs()["requeued"]
    assert Job.objects.get(pk=claimed["id"]).engine == "browser"


def test_a_wildcard_body_limit_covers_the_weight_uploads(settings):
    from playground.body_limit import limit_for

    assert limit_for("/api/v1/jobs/12/browser/finish/") == settings.PLAYGROUND_BODY_LIMITS[
        "/api/v1/jobs/*/browser/finish/"] > settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert limit_for("/api/v1/jobs/12/browser/events/") == 256 * 1024  # a probe sample of the largest 2-D network
    assert limit_for("/api/v1/jobs/12/predict/") == settings.DATA_UPLOAD_MAX_MEMORY_SIZE
