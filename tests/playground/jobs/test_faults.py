"""Faults a client may meet: a broker that is down (503, nothing half-created), a database
error (a plain 500 without internals), bad WebSocket frames (an error frame, the socket stays)
and oversized or malformed bodies (4xx with a message, never 500)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connection
from django.test import Client

from playground.asgi import application
from playground.jobs import events, services
from tests.conftest import client_for, token_for
from tests.support.processes import ROOT, free_port
from trainer.spec import validate_spec

JOB = {"recipe": "mlp", "dataset": "digits", "hyperparameters": {"epochs": 1}}


# --- Redis down ---------------------------------------------------------------------------

def submit_with_broker_down() -> None:
    """Runs in a subprocess whose REDIS_URL points at a closed port; prints what it saw."""
    import time

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import setup_test_environment

    from playground.jobs.models import Job, JobEvent, JobGroup

    setup_test_environment()  # the test client's host, DEBUG off
    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user("carol", password="pw-carol")
    api, page = client_for(user), Client()
    page.force_login(user)
    seen = {}
    for name, send in {
        "job": lambda: api.post("/api/v1/jobs/", JOB, format="json"),
        "race": lambda: api.post("/api/v1/races/", {"recipe": "mlp", "optimizers": ["sgd", "adam"],
                                                     "hyperparameters": {"epochs": 1}}, format="json"),
        "form": lambda: page.post("/play/mlp/", {"dataset": "digits", "epochs": "1"}),
    }.items():
        started = time.monotonic()
        response = send()
        seen[name] = {"status": response.status_code, "type": response["Content-Type"],
                      "retry_after": response.get("Retry-After"), "body": response.content.decode(),
                      "seconds": round(time.monotonic() - started, 2)}
    seen["rows"] = [Job.objects.count(), JobEvent.objects.count(), JobGroup.objects.count()]
    print(json.dumps(seen))


@pytest.mark.parametrize("submit_rate", ["30/min", ""], ids=["throttled (the cache is Redis too)", "not throttled"])
def test_a_submission_while_redis_is_down_answers_503_and_keeps_nothing(tmp_path, submit_rate):
    closed = free_port()
    env = {"DJANGO_SETTINGS_MODULE": "playground.settings", "PATH": "/usr/bin:/bin", "DJANGO_SECRET_KEY": "test",
           "REDIS_URL": f"redis://127.0.0.1:{closed}/0", "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
           "PLAYGROUND_MEDIA_ROOT": str(tmp_path / "media"), "PLAYGROUND_SUBMIT_RATE": submit_rate}
    done = subprocess.run(
        [sys.executable, "-c", "from tests.playground.jobs.test_faults import submit_with_broker_down as s; s()"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])

    message = (f"The job queue is unavailable (Redis at 127.0.0.1:{closed} refused the connection); "
               "nothing was saved, try again shortly.")
    for name in ("job", "race"):
        assert seen[name]["status"] == 503, seen[name]
        assert json.loads(seen[name]["body"]) == {"detail": message}
        assert seen[name]["retry_after"] == "5"
    assert seen["form"]["status"] == 503 and "text/html" in seen["form"]["type"]
    assert message in seen["form"]["body"]
    assert seen["rows"] == [0, 0, 0], "no job, event or race left behind"


# --- database errors ------------------------------------------------------------------------

@pytest.fixture
def broken_jobs_table(db):
    # A real database error: the table is gone (renamed inside the test's transaction, which
    # rolls back afterwards).
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE jobs_job RENAME TO jobs_job_gone")


def test_a_database_error_on_a_page_is_a_plain_500_page_without_internals(alice, broken_jobs_table):
    browser = Client(raise_request_exception=False)
    browser.force_login(alice)

    response = browser.get("/")

    body = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong on our side" in body and 'href="/"' in body
    for internal in ("jobs_job", "Traceback", "Error", "SELECT", "sqlite", "postgres"):
        assert internal not in body


def test_a_database_error_under_api_is_a_json_500(alice, broken_jobs_table):
    api = client_for(alice)
    api.raise_request_exception = False

    response = api.get("/api/v1/jobs/")

    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error; it has been logged."}


def test_an_unknown_url_is_a_404_page_or_json_under_api(alice):
    browser = Client()
    browser.force_login(alice)

    page = browser.get("/no/such/page/")
    api = browser.get("/api/v1/no-such-thing/")

    assert page.status_code == 404 and "Not found" in page.content.decode() and "/no/such/page/" in page.content.decode()
    assert api.status_code == 404 and api.json() == {"detail": "Not found."}


# --- WebSocket frames ---------------------------------------------------------------------

@database_sync_to_async
def job_with_events(owner):
    job = services.create_job(owner, validate_spec({"recipe": "mlp"}))
    events.publish(job.pk, "log", {"message": "second"})
    return job


@pytest.mark.django_db(transaction=True)
async def test_bad_frames_get_an_error_frame_and_the_socket_stays_open(alice, server_loop):
    job = await job_with_events(alice)
    token = await database_sync_to_async(token_for)(alice)
    ws = WebsocketCommunicator(application, f"/ws/jobs/{job.pk}/?after=2",
                               headers=[(b"authorization", f"Token {token}".encode())])
    connected, _ = await ws.connect()
    assert connected
    assert (await ws.receive_json_from())["type"] == "snapshot"

    replies = []
    for frame in ("not json", '{"type": "cancel"}', "[1, 2]", '{"type": "resume", "after": -1}', "[" * 100_000):
        await ws.send_to(text_data=frame)
        replies.append(await ws.receive_json_from())
    await ws.send_to(bytes_data=b"\x00\x01")
    replies.append(await ws.receive_json_from())

    assert all(r["type"] == "error" and r["error"] for r in replies), replies
    assert "not valid JSON" in replies[0]["error"] and "not valid JSON" in replies[4]["error"]
    assert '"ping", "resume"' in replies[1]["error"]
    assert "integer" in replies[3]["error"]
    assert "Binary frames" in replies[5]["error"]
    await ws.send_json_to({"type": "ping"})
    assert await ws.receive_json_from() == {"type": "pong"}
    await ws.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_resume_frame_replays_the_stored_events_after_its_seq(alice, server_loop):
    job = await job_with_events(alice)
    token = await database_sync_to_async(token_for)(alice)
    ws = WebsocketCommunicator(application, f"/ws/jobs/{job.pk}/",
                               headers=[(b"authorization", f"Token {token}".encode())])
    await ws.connect()
    first = [await ws.receive_json_from() for _ in range(3)]

    await ws.send_json_to({"type": "resume", "after": 1})
    again = await ws.receive_json_from()

    assert [m["seq"] for m in first[1:]] == [1, 2]
    assert again == first[2]
    assert await ws.receive_nothing(timeout=0.3)
    await ws.disconnect()


# --- request bodies -----------------------------------------------------------------------

def post(client, body: bytes, content_type: str = "application/json"):
    return client.generic("POST", "/api/v1/jobs/", body, content_type=content_type)


# Bodies over the limit: tests/playground/test_body_limit.py (the limit sits in front of Django).


@pytest.mark.parametrize("body, content_type, status, says", [
    (b'{"recipe": "mlp",', "application/json", 400, "JSON parse error"),
    (b'{"recipe": NaN}', "application/json", 400, "JSON parse error"),
    (b"recipe=mlp", "text/plain", 415, 'Unsupported media type "text/plain"'),
    (json.dumps([JOB]).encode(), "application/json", 400, "Expected a dictionary, but got list"),
    (b'{"a": ' * 100_000 + b"1" + b"}" * 100_000, "application/json", 400, "nested too deeply"),
    (b"\xff\xfe not utf-8", "application/json", 400, "JSON parse error"),
])
def test_a_malformed_body_is_a_4xx_that_says_what_is_wrong(alice, body, content_type, status, says):
    response = post(client_for(alice), body, content_type)

    assert response.status_code == status, response.content[:300]
    assert says in str(response.json())


# --- messages lost with Redis ------------------------------------------------------------------

@pytest.fixture
def empty_training_queue():
    """The in-memory broker's queue, emptied: it is process-wide and nothing consumes it here."""
    from playground.celery import app

    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge("training")
    yield
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge("training")


def test_a_queued_job_whose_message_was_lost_gets_one_new_message(alice, settings, empty_training_queue):
    from datetime import timedelta

    from django.utils import timezone

    from playground.jobs import leases
    from playground.jobs.models import Job

    settings.PLAYGROUND_LEASE_TIMEOUT_S = 30
    spec = validate_spec({"recipe": "mlp"})
    lost, fresh = services.create_job(alice, spec), services.create_job(alice, spec)
    Job.objects.filter(pk=lost.pk).update(created_at=timezone.now() - timedelta(seconds=31))
    assert leases.broker_queue_length("training") == 0, "as after a Redis restart without persistence"

    first = leases.resend_lost_messages()
    second = leases.resend_lost_messages()

    assert first == [lost.pk], "the fresh job may still have its message in flight"
    assert second == [], "a queue that holds messages is left alone: no pile of duplicates"
    assert leases.broker_queue_length("training") == 1


@pytest.mark.django_db(transaction=True)
def test_a_retry_the_broker_refuses_answers_503_and_leaves_the_old_job_as_it_was(alice, monkeypatch):
    from kombu.exceptions import OperationalError

    from playground.jobs.models import Job

    failed = services.create_job(alice, validate_spec({"recipe": "mlp"}))
    Job.objects.filter(pk=failed.pk).update(status="failed", error="boom")
    events_before = list(failed.events.values_list("seq", flat=True))

    def refused(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr("playground.jobs.tasks.run_job.apply_async", refused)
    response = client_for(alice).post(f"/api/v1/jobs/{failed.pk}/retry/")

    assert response.status_code == 503, response.content
    assert "nothing was saved" in response.json()["detail"]
    assert list(Job.objects.values_list("pk", flat=True)) == [failed.pk], "the retry was withdrawn"
    assert list(failed.events.values_list("seq", flat=True)) == events_before, "no 'Retried as job N' line"
