"""The job lifecycle through services.run_job with the real trainer on tiny settings."""
from __future__ import annotations

import threading
import time

import pytest

from playground.jobs import services
from playground.jobs.models import Job
from playground.jobs.reporter import JobReporter
from trainer.spec import validate_spec

pytestmark = pytest.mark.django_db(transaction=True)

TINY = {"epochs": 2, "hidden_layers": [16], "batch_size": 64}


def job_for(owner, **hyperparameters) -> Job:
    return services.create_job(owner, validate_spec({"recipe": "mlp", "hyperparameters": {**TINY, **hyperparameters}}))


def event_types(job: Job) -> list[str]:
    return list(job.events.order_by("seq").values_list("type", flat=True))


def test_a_job_runs_from_queued_to_succeeded_with_its_events_and_artifacts(alice):
    job = job_for(alice)

    services.run_job(job.pk, worker="w1")

    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    assert job.worker == "w1" and job.started_at <= job.finished_at
    seqs = list(job.events.values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1)) and job.last_seq == len(seqs)
    types = event_types(job)
    assert types[:2] == ["status", "status"] and types[-1] == "status"
    assert [e.data["epoch"] for e in job.events.filter(type="epoch")] == [1, 2]
    assert types.index("epoch") < types.index("artifact")
    assert [e.data["status"] for e in job.events.filter(type="status")] == ["queued", "running", "succeeded"]
    assert job.progress["epoch"] == 2 and len(job.metrics["val_accuracy"]) == 2
    assert job.best_epoch in (1, 2)
    assert 0.0 <= job.test_metrics["accuracy"] <= 1.0
    variants = {(a["kind"], a["variant"]) for a in job.artifacts}
    assert {("tfjs", "float32"), ("tfjs", "float16"), ("tfjs", "uint8"), ("keras", "h5")} <= variants
    for artifact in job.artifacts:
        assert artifact["url"] == f"/api/v1/jobs/{job.pk}/artifacts/{artifact['path']}"
        for name in artifact["files"]:
            assert (services.job_workdir(job.pk) / name).is_file()


def test_a_redelivered_task_for_a_finished_job_changes_nothing(alice):
    job = job_for(alice, epochs=1)
    services.run_job(job.pk, worker="w1")
    before = Job.objects.get(pk=job.pk).last_seq

    services.run_job(job.pk, worker="w2")

    job.refresh_from_db()
    assert (job.status, job.worker, job.last_seq) == ("succeeded", "w1", before)


def test_a_diverging_job_fails_with_a_reason_naming_the_epoch(alice):
    job = job_for(alice, epochs=5, activation="linear", optimizer="sgd", learning_rate=10.0, hidden_layers=[256, 256])

    services.run_job(job.pk, worker="w1")

    job.refresh_from_db()
    assert job.status == "failed"
    assert job.error.startswith("loss became NaN at epoch ")
    assert job.events.order_by("-seq").first().data == {"status": "failed", "error": job.error}
    assert job.artifacts == []


def test_a_cancel_stops_a_running_job_within_a_few_batches(alice):
    job = job_for(alice, epochs=200, batch_size=8)
    thread = threading.Thread(target=services.run_job, args=(job.pk, "w1"))
    thread.start()
    deadline = time.monotonic() + 60
    while not job.events.filter(type="epoch").exists() and time.monotonic() < deadline:
        time.sleep(0.05)

    services.request_cancel(job)
    thread.join(timeout=60)

    job.refresh_from_db()
    assert job.status == "cancelled"
    assert job.progress["epoch"] < 200
    assert [e.data["status"] for e in job.events.filter(type="status")] == ["queued", "running", "cancelled"]
    assert job.events.filter(type="log", data__message__startswith="Cancel requested").exists()


def test_a_reporter_error_never_reaches_training(alice):
    reporter = JobReporter(job_id=987654)  # no such job: every write fails

    reporter.on_event("epoch", {"epoch": 1, "logs": {"loss": 1.0}})

    assert reporter.should_stop() is False


def test_a_network_that_learned_nothing_succeeds_with_a_chance_level_warning(alice):
    # sgd at learning rate 10: the loss reaches ~8e15 in epoch 1, then the network is dead.
    job = job_for(alice, epochs=3, optimizer="sgd", learning_rate=10.0)

    services.run_job(job.pk, worker="w1")

    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    assert job.test_metrics["accuracy"] < 0.2
    [warning] = job.warnings
    assert warning["code"] == "chance_level"
    assert "is at chance level" in warning["message"] and "the learning rate may be too high" in warning["message"]
    assert job.events.filter(type="log", data__warning="chance_level").exists()


def test_a_network_that_learned_gets_no_warning(alice):
    job = job_for(alice, epochs=3)

    services.run_job(job.pk, worker="w1")

    job.refresh_from_db()
    assert job.status == "succeeded" and job.test_metrics["accuracy"] > 0.3  # 16 units, 3 epochs: ~0.35
    assert job.warnings == []
