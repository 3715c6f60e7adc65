"""Routing by GPU count: the spec field, the queue a job goes to, what the API and form say."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from celery import Celery
from kombu import Connection

from playground.jobs import leases, services
from playground.ops import registry
from playground.ops.models import WorkerNode
from trainer.spec import SpecError, validate_spec

TWO_GPUS = [{"name": "/device:GPU:0", "type": "GPU"}, {"name": "/device:GPU:1", "type": "GPU"},
            {"name": "/device:CPU:0", "type": "CPU"}]


@pytest.mark.parametrize("gpus", [0, 1, 8])
def test_the_spec_accepts_zero_to_eight_gpus(gpus):
    spec = validate_spec({"recipe": "mlp", "gpus": gpus})

    assert spec.gpus == gpus
    assert validate_spec(spec.to_dict()) == spec


def test_the_spec_asks_for_no_gpu_by_default():
    assert validate_spec({"recipe": "mlp"}).gpus == 0


@pytest.mark.parametrize("gpus", [-1, 9, "1", 1.5, True, None])
def test_the_spec_rejects_a_gpu_count_that_is_not_a_whole_number_from_0_to_8(gpus):
    with pytest.raises(SpecError) as error:
        validate_spec({"recipe": "mlp", "gpus": gpus})

    assert error.value.errors["gpus"] == [f"Expected a whole number of GPUs from 0 to 8, got {gpus!r}."]


def test_the_spec_rejects_mirroring_over_more_devices_than_the_gpus_asked_for():
    with pytest.raises(SpecError) as error:
        validate_spec({"recipe": "mlp", "gpus": 2, "strategy": "mirrored:4"})

    assert "ask for gpus: 4 or mirrored:2" in error.value.errors["strategy"][0]
    assert validate_spec({"recipe": "mlp", "gpus": 2, "strategy": "mirrored:2"}).strategy == "mirrored:2"


@pytest.mark.parametrize("gpus, queue", [(0, "training"), (1, "gpu-1"), (8, "gpu-8")])
def test_a_job_asking_for_n_gpus_goes_to_queue_gpu_n(gpus, queue):
    assert registry.queue_for(gpus) == queue


def test_a_worker_with_k_gpus_consumes_its_own_queues_plus_gpu_1_to_k(settings):
    settings.PLAYGROUND_WORKER_QUEUES = []

    assert registry.queues_for_worker(0, ["training"]) == ["training"]
    assert registry.queues_for_worker(3, ["training", "extra"]) == ["training", "extra", "gpu-1", "gpu-2", "gpu-3"]


def test_playground_worker_queues_replaces_the_queues_a_worker_would_choose(settings):
    settings.PLAYGROUND_WORKER_QUEUES = ["gpu-1"]

    assert registry.queues_for_worker(4, ["training"]) == ["gpu-1"]


def fresh_app_consuming(*queues: str) -> Celery:
    """A Celery app whose worker was started with -Q <queues>, as celeryd_after_setup sees it."""
    app = Celery("routing-test", set_as_current=False)
    app.amqp.queues.select(list(queues))
    return app


def test_a_worker_with_two_gpus_adds_gpu_1_and_gpu_2_to_its_q_queues(settings):
    settings.PLAYGROUND_WORKER_QUEUES = []
    app = fresh_app_consuming("training")

    chosen = registry.select_worker_queues(app, TWO_GPUS)

    assert chosen == ["training", "gpu-1", "gpu-2"]
    assert list(app.amqp.queues.consume_from) == ["training", "gpu-1", "gpu-2"]


def test_with_playground_worker_queues_a_worker_consumes_exactly_those(settings):
    settings.PLAYGROUND_WORKER_QUEUES = ["gpu-1", "gpu-2"]
    app = fresh_app_consuming("training")

    registry.select_worker_queues(app, [])

    assert sorted(app.amqp.queues.consume_from) == ["gpu-1", "gpu-2"]


def messages_in(queue: str) -> int:
    from django.conf import settings

    with Connection(settings.CELERY_BROKER_URL) as connection:
        return connection.default_channel.queue_declare(queue).message_count


@pytest.mark.django_db
def test_create_job_enqueues_a_gpu_job_on_its_gpu_queue(alice, django_capture_on_commit_callbacks):
    before = messages_in("gpu-2"), messages_in("training")

    with django_capture_on_commit_callbacks(execute=True):
        job = services.create_job(alice, validate_spec({"recipe": "mlp", "gpus": 2}))

    assert (job.gpus, job.queue) == (2, "gpu-2")
    assert (messages_in("gpu-2"), messages_in("training")) == (before[0] + 1, before[1])


@pytest.mark.django_db
def test_the_api_accepts_a_gpu_job_no_worker_can_take_and_says_what_it_waits_for(api):
    response = api.post("/api/v1/jobs/", {"recipe": "mlp", "gpus": 2}, format="json")

    assert response.status_code == 201, response.json()
    job = response.json()
    assert (job["gpus"], job["queue"], job["status"]) == (2, "gpu-2", "queued")
    assert job["waiting_for"] == ("Waiting for a worker with 2 GPUs: no online worker consumes queue gpu-2. "
                                  "The job starts when one joins.")


@pytest.mark.django_db
def test_a_gpu_job_waits_for_nothing_once_an_online_worker_consumes_its_queue(api):
    job_id = api.post("/api/v1/jobs/", {"recipe": "mlp", "gpus": 1}, format="json").json()["id"]
    registry.register("celery@gpu-box", ["training", "gpu-1"], TWO_GPUS)

    assert api.get(f"/api/v1/jobs/{job_id}/").json()["waiting_for"] is None


@pytest.mark.django_db
def test_a_worker_that_stopped_heartbeating_does_not_count(api, settings):
    registry.register("celery@gpu-box", ["training", "gpu-1"], TWO_GPUS)
    WorkerNode.objects.update(last_seen="2000-01-01T00:00:00Z")

    job = api.post("/api/v1/jobs/", {"recipe": "mlp", "gpus": 1}, format="json").json()

    assert job["waiting_for"].startswith("Waiting for a worker with 1 GPU:")


@pytest.mark.django_db
def test_a_cpu_job_never_waits_for_a_gpu_worker(api):
    job = api.post("/api/v1/jobs/", {"recipe": "mlp"}, format="json").json()

    assert (job["gpus"], job["queue"], job["waiting_for"]) == (0, "training", None)


@pytest.mark.django_db
@pytest.mark.parametrize("gpus", [9, -1, "two"])
def test_the_api_rejects_an_out_of_range_gpu_count_with_a_field_error(api, gpus):
    response = api.post("/api/v1/jobs/", {"recipe": "mlp", "gpus": gpus}, format="json")

    assert response.status_code == 400
    assert "gpus" in response.json()


@pytest.mark.django_db
def test_the_form_trains_with_a_gpu_count_and_rejects_a_bad_one(client, alice):
    client.force_login(alice)

    bad = client.post("/play/mlp/", {"gpus": "lots"})
    good = client.post("/play/mlp/", {"gpus": "1"})

    assert bad.status_code == 400 and "Must be a whole number, not &#x27;lots&#x27;." in bad.content.decode()
    assert good.status_code == 302
    job_page = client.get(good["Location"]).content.decode()
    assert "Waiting for a worker with 1 GPU: no online worker consumes queue gpu-1." in job_page


@pytest.mark.django_db
def test_a_stale_gpu_job_is_requeued_on_its_gpu_queue(alice):
    from playground.jobs.models import Job

    job = services.create_job(alice, validate_spec({"recipe": "mlp", "gpus": 3}))
    leases.acquire(job.pk, "celery@gone")
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    before = messages_in("gpu-3"), messages_in("training")

    assert leases.requeue_stale_jobs()["requeued"] == [job.pk]
    assert (messages_in("gpu-3"), messages_in("training")) == (before[0] + 1, before[1])


@pytest.mark.django_db
def test_a_multi_worker_job_says_how_many_of_its_workers_are_online(api, settings):
    settings.PLAYGROUND_GANG_TIMEOUT_S = 300
    registry.register("celery@one", ["training"], [])
    registry.register("celery@two", ["training"], [])
    job_id = api.post("/api/v1/jobs/", {"recipe": "mlp", "strategy": "multi_worker:2"}, format="json").json()["id"]
    WorkerNode.objects.filter(hostname="celery@two").update(last_seen=timezone.now() - timedelta(hours=1))

    waiting = api.get(f"/api/v1/jobs/{job_id}/").json()["waiting_for"]
    registry.register("celery@two", ["training"], [])  # back online
    ready = api.get(f"/api/v1/jobs/{job_id}/").json()["waiting_for"]

    assert waiting == ("Waiting for 2 workers on queue training: 1 online. The job fails if they have not "
                       "all joined within 300 s of the first one.")
    assert ready is None


@pytest.mark.django_db
def test_the_play_page_knows_the_most_gpus_an_online_worker_has_to_warn_before_submitting(client):
    assert 'id="gpus-warning" data-online="0"' in client.get("/play/mlp/").content.decode()

    registry.register("celery@gpu-box", ["training", "gpu-1"], TWO_GPUS)

    assert 'id="gpus-warning" data-online="2"' in client.get("/play/mlp/").content.decode()
