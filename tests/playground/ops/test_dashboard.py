"""The staff dashboard: its snapshot, who may see it (page and WebSocket), live updates, and the
retry / requeue actions in services, the API and the admin."""
from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone
from kombu import Connection, Exchange, Queue
from rest_framework.authtoken.models import Token

from playground.asgi import application
from playground.jobs import events, leases, services
from playground.jobs.models import Job
from playground.ops import dashboard
from playground.ops.models import WorkerNode
from tests.conftest import client_for
from tests.support.ci import unavailable
from tests.support.processes import free_port, redis_is_up, start_redis, stop, wait_for
from trainer.spec import validate_spec

pytestmark = pytest.mark.django_db

MLP = {"recipe": "mlp", "hyperparameters": {"epochs": 3}}


@pytest.fixture
def root(make_user):
    return make_user("root", staff=True)


def new_job(owner, **spec) -> Job:
    return services.create_job(owner, validate_spec({**MLP, **spec}))


def running_job(owner, worker: str = "celery@w1") -> Job:
    job = new_job(owner)
    assert leases.acquire(job.pk, worker) is not None
    return Job.objects.get(pk=job.pk)


def failed_job(owner, reason: str = "loss became NaN at epoch 2") -> Job:
    job = running_job(owner)
    services.fail_job(job.pk, reason)
    return Job.objects.get(pk=job.pk)


def queue_row(snapshot: dict, name: str) -> dict:
    return next(queue for queue in snapshot["queues"] if queue["name"] == name)


def messages_in(queue: str, broker_url: str) -> int:
    with Connection(broker_url) as connection:
        return connection.default_channel.queue_declare(queue).message_count


# The snapshot

def test_the_snapshot_counts_queued_and_running_jobs_per_queue(alice):
    new_job(alice)
    new_job(alice, gpus=1)
    running_job(alice)
    services.request_cancel(new_job(alice))

    snapshot = dashboard.snapshot()

    assert queue_row(snapshot, "training") == {**queue_row(snapshot, "training"), "queued": 1, "running": 1}
    assert queue_row(snapshot, "gpu-1") == {**queue_row(snapshot, "gpu-1"), "queued": 1, "running": 0}
    assert queue_row(snapshot, "training")["broker"] is None  # no Redis broker in these tests
    assert [job["status"] for job in snapshot["jobs"]] == ["cancelled", "running", "queued", "queued"]


def test_the_snapshot_lists_jobs_with_owner_recipe_progress_and_worker(alice):
    job = running_job(alice, "celery@gpu-box")
    Job.objects.filter(pk=job.pk).update(progress={"epoch": 2, "epochs": 3, "step": 5, "steps": 12, "samples_per_s": 900.5})

    row = dashboard.snapshot()["jobs"][0]

    assert row == {**row, "id": job.pk, "owner": "alice", "recipe": "mlp", "dataset": "digits", "status": "running",
                   "worker": "celery@gpu-box", "url": f"/jobs/{job.pk}/", "stale": False}
    assert row["progress"] == {"epoch": 2, "epochs": 3, "step": 5, "steps": 12, "samples_per_s": 900.5}


def test_the_snapshot_keeps_every_active_job_beyond_the_recent_ones(alice):
    oldest = new_job(alice)
    for _ in range(dashboard.RECENT_JOBS):
        services.request_cancel(new_job(alice))

    ids = [job["id"] for job in dashboard.snapshot()["jobs"]]

    assert len(ids) == dashboard.RECENT_JOBS + 1 and ids[-1] == oldest.pk


def test_workers_are_online_within_the_lease_timeout_and_show_devices_and_current_job(alice, settings):
    job = running_job(alice, "celery@gpu-box")
    now = timezone.now()
    WorkerNode.objects.create(hostname="celery@gpu-box", queues=["training", "gpu-1"], gpus=1, pid=42,
                              devices=[{"name": "/physical_device:GPU:0", "type": "GPU", "model": "H100"}],
                              current_job=job, last_seen=now - timedelta(seconds=3))
    WorkerNode.objects.create(hostname="celery@gone", queues=["training"], devices=[],
                              last_seen=now - timedelta(seconds=settings.PLAYGROUND_LEASE_TIMEOUT_S + 1))

    snapshot = dashboard.snapshot(now)

    online, offline = snapshot["workers"]
    assert online == {**online, "hostname": "celery@gpu-box", "online": True, "gpus": 1, "queues": ["training", "gpu-1"]}
    assert online["devices"][0]["model"] == "H100"
    assert online["current_job"] == {"id": job.pk, "recipe": "mlp", "status": "running", "url": f"/jobs/{job.pk}/"}
    assert offline == {**offline, "hostname": "celery@gone", "online": False, "current_job": None}
    assert queue_row(snapshot, "training")["workers"] == 1
    assert queue_row(snapshot, "gpu-1")["workers"] == 1


def test_a_running_job_whose_heartbeat_is_older_than_the_lease_timeout_is_marked_stale(alice, settings):
    stuck, fine = running_job(alice), running_job(alice)
    Job.objects.filter(pk=stuck.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=settings.PLAYGROUND_LEASE_TIMEOUT_S + 5))

    stale = {job["id"]: job["stale"] for job in dashboard.snapshot()["jobs"]}

    assert stale == {stuck.pk: True, fine.pk: False}


def test_the_snapshot_shows_recent_failures_with_reasons_and_the_throughput_of_the_last_hour(alice, bob):
    first = failed_job(alice, "loss became NaN at epoch 2")
    second = failed_job(bob, "Training stopped with an unexpected error in epoch 1: MemoryError")
    old = failed_job(alice)
    Job.objects.filter(pk=old.pk).update(finished_at=timezone.now() - timedelta(hours=2))
    services.request_cancel(new_job(alice))
    for samples_per_s in (100.0, 250.5):
        job = running_job(alice)
        Job.objects.filter(pk=job.pk).update(progress={"epoch": 1, "epochs": 3, "samples_per_s": samples_per_s})

    snapshot = dashboard.snapshot()

    assert [(f["id"], f["owner"], f["error"]) for f in snapshot["failures"]] == [
        (second.pk, "bob", "Training stopped with an unexpected error in epoch 1: MemoryError"),
        (first.pk, "alice", "loss became NaN at epoch 2"),
        (old.pk, "alice", "loss became NaN at epoch 2"),
    ]
    assert snapshot["throughput"] == {"finished_last_hour": 3, "succeeded_last_hour": 0, "failed_last_hour": 2,
                                      "cancelled_last_hour": 1, "samples_per_s": 350.5}


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    try:
        port = free_port()
        server = start_redis(port, tmp_path_factory.mktemp("redis") / "redis.log")
    except FileNotFoundError as exc:
        unavailable(str(exc))
    url = f"redis://127.0.0.1:{port}/0"
    try:
        wait_for(lambda: redis_is_up(url), 10, "redis-server")
        yield url
    finally:
        stop([server])


@pytest.fixture
def redis_broker(settings, redis_url, monkeypatch):
    settings.REDIS_URL = redis_url
    monkeypatch.setattr(dashboard, "_redis_client", None)
    yield redis_url
    monkeypatch.setattr(dashboard, "_redis_client", None)


def test_with_redis_the_snapshot_reads_the_brokers_queue_lengths_over_every_priority(redis_broker):
    queue = Queue("dash-test", Exchange("dash-test", type="direct"), routing_key="dash-test")
    with Connection(redis_broker) as connection:
        producer = connection.Producer()
        for priority in (0, 0, 5, 9):  # kombu keeps priorities > 0 in lists of their own
            producer.publish({"n": priority}, exchange=queue.exchange, routing_key="dash-test", declare=[queue],
                             priority=priority)

    assert dashboard.broker_queue_lengths(["dash-test", "empty"]) == {"dash-test": 4, "empty": 0}


def test_an_unreachable_redis_leaves_the_broker_column_empty_instead_of_failing(settings, monkeypatch):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    monkeypatch.setattr(dashboard, "_redis_client", None)

    assert dashboard.broker_queue_lengths(["training"]) is None
    monkeypatch.setattr(dashboard, "_redis_client", None)


# The page

def test_anonymous_visitors_are_sent_to_the_login_page(client):
    response = client.get("/dashboard/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/dashboard/"


def test_a_user_who_is_not_staff_gets_a_404(client, alice):
    client.force_login(alice)

    assert client.get("/dashboard/").status_code == 404


def test_staff_get_the_page_with_a_first_snapshot_and_a_header_link(client, root, alice):
    job = new_job(alice)
    client.force_login(root)

    response = client.get("/dashboard/")

    assert response.status_code == 200
    assert '<a href="/dashboard/">Dashboard</a>' in response.content.decode()
    assert response.context["snapshot"]["jobs"][0]["id"] == job.pk
    assert 'id="dashboard-data"' in response.content.decode()


def test_only_staff_see_the_dashboard_link(client, alice):
    client.force_login(alice)

    assert "/dashboard/" not in client.get("/").content.decode()


# The WebSocket

@database_sync_to_async
def token_for(user) -> str:
    return Token.objects.get_or_create(user=user)[0].key


async def dashboard_socket(user=None) -> WebsocketCommunicator:
    headers = [(b"authorization", f"Token {await token_for(user)}".encode())] if user else []
    return WebsocketCommunicator(application, "/ws/dashboard/", headers=headers)


async def close_code(ws: WebsocketCommunicator) -> int:
    await ws.connect()
    return (await ws.receive_output(timeout=2))["code"]


@pytest.mark.django_db(transaction=True)
async def test_the_socket_refuses_anonymous_clients_with_4401_and_non_staff_with_4403(alice):
    assert await close_code(await dashboard_socket()) == 4401
    assert await close_code(await dashboard_socket(alice)) == 4403


async def next_snapshot(ws: WebsocketCommunicator, timeout: float = 3) -> dict:
    message = await ws.receive_json_from(timeout=timeout)
    assert message["type"] == "snapshot", message
    return message["data"]


@pytest.mark.django_db(transaction=True)
async def test_staff_get_a_snapshot_on_connect_then_a_fresh_one_soon_after_a_job_event(root, alice, server_loop):
    job = await database_sync_to_async(new_job)(alice)
    ws = await dashboard_socket(root)
    connected, _ = await ws.connect()
    first = await next_snapshot(ws)

    loop = asyncio.get_running_loop()
    started = loop.time()
    await database_sync_to_async(leases.acquire)(job.pk, "celery@w1")
    while (snapshot := await next_snapshot(ws))["jobs"][0]["status"] != "running":
        pass
    waited = loop.time() - started

    assert connected and first["jobs"][0] == {**first["jobs"][0], "id": job.pk, "status": "queued"}
    assert snapshot["jobs"][0]["worker"] == "celery@w1"
    assert waited < 1.5  # the event's notice, not the 2 s periodic refresh
    await ws.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_burst_of_events_gives_at_most_two_snapshots_a_second(root, alice, server_loop):
    job = await database_sync_to_async(running_job)(alice)
    ws = await dashboard_socket(root)
    await ws.connect()
    await next_snapshot(ws)

    for i in range(40):
        await database_sync_to_async(events.publish)(job.pk, "log", {"message": f"burst {i}"})
    snapshots = 0
    while not await ws.receive_nothing(timeout=1.2):
        await next_snapshot(ws)
        snapshots += 1

    assert 1 <= snapshots <= 4  # 40 events within ~1 s; a snapshot per event would be 40
    await ws.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_without_events_the_snapshot_is_refreshed_every_two_seconds(root):
    ws = await dashboard_socket(root)
    await ws.connect()
    await next_snapshot(ws)
    await database_sync_to_async(WorkerNode.objects.create)(hostname="celery@new", last_seen=timezone.now())

    snapshot = await next_snapshot(ws, timeout=4)

    assert [w["hostname"] for w in snapshot["workers"]] == ["celery@new"]
    await ws.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_refresh_frame_brings_a_snapshot_and_an_unknown_frame_an_error_on_an_open_socket(root):
    ws = await dashboard_socket(root)
    await ws.connect()
    await next_snapshot(ws)

    await ws.send_to(text_data="not json")
    error = await ws.receive_json_from()
    await ws.send_json_to({"type": "cancel", "job": 1})
    unknown = await ws.receive_json_from()
    await ws.send_json_to({"type": "refresh"})
    snapshot = await next_snapshot(ws, timeout=1.5)

    assert error["type"] == "error" and unknown["type"] == "error" and '"refresh"' in unknown["error"]
    assert "jobs" in snapshot
    await ws.disconnect()


# Retry and requeue: services

def test_retry_clones_a_failed_job_as_a_new_queued_job_linked_both_ways(alice, django_capture_on_commit_callbacks):
    old = failed_job(alice)

    with django_capture_on_commit_callbacks(execute=True):  # the link lines follow the commit
        retry = services.retry_job(old)

    assert retry.pk != old.pk and retry.status == "queued" and retry.owner == alice
    assert retry.spec_dict() == old.spec_dict()
    assert Job.objects.get(pk=old.pk).status == "failed"
    assert old.events.filter(type="log").last().data == {"message": f"Retried as job {retry.pk}.", "retry": retry.pk}
    assert retry.events.filter(type="log").last().data["retry_of"] == old.pk


def test_retry_keeps_a_forks_parent_checkpoint_and_freeze_mode(alice):
    parent = failed_job(alice)
    fork = services.create_job(alice, validate_spec(MLP), parent=parent, parent_epoch="2", freeze="base")
    services.request_cancel(fork)

    retry = services.retry_job(fork)

    assert (retry.parent_id, retry.parent_epoch, retry.freeze) == (parent.pk, "2", "base")


@pytest.mark.parametrize("make", [new_job, running_job])
def test_only_failed_or_cancelled_jobs_can_be_retried(alice, make):
    job = make(alice)

    with pytest.raises(services.JobConflict, match="only failed or cancelled jobs can be retried"):
        services.retry_job(job)


def test_requeue_puts_a_running_job_back_in_its_queue_with_a_fresh_task_message(alice, settings,
                                                                                 django_capture_on_commit_callbacks):
    job = running_job(alice, "celery@stuck")
    before = messages_in("training", settings.CELERY_BROKER_URL)

    with django_capture_on_commit_callbacks(execute=True):
        requeued = services.requeue_job(job, by="root")

    assert (requeued.status, requeued.worker) == ("queued", "")
    assert messages_in("training", settings.CELERY_BROKER_URL) == before + 1
    log, status = job.events.order_by("-seq")[:2][::-1]
    assert log.data["message"].startswith("Requeued by root from worker celery@stuck")
    assert status.data == {"status": "queued", "attempt": 1}


def test_after_a_requeue_the_old_worker_loses_its_lease_and_the_next_one_resumes_the_job(alice):
    job = running_job(alice, "celery@stuck")

    services.requeue_job(job)

    assert leases.heartbeat(job.pk, "celery@stuck") is False
    lease = leases.acquire(job.pk, "celery@fresh")
    assert lease is not None and lease.resumed and lease.attempt == 2


@pytest.mark.parametrize("make", [new_job, failed_job])
def test_only_running_jobs_can_be_requeued(alice, make):
    job = make(alice)

    with pytest.raises(services.JobConflict, match="only running jobs can be requeued"):
        services.requeue_job(job)


def test_a_multi_worker_job_cannot_be_requeued_since_its_gang_cannot_resume(alice):
    job = new_job(alice, strategy="multi_worker:2")
    Job.objects.filter(pk=job.pk).update(status="running", worker="celery@w1")

    with pytest.raises(services.JobConflict, match="cancel it and retry it instead"):
        services.requeue_job(job)
    assert Job.objects.get(pk=job.pk).status == "running"


# Retry and requeue: the API

def test_an_owner_may_retry_their_own_failed_job_over_the_api(alice):
    old = failed_job(alice)

    response = client_for(alice).post(f"/api/v1/jobs/{old.pk}/retry/")

    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "queued" and response.json()["id"] != old.pk


def test_retrying_another_users_job_is_a_404_and_a_queued_job_a_409(alice, bob):
    job = failed_job(alice)
    queued = new_job(bob)

    assert client_for(bob).post(f"/api/v1/jobs/{job.pk}/retry/").status_code == 404
    conflict = client_for(bob).post(f"/api/v1/jobs/{queued.pk}/retry/")
    assert conflict.status_code == 409
    assert conflict.json()["detail"] == f"Job {queued.pk} is queued; only failed or cancelled jobs can be retried."


def test_staff_may_retry_anyones_job_and_it_stays_the_owners(alice, root):
    job = failed_job(alice)

    response = client_for(root).post(f"/api/v1/jobs/{job.pk}/retry/")

    assert response.status_code == 201
    assert Job.objects.get(pk=response.json()["id"]).owner == alice


def test_only_staff_may_requeue_over_the_api(alice, root):
    job = running_job(alice)

    refused = client_for(alice).post(f"/api/v1/jobs/{job.pk}/requeue/")
    accepted = client_for(root).post(f"/api/v1/jobs/{job.pk}/requeue/")
    again = client_for(root).post(f"/api/v1/jobs/{job.pk}/requeue/")

    assert refused.status_code == 403 and refused.json()["detail"] == "Only staff can requeue jobs."
    assert accepted.status_code == 202 and accepted.json()["status"] == "queued"
    assert again.status_code == 409


def test_session_clients_need_the_csrf_token_for_the_actions(alice):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)

    assert client.post(f"/api/v1/jobs/{failed_job(alice).pk}/retry/").status_code == 403


# Retry and requeue: the admin

@pytest.fixture
def admin_client(client, root):
    root.is_superuser = True
    root.save()
    client.force_login(root)
    return client


def test_the_admin_retry_action_retries_failed_and_cancelled_jobs_and_skips_the_rest(admin_client, alice):
    failed, queued = failed_job(alice), new_job(alice)
    cancelled = new_job(alice)
    services.request_cancel(cancelled)

    response = admin_client.post("/admin/jobs/job/", {"action": "retry_jobs",
                                                      "_selected_action": [failed.pk, cancelled.pk, queued.pk]}, follow=True)

    retries = Job.objects.exclude(pk__in=[failed.pk, cancelled.pk, queued.pk])
    assert retries.count() == 2 and set(retries.values_list("status", flat=True)) == {"queued"}
    assert "1 skipped" in str(list(response.context["messages"])[0])


def test_the_admin_requeue_action_requeues_running_jobs(admin_client, alice):
    running, queued = running_job(alice), new_job(alice)

    response = admin_client.post("/admin/jobs/job/", {"action": "requeue_jobs",
                                                      "_selected_action": [running.pk, queued.pk]}, follow=True)

    assert Job.objects.get(pk=running.pk).status == "queued"
    assert str(list(response.context["messages"])[0]) == "Requeued 1 job(s); 1 skipped (not running)."


def test_the_snapshot_is_json_ready_with_the_fields_the_page_reads(alice):
    failed_job(alice)
    running_job(alice)

    snapshot = json.loads(json.dumps(dashboard.snapshot()))

    assert set(snapshot) == {"at", "jobs", "queues", "workers", "throughput", "failures", "lease_timeout_s"}
    assert set(snapshot["jobs"][0]) == {
        "id", "url", "owner", "recipe", "dataset", "status", "queue", "gpus", "worker", "attempts", "cancel_requested",
        "stale", "progress", "created_at", "started_at", "finished_at", "error"}
    assert set(snapshot["failures"][0]) == {"id", "url", "owner", "recipe", "dataset", "worker", "finished_at", "error"}
