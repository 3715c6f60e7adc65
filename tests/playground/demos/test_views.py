"""The home page's job list: a checkbox per job for Compare, accuracy, duration and a Try link."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client

from playground.jobs import services
from playground.jobs.models import Job
from trainer.spec import validate_spec

pytestmark = pytest.mark.django_db
STARTED = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.timezone.utc)


def job_of(owner, recipe: str = "mlp", **fields) -> Job:
    job = services.create_job(owner, validate_spec({"recipe": recipe}))
    Job.objects.filter(pk=job.pk).update(**fields)
    return Job.objects.get(pk=job.pk)


def home_row(html: str, job: Job) -> str:
    return re.search(rf'<tr data-job="{job.pk}".*?</tr>', html, re.S)[0]


def test_each_job_has_a_compare_checkbox_in_a_get_form_to_compare(alice):
    job = job_of(alice)
    client = Client()
    client.force_login(alice)

    html = client.get("/").content.decode()

    assert '<form method="get" action="/compare/" id="compare-form"' in html
    assert f'<input type="checkbox" name="jobs" value="{job.pk}"' in home_row(html, job)
    assert '<button type="submit" id="compare">Compare</button>' in html


def test_a_job_shows_its_test_accuracy_else_its_last_validation_accuracy_else_nothing(alice):
    tested = job_of(alice, status=Job.Status.SUCCEEDED, test_metrics={"accuracy": 0.95123},
                    metrics={"val_accuracy": [0.5, 0.9]})
    validated = job_of(alice, status=Job.Status.RUNNING, metrics={"val_accuracy": [0.5, 0.875]})
    neither = job_of(alice, status=Job.Status.QUEUED)
    client = Client()
    client.force_login(alice)

    html = client.get("/").content.decode()

    assert '<td class="accuracy">0.9512</td>' in home_row(html, tested)
    assert '<td class="accuracy">0.8750</td>' in home_row(html, validated)
    assert '<td class="accuracy"></td>' in home_row(html, neither)


@pytest.mark.parametrize("seconds, shown", [(4.25, "4.2 s"), (12, "12 s"), (184, "3 min 4 s"), (7500, "2 h 5 min")])
def test_a_finished_job_shows_how_long_it_trained(alice, seconds, shown):
    job = job_of(alice, status=Job.Status.SUCCEEDED, started_at=STARTED,
                 finished_at=STARTED + dt.timedelta(seconds=seconds))
    client = Client()
    client.force_login(alice)

    assert f'<td class="duration nowrap">{shown}</td>' in home_row(client.get("/").content.decode(), job)


def test_only_a_succeeded_job_whose_recipe_has_a_try_page_gets_a_try_link(alice):
    tryable = job_of(alice, status=Job.Status.SUCCEEDED)
    running = job_of(alice, status=Job.Status.RUNNING)
    without_page = job_of(alice, recipe="fizzbuzz", status=Job.Status.SUCCEEDED)
    client = Client()
    client.force_login(alice)

    html = client.get("/").content.decode()

    assert f'<a class="try-link" href="/try/digits/{tryable.pk}/">Try</a>' in home_row(html, tryable)
    assert "try-link" not in home_row(html, running) and "try-link" not in home_row(html, without_page)
