"""Leases on running jobs: a dead worker's job is taken over and resumed exactly once, a live
worker's job never is, and a job out of attempts fails with a reason instead of staying running."""
from __future__ import annotations

import io
import json
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from playground.jobs import leases, services
from playground.jobs.models import Job
from playground.jobs.reporter import JobReporter
from trainer.spec import validate_spec

pytestmark = pytest.mark.django_db(transaction=True)


class WorkerKilled(BaseException):
    """Stands in for SIGKILL: nothing in run_job catches it, as nothing survives a kill -9."""


@pytest.fixture(autouse=True)
def lease_settings(settings):
    settings.PLAYGROUND_LEASE_TIMEOUT_S = 30
    settings.PLAYGROUND_MAX_ATTEMPTS = 3
    return settings


@pytest.fixture
def sent(monkeypatch):
    """Task messages sent (create_job's and requeue_stale_jobs'); no worker reads them here."""
    messages = []
    monkeypatch.setattr("playground.jobs.tasks.run_job.apply_async", lambda args, **options: messages.append(args[0]))
    return messages


def job_for(owner, epochs: int = 2) -> Job:
    spec = validate_spec({"recipe": "mlp", "hyperparameters": {"epochs": epochs, "hidden_layers": [16], "batch_size": 64}})
    return services.create_job(owner, spec)


def running(job: Job, worker: str = "w1", silent_for_s: float = 0, attempts: int = 1) -> Job:
    Job.objects.filter(pk=job.pk).update(status="running", worker=worker, attempts=attempts,
                                         heartbeat_at=timezone.now() - timedelta(seconds=silent_for_s))
    job.refresh_from_db()
    return job


def test_a_redelivered_task_leaves_a_job_whose_worker_still_heartbeats_alone(alice):
    job = running(job_for(alice), "w1", silent_for_s=5)

    services.run_job(job.pk, worker="w2")

    job.refresh_from_db()
    assert (job.status, job.worker, job.attempts) == ("running", "w1", 1)
    assert not job.events.filter(type="epoch").exists()


def test_two_workers_racing_for_a_stale_job_take_it_over_once(alice):
    job = running(job_for(alice), "w1", silent_for_s=60)

    first, second = leases.acquire(job.pk, "w2"), leases.acquire(job.pk, "w3")

    assert first is not None and first.resumed and first.attempt == 2
    assert second is None
    job.refresh_from_db()
    assert (job.worker, job.attempts) == ("w2", 2)


def test_a_killed_workers_job_is_taken_over_and_resumes_with_every_epoch_reported_once(alice, monkeypatch):
    job = job_for(alice, epochs=4)
    report = JobReporter.on_event

    def dies_after_epoch_2(self, type, data):
        report(self, type, data)
        if type == "epoch" and data["epoch"] == 2:
            raise WorkerKilled

    monkeypatch.setattr(JobReporter, "on_event", dies_after_epoch_2)
    with pytest.raises(WorkerKilled):
        services.run_job(job.pk, worker="w1")
    monkeypatch.undo()
    running(job, "w1", silent_for_s=60)  # w1 never beats again

    services.run_job(job.pk, worker="w2")

    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    assert (job.worker, job.attempts) == ("w2", 2)
    assert [e.data["epoch"] for e in job.events.filter(type="epoch")] == [1, 2, 3, 4]
    assert job.events.filter(type="log", data__message="Resumed from epoch 2 on w2 (attempt 2).").exists()
    assert len(job.metrics["loss"]) == 4 and job.run_info["epochs_run"] == 4
    seqs = list(job.events.values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))


def test_a_worker_whose_lease_was_taken_stops_training_and_finishes_nothing(alice):
    job = running(job_for(alice), "w1")
    lease = leases.Lease(job.pk, "w1", 1)
    reporter = JobReporter(job.pk, cancel_poll_s=0, lease=lease)

    with leases.keep_alive(lease, interval_s=0.05):
        assert reporter.should_stop() is False
        Job.objects.filter(pk=job.pk).update(worker="w2", attempts=2)  # presumed dead, taken over
        lost = lease.lost.wait(timeout=5)

    assert lost and reporter.should_stop() is True and reporter.lease_lost


def test_a_worker_that_finishes_after_a_takeover_cannot_end_its_successors_attempt(alice):
    job = running(job_for(alice), "w1")
    stale = leases.Lease(job.pk, "w1", 1)
    running(job, "w2", attempts=2)  # w1 was presumed dead; w2 resumed the job

    assert services.succeed_job(job.pk, {"test_metrics": {"accuracy": 0.5}}, stale) is False
    assert services.fail_job(job.pk, "w1's late failure", stale) is False
    assert services.cancel_running_job(job.pk, stale) is False
    job.refresh_from_db()
    assert (job.status, job.worker, job.error) == ("running", "w2", "")

    assert services.succeed_job(job.pk, {"test_metrics": {"accuracy": 0.9}}, leases.Lease(job.pk, "w2", 2))
    job.refresh_from_db()
    assert (job.status, job.test_metrics) == ("succeeded", {"accuracy": 0.9})


def test_a_heartbeat_keeps_a_job_from_being_requeued(alice, sent):
    job = running(job_for(alice), "w1", silent_for_s=60)
    sent.clear()  # create_job's own message

    with leases.keep_alive(leases.Lease(job.pk, "w1", 1), interval_s=0.05):
        time.sleep(0.3)

    assert leases.requeue_stale_jobs() == {"requeued": [], "failed": []}
    assert sent == []


def test_a_silent_running_job_is_requeued_with_a_reason_and_a_new_task_message(alice, sent):
    stale = running(job_for(alice), "w1", silent_for_s=60)
    alive = running(job_for(alice), "w9", silent_for_s=1)
    sent.clear()  # create_job's own messages

    outcome = leases.requeue_stale_jobs()

    assert outcome == {"requeued": [stale.pk], "failed": []} and sent == [stale.pk]
    stale.refresh_from_db()
    alive.refresh_from_db()
    assert (stale.status, stale.worker) == ("queued", "")
    assert alive.status == "running"
    last_log = stale.events.filter(type="log").last().data["message"]
    assert "Worker w1 stopped responding" in last_log and "requeued" in last_log
    assert leases.acquire(stale.pk, "w2").resumed, "the next claim resumes from the checkpoint"


def test_a_job_out_of_attempts_fails_with_a_reason_instead_of_staying_running(alice, sent):
    job = running(job_for(alice), "w1", silent_for_s=60, attempts=3)
    job.progress = {**job.progress, "epoch": 2}
    job.save(update_fields=["progress"])
    sent.clear()  # create_job's own message

    out = io.StringIO()
    call_command("requeue_stale_jobs", stdout=out)

    assert json.loads(out.getvalue()) == {"requeued": [], "failed": [job.pk]}
    job.refresh_from_db()
    assert job.status == "failed" and sent == []
    assert job.error == ("Gave up after 3 attempts: worker w1 stopped responding in epoch 2 and no "
                         "worker could finish the job.")


def test_a_redelivered_task_for_a_stale_job_out_of_attempts_fails_it(alice):
    job = running(job_for(alice), "w1", silent_for_s=60, attempts=3)

    services.run_job(job.pk, worker="w2")

    job.refresh_from_db()
    assert job.status == "failed" and "Gave up after 3 attempts" in job.error
