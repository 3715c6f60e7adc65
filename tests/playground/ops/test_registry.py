"""The worker registry: rows workers write about themselves, and the admin that lists them."""
from __future__ import annotations

import os
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from playground.jobs import leases, services
from playground.ops import registry
from playground.ops.models import WorkerNode
from trainer.spec import validate_spec

pytestmark = pytest.mark.django_db

CPU_ONLY = [{"name": "/device:CPU:0", "type": "CPU"}, {"name": "/device:CPU:1", "type": "CPU"}]
ONE_GPU = [{"name": "/device:GPU:0", "type": "GPU", "model": "NVIDIA H100"}, {"name": "/device:CPU:0", "type": "CPU"}]


def test_registering_a_worker_records_its_queues_devices_gpu_count_and_pid():
    node = registry.register("celery@box", ["training", "gpu-1"], ONE_GPU)

    assert (node.queues, node.devices, node.gpus, node.pid) == (["training", "gpu-1"], ONE_GPU, 1, os.getpid())
    assert list(registry.online()) == [node]


def test_a_worker_restarting_under_its_hostname_replaces_its_old_row():
    registry.register("celery@box", ["training", "gpu-1"], ONE_GPU)
    WorkerNode.objects.update(last_seen=timezone.now() - timedelta(days=1))

    node = registry.register("celery@box", ["training"], CPU_ONLY)

    assert WorkerNode.objects.count() == 1
    assert (node.gpus, node.queues) == (0, ["training"])
    assert list(registry.online()) == [node]


def test_a_worker_silent_for_longer_than_the_lease_timeout_is_offline(settings):
    registry.register("celery@box", ["training"], CPU_ONLY)
    WorkerNode.objects.update(last_seen=timezone.now() - timedelta(seconds=settings.PLAYGROUND_LEASE_TIMEOUT_S + 1))

    assert not registry.online().exists()


def test_a_heartbeat_names_the_job_the_worker_holds_and_clears_it_when_done(alice):
    registry.register("celery@box", ["training"], CPU_ONLY)
    job = services.create_job(alice, validate_spec({"recipe": "mlp"}))
    leases.acquire(job.pk, "celery@box")
    WorkerNode.objects.update(last_seen=timezone.now() - timedelta(minutes=1))

    assert registry.beat("celery@box")
    node = WorkerNode.objects.get()
    assert node.current_job_id == job.pk
    assert timezone.now() - node.last_seen < timedelta(seconds=5)

    services.fail_job(job.pk, "stopped by the test")
    registry.beat("celery@box")
    assert WorkerNode.objects.get().current_job_id is None


def test_a_heartbeat_for_a_deleted_row_reports_it_gone():
    assert not registry.beat("celery@nobody")


@pytest.mark.django_db(transaction=True)
def test_a_started_worker_heartbeats_from_its_thread_until_it_stops():
    registry.worker_started("celery@box", ["training"], CPU_ONLY, interval_s=0.05)
    WorkerNode.objects.update(last_seen=timezone.now() - timedelta(days=1))
    try:
        deadline = time.monotonic() + 10
        while not registry.online().exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert registry.online().exists(), "the heartbeat thread never refreshed last_seen"
        # An operator deleted the row of a live worker: its next beat registers it again.
        WorkerNode.objects.all().delete()
        while not WorkerNode.objects.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert WorkerNode.objects.get().queues == ["training"]
    finally:
        registry.worker_stopped("celery@box")

    assert not WorkerNode.objects.exists()
    time.sleep(0.2)
    assert not WorkerNode.objects.exists(), "the heartbeat kept running after worker_stopped"


def test_the_admin_lists_workers_with_online_gpus_queues_and_current_job(client, make_user, alice):
    admin = make_user("root", staff=True)
    admin.is_superuser = True
    admin.save()
    client.force_login(admin)
    job = services.create_job(alice, validate_spec({"recipe": "mlp"}))
    leases.acquire(job.pk, "celery@gpu-box")
    registry.register("celery@gpu-box", ["training", "gpu-1"], ONE_GPU)
    registry.beat("celery@gpu-box")
    registry.register("celery@old-box", ["training"], CPU_ONLY)
    WorkerNode.objects.filter(hostname="celery@old-box").update(last_seen=timezone.now() - timedelta(days=1))

    page = client.get("/admin/ops/workernode/")

    assert page.status_code == 200
    rows = {node.hostname: node for node in page.context["cl"].result_list}
    assert set(rows) == {"celery@gpu-box", "celery@old-box"}
    html = page.content.decode()
    job.refresh_from_db()
    assert "training, gpu-1" in html and str(job) in html  # "Job 1 (mlp/digits, running)"
    assert html.count('alt="True"') == 1 and html.count('alt="False"') == 1
    assert client.get("/admin/ops/workernode/add/").status_code == 403
