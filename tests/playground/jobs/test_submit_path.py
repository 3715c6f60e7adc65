"""POST /api/v1/jobs/ as benchmarks/submit_rate.py drives it: the throttle counts in one Redis
client per process (not one per request), the quota reads the same few rows however many jobs
are queued, and the job it answers is the row as stored, with its first event at seq 1."""
from __future__ import annotations

import contextvars

import pytest
import redis
from django.db import connection
from django.test.utils import CaptureQueriesContext

from playground.accounts import quotas
from playground.jobs import services
from playground.jobs.models import Job
from tests.conftest import client_for
from trainer.spec import validate_spec

MLP = {"recipe": "mlp", "dataset": "digits", "hyperparameters": {"epochs": 1}}


@pytest.fixture
def redis_url(redis_server):
    return redis_server[1]


@pytest.mark.django_db
def test_the_throttle_refuses_over_the_rate_with_429_counting_in_one_redis_connection(alice, settings, redis_url):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url}}
    settings.PLAYGROUND_SUBMIT_RATE = "3/min"
    settings.PLAYGROUND_QUOTA_CONCURRENT_JOBS = 0
    api = client_for(alice)
    watcher = redis.Redis.from_url(redis_url)
    connections_before = watcher.info("stats")["total_connections_received"]

    # Each request in a context of its own, as under ASGI, where Django's cache handler keeps a
    # client per context: the throttle used to connect to Redis afresh for every request.
    statuses = [contextvars.Context().run(api.post, "/api/v1/jobs/", MLP, format="json").status_code
                for _ in range(5)]

    assert statuses == [201, 201, 201, 429, 429]
    assert watcher.info("stats")["total_connections_received"] - connections_before == 1


def submission_queries(user) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        assert client_for(user).post("/api/v1/jobs/", MLP, format="json").status_code == 201
    return [q["sql"] for q in queries.captured_queries if "accounts_apitoken" not in q["sql"]]


@pytest.mark.django_db
def test_a_submission_reads_the_same_rows_however_many_jobs_are_queued(alice, settings):
    settings.PLAYGROUND_QUOTA_CONCURRENT_JOBS = 1000
    first = submission_queries(alice)
    for _ in range(30):
        services.create_job(alice, validate_spec(MLP))

    later = submission_queries(alice)

    # Before, every queued job's row was read and its disk estimated on each submission.
    assert len(later) == len(first)
    assert not any("SELECT" in sql and '"jobs_job"."hyperparameters"' in sql and "GROUP BY" not in sql
                   for sql in later if sql.startswith("SELECT"))


@pytest.mark.django_db
def test_the_disk_quota_counts_every_queued_and_running_job_by_its_spec(alice):
    small, big = validate_spec(MLP), validate_spec({**MLP, "hyperparameters": {"epochs": 3, "hidden_layers": [256]}})
    for spec in (small, small, small, big, big):
        services.create_job(alice, spec)
    Job.objects.filter(owner=alice, hyperparameters__epochs=3).update(status=Job.Status.RUNNING)
    Job.objects.filter(pk=services.create_job(alice, big).pk).update(status=Job.Status.CANCELLED, disk_bytes=1234)

    assert quotas.disk_used(alice) == 3 * quotas.disk_estimate(small) + 2 * quotas.disk_estimate(big) + 1234


@pytest.mark.django_db
def test_the_created_job_is_answered_as_stored_with_its_queued_event_at_seq_1(alice):
    response = client_for(alice).post("/api/v1/jobs/", MLP, format="json")

    job = Job.objects.get(pk=response.json()["id"])
    answered = response.json()
    assert answered["last_seq"] == job.last_seq == 1
    assert answered["status"] == "queued" and answered["owner"] == "alice"
    assert list(job.events.values_list("seq", "type", "data")) == [(1, "status", {"status": "queued"})]
    second = client_for(alice).post("/api/v1/jobs/", MLP, format="json").json()
    assert Job.objects.get(pk=second["id"]).events.get().seq == 1
