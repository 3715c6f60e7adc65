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


def killed_after_epoch_2(job: Job, monkeypatch) -> None:
    """w1 trains the job and dies right after reporting epoch 2; it never beats again."""
    report = JobReporter.on_event

    def dies_after_epoch_2(self, type, data):
        report(self, type, data)
        if type == "epoch" and data["epoch"] == 2:
            raise WorkerKilled

    monkeypatch.setattr(JobReporter, "on_event", dies_after_epoch_2)
    with pytest.raises(WorkerKilled):
        services.run_job(job.pk, worker="w1")
    monkeypatch.undo()
    running(job, "w1", silent_for_s=60)


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
    killed_after_epoch_2(job, monkeypatch)

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


def stalled(job: Job, attempts_in_a_row: int, epoch: int = 2) -> Job:
    """The job's last attempts each lost their worker in `epoch` without completing it."""
    Job.objects.filter(pk=job.pk).update(
        stalled_attempts=attempts_in_a_row, epochs_at_claim=epoch - 1,
        metrics={"loss": [1.0] * (epoch - 1)}, progress={**job.progress, "epoch": epoch})
    job.refresh_from_db()
    return job


def test_a_job_whose_attempts_keep_adding_no_epoch_fails_with_a_reason_instead_of_staying_running(alice, sent):
    job = stalled(running(job_for(alice), "w1", silent_for_s=60, attempts=3), attempts_in_a_row=2)
    sent.clear()  # create_job's own message

    out = io.StringIO()
    call_command("requeue_stale_jobs", stdout=out)

    assert json.loads(out.getvalue()) == {"requeued": [], "failed": [job.pk]}
    job.refresh_from_db()
    assert job.status == "failed" and sent == []
    assert job.error.startswith("Gave up after 3 attempts in a row without a new epoch (3 in all): worker w1 "
                                "stopped responding in epoch 2")


def test_a_redelivered_task_for_a_stalled_job_out_of_attempts_fails_it(alice):
    job = stalled(running(job_for(alice), "w1", silent_for_s=60, attempts=3), attempts_in_a_row=2)

    services.run_job(job.pk, worker="w2")

    job.refresh_from_db()
    assert job.status == "failed" and "Gave up after 3 attempts in a row" in job.error


def test_a_job_that_advances_between_worker_losses_is_never_given_up(alice, sent):
    job = job_for(alice, epochs=30)
    for loss in range(1, 6):  # five workers die, each after finishing one more epoch
        lease = leases.acquire(job.pk, f"w{loss}")
        assert lease is not None, f"attempt {loss} refused"
        job.refresh_from_db()
        Job.objects.filter(pk=job.pk).update(metrics={"loss": [1.0] * (job.completed_epochs + 1)},
                                             heartbeat_at=timezone.now() - timedelta(seconds=60))
        assert leases.requeue_stale_jobs()["requeued"] == [job.pk]

    job.refresh_from_db()
    assert (job.status, job.attempts, job.stalled_attempts) == ("queued", 5, 0)


def test_started_at_is_the_first_start_and_resumed_at_the_takeover(alice, sent):
    job = job_for(alice)
    leases.acquire(job.pk, "w1")
    job.refresh_from_db()
    first_start = job.started_at
    assert first_start is not None and job.resumed_at is None
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=60))

    leases.requeue_stale_jobs()
    leases.acquire(job.pk, "w2")

    job.refresh_from_db()
    assert job.started_at == first_start
    assert job.resumed_at > first_start and job.attempts == 2


def test_a_job_restarted_without_a_checkpoint_does_not_report_its_epochs_twice(alice, monkeypatch):
    job = job_for(alice, epochs=4)
    killed_after_epoch_2(job, monkeypatch)
    # The next worker has its own disk: the checkpoint stayed on w1's.
    import shutil

    shutil.rmtree(services.job_workdir(job.pk))

    services.run_job(job.pk, worker="w2")

    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    assert [e.data["epoch"] for e in job.events.filter(type="epoch")] == [1, 2, 3, 4]
    assert len(job.metrics["loss"]) == 4
    assert job.events.filter(type="log", data__message__startswith="Restarted from epoch 1 on w2").exists()


def test_a_running_job_whose_worker_went_silent_says_who_and_what_happens_next(alice, settings):
    from playground.ops.registry import waiting_for

    settings.PLAYGROUND_HEARTBEAT_S, settings.PLAYGROUND_WATCHDOG_S = 5, 10
    quiet = running(job_for(alice), "w1", silent_for_s=20)
    gone = running(job_for(alice), "w2", silent_for_s=40)
    fine = running(job_for(alice), "w3", silent_for_s=1)

    assert waiting_for(fine) is None
    assert waiting_for(quiet).startswith("Its worker w1 stopped answering 20 s ago; if it stays silent for 30 s "
                                         "another worker takes the job over")
    assert waiting_for(gone) == ("Its worker w2 stopped answering 40 s ago; another worker will take the job "
                                 "over from its last checkpoint within 10 s.")
