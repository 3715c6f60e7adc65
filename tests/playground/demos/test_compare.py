"""/compare/?jobs=a,b,c: the user's own jobs on one chart and side by side, from their events."""
from __future__ import annotations

import re

import datetime as dt

import pytest
from django.test import Client

from playground.demos import compare
from playground.jobs import events, services
from playground.jobs.models import Job, JobEvent
from trainer.spec import validate_spec

pytestmark = pytest.mark.django_db


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def job_of(owner, **hyperparameters) -> Job:
    return services.create_job(owner, validate_spec({"recipe": "mlp", "hyperparameters": {"epochs": 2, **hyperparameters}}))


def epoch(job: Job, number: int, **logs) -> None:
    events.publish(job.pk, "epoch", {"epoch": number, "epochs": 2, "logs": logs})


def ids(*jobs: Job) -> str:
    return ",".join(str(job.pk) for job in jobs)


def test_it_shows_the_users_jobs_in_the_order_asked_comma_separated_or_repeated(alice):
    first, second, third = job_of(alice), job_of(alice), job_of(alice)
    client = logged_in(alice)

    listed = client.get(f"/compare/?jobs={ids(third, first)},{second.pk}")
    repeated = client.get(f"/compare/?jobs={third.pk}&jobs={first.pk}&jobs={second.pk}&jobs={first.pk}")

    assert listed.status_code == repeated.status_code == 200
    assert [job["id"] for job in listed.context["config"]["jobs"]] == [third.pk, first.pk, second.pk]
    assert [job["id"] for job in repeated.context["config"]["jobs"]] == [third.pk, first.pk, second.pk]
    html = listed.content.decode()
    assert f'href="/jobs/{third.pk}/"' in html and 'id="compare-config"' in html and "js/compare.js" in html


@pytest.mark.parametrize("foreign", ["bobs", "missing", "malformed"])
def test_another_users_missing_or_malformed_id_is_a_404_even_beside_the_users_own(alice, bob, foreign):
    own = job_of(alice)
    wanted = {"bobs": str(job_of(bob).pk), "missing": "987654", "malformed": "12x"}[foreign]

    response = logged_in(alice).get(f"/compare/?jobs={own.pk},{wanted}")

    assert response.status_code == 404
    # Nothing names the foreign id (a bare "5" may occur by chance in the page's CSRF token).
    html = response.content.decode().replace(f"?jobs={own.pk},{wanted}", "")
    assert not re.search(rf"(?<![\w-]){re.escape(wanted)}(?![\w-])", html)


def test_staff_compare_anyones_jobs(alice, make_user):
    staff = make_user("root", staff=True)

    assert logged_in(staff).get(f"/compare/?jobs={job_of(alice).pk}").status_code == 200


def test_more_than_eight_jobs_get_a_message_and_no_chart(alice):
    jobs = [job_of(alice) for _ in range(9)]

    response = logged_in(alice).get(f"/compare/?jobs={ids(*jobs)}")

    assert response.status_code == 400
    html = response.content.decode()
    assert "Compare at most 8 jobs at a time; 9 were chosen." in html
    assert 'id="compare-chart"' not in html and "compare-config" not in html


def test_without_jobs_it_says_how_to_choose_some(alice):
    response = logged_in(alice).get("/compare/")

    assert response.status_code == 200
    assert "Tick up to 8 of your jobs" in response.content.decode()


def test_an_anonymous_visitor_is_asked_to_log_in(client, alice):
    response = client.get(f"/compare/?jobs={job_of(alice).pk}")

    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_settings_that_differ_are_marked_and_name_each_jobs_line(alice):
    slow, fast = job_of(alice, learning_rate=0.001), job_of(alice, learning_rate=0.1)

    response = logged_in(alice).get(f"/compare/?jobs={ids(slow, fast)}")

    rows = {row["name"]: row for row in response.context["settings"]}
    assert [name for name, row in rows.items() if row["differs"]] == ["learning_rate"]
    assert rows["learning_rate"]["values"] == ["0.001", "0.1"] and rows["epochs"]["values"] == ["2", "2"]
    assert list(rows)[:5] == ["recipe", "dataset", "engine", "precision", "strategy"]
    assert {"hidden_layers", "optimizer", "seed"} <= set(rows)
    html = response.content.decode()
    assert '<tr data-setting="learning_rate" class="differs">' in html
    assert '<tr data-setting="epochs">' in html
    labels = [job["label"] for job in response.context["config"]["jobs"]]
    assert labels == [f"#{slow.pk} learning_rate = 0.001", f"#{fast.pk} learning_rate = 0.1"]


def test_every_metric_the_epochs_logged_is_offered_the_usual_ones_first(alice):
    classifier, other = job_of(alice), job_of(alice)
    epoch(classifier, 1, loss=0.9, accuracy=0.6, val_loss=1.0, val_accuracy=0.5)
    epoch(other, 1, loss=0.8, val_loss=0.7, distinct_classes=7.0, fid=3.5)

    config = logged_in(alice).get(f"/compare/?jobs={ids(classifier, other)}").context["config"]

    assert config["metrics"] == ["loss", "val_loss", "accuracy", "val_accuracy", "distinct_classes", "fid"]


def test_epoch_points_start_at_one_with_seconds_since_the_job_started(alice):
    job = job_of(alice)
    started = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.timezone.utc)
    Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING, started_at=started)
    epoch(job, 1, loss=0.9, val_loss=1.0)
    epoch(job, 2, loss=0.5, val_loss=0.6)
    JobEvent.objects.filter(job=job, type="epoch", seq=2).update(created_at=started + dt.timedelta(seconds=3.5))
    JobEvent.objects.filter(job=job, type="epoch", seq=3).update(created_at=started + dt.timedelta(seconds=7.25))

    shown = logged_in(alice).get(f"/compare/?jobs={job.pk}").context["config"]["jobs"][0]

    assert [(p["x"], p["t"], p["logs"]["val_loss"]) for p in shown["epochs"]] == [(1, 3.5, 1.0), (2, 7.25, 0.6)]
    assert shown["after"] == 3 and shown["status"] == "running", "the page follows the running job live from seq 3"
    assert shown["started_ms"] == round(started.timestamp() * 1000)


def test_batch_points_are_thinned_evenly_to_the_cap_keeping_the_first_and_the_last(alice, monkeypatch):
    monkeypatch.setattr(compare, "MAX_BATCH_POINTS", 5)
    job = job_of(alice)
    for step in range(1, 15):
        events.publish(job.pk, "batch", {"epoch": 1 + (step > 7), "step": (step - 1) % 7 + 1, "steps": 7,
                                         "logs": {"n": step, "loss": 1 / step}})

    shown = logged_in(alice).get(f"/compare/?jobs={job.pk}").context["config"]

    points = shown["jobs"][0]["batches"]
    assert [p["logs"]["n"] for p in points] == [1, 4, 7, 10, 14] and shown["jobs"][0]["batch_count"] == 14
    assert [p["x"] for p in points] == [round(1 / 7, 4), round(4 / 7, 4), 1.0, round(1 + 3 / 7, 4), 2.0]
    assert points[-1]["logs"]["loss"] == 0.0714286, "6 significant digits"
    assert shown["batch_metrics"] == ["loss", "n"] and shown["metrics"] == []


def test_the_results_show_final_and_test_metrics_per_job(alice):
    done, failed = job_of(alice), job_of(alice)
    started = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.timezone.utc)
    Job.objects.filter(pk=done.pk).update(
        status=Job.Status.SUCCEEDED, started_at=started, finished_at=started + dt.timedelta(seconds=184),
        metrics={"loss": [0.9, 0.4], "val_accuracy": [0.7, 0.91234]}, best_epoch=2,
        test_metrics={"accuracy": 0.95, "loss": 0.2})
    Job.objects.filter(pk=failed.pk).update(status=Job.Status.FAILED, metrics={"loss": [1.5]})

    rows = {row["name"]: row["values"]
            for row in logged_in(alice).get(f"/compare/?jobs={ids(done, failed)}").context["results"]}

    assert rows["status"] == ["succeeded", "failed"]
    assert rows["epochs"] == ["2", "1"] and rows["best epoch"] == ["2", "–"]
    assert rows["duration"] == ["3 min 4 s", "–"]
    assert rows["final loss"] == ["0.4000", "1.5000"] and rows["final val_accuracy"] == ["0.9123", "–"]
    assert rows["test loss"] == ["0.2000", "–"] and rows["test accuracy"] == ["0.9500", "–"]
    assert list(rows)[-2:] == ["test loss", "test accuracy"]
