"""The race pages: a sweep's lines are named by their values; /races/ lists races and sweeps."""
from __future__ import annotations

import pytest
from django.test import Client

from playground.jobs import services
from playground.jobs.models import Job, JobGroup
from trainer.spec import validate_spec

pytestmark = pytest.mark.django_db


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def group_of(owner, kind: str, hyperparameters: list[dict], vary: str = "", recipe: str = "mlp") -> JobGroup:
    group = JobGroup.objects.create(owner=owner, kind=kind, vary=vary)
    for values in hyperparameters:
        services.create_job(owner, validate_spec({"recipe": recipe, "hyperparameters": values}), group=group)
    return group


def test_a_sweeps_race_page_labels_each_job_by_its_value(alice):
    sweep = group_of(alice, JobGroup.KIND_SWEEP, [{"learning_rate": lr} for lr in (0.001, 0.01)], vary="learning_rate")

    page = logged_in(alice).get(f"/races/{sweep.pk}/")

    assert page.status_code == 200
    config = page.context["config"]
    assert (config["kind"], config["vary"]) == ("sweep", "learning_rate")
    assert [job["label"] for job in config["jobs"]] == ["learning_rate = 0.001", "learning_rate = 0.01"]
    html = page.content.decode()
    assert "Sweep over learning_rate" in html and '<td class="racer">learning_rate = 0.01</td>' in html
    ids = ",".join(str(job.pk) for job in sweep.jobs.order_by("id"))
    assert f'href="/compare/?jobs={ids}"' in html


def test_an_optimizer_races_page_still_labels_its_jobs_by_optimizer(alice):
    race = group_of(alice, JobGroup.KIND_RACE, [{"optimizer": name} for name in ("sgd", "adam")])

    config = logged_in(alice).get(f"/races/{race.pk}/").context["config"]

    assert [job["label"] for job in config["jobs"]] == ["sgd", "adam"]


def test_the_race_list_shows_the_users_races_and_sweeps_newest_first(alice, bob):
    race = group_of(alice, JobGroup.KIND_RACE, [{"optimizer": name} for name in ("sgd", "adam")])
    sweep = group_of(alice, JobGroup.KIND_SWEEP, [{"batch_size": n} for n in (16, 32, 64)], vary="batch_size")
    first = sweep.jobs.order_by("id").first()
    Job.objects.filter(pk=first.pk).update(status=Job.Status.SUCCEEDED)
    bobs = group_of(bob, JobGroup.KIND_RACE, [{"optimizer": name} for name in ("sgd", "rmsprop")])

    page = logged_in(alice).get("/races/")

    assert page.status_code == 200
    rows = page.context["rows"]
    assert [row["group"].pk for row in rows] == [sweep.pk, race.pk], "newest first, not Bob's"
    assert [row["title"] for row in rows] == ["Sweep over batch_size", "Optimizer race"]
    assert [row["varies"] for row in rows] == ["batch_size: 16, 32, 64", "optimizer: sgd, adam"]
    assert rows[0]["statuses"] == [("queued", 2), ("succeeded", 1)]
    html = page.content.decode()
    ids = ",".join(str(job.pk) for job in sweep.jobs.order_by("id"))
    assert f'<a class="compare-link" href="/compare/?jobs={ids}">Compare</a>' in html
    assert f'href="/races/{sweep.pk}/"' in html and "mlp on digits" in html
    assert f'href="/races/{bobs.pk}/"' not in html


def test_the_race_list_asks_an_anonymous_visitor_to_log_in(client):
    response = client.get("/races/")

    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
