from __future__ import annotations

import pytest

from playground.jobs import leases, services
from playground.jobs.models import Job
from trainer.spec import validate_spec

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, make_user):
    admin = make_user("root", staff=True)
    admin.is_superuser = True
    admin.save()
    client.force_login(admin)
    return client


def test_the_admin_lists_jobs_filtered_by_status_and_recipe(admin_client, alice):
    queued = services.create_job(alice, validate_spec({"recipe": "mlp"}))
    other = services.create_job(alice, validate_spec({"recipe": "fizzbuzz"}))
    services.request_cancel(other)

    page = admin_client.get("/admin/jobs/job/?status__exact=queued&recipe=mlp")

    assert page.status_code == 200
    assert list(page.context["cl"].result_list) == [queued]


def test_the_admin_job_page_shows_its_events_inline(admin_client, alice):
    job = services.create_job(alice, validate_spec({"recipe": "mlp"}))
    leases.acquire(job.pk, "w1")

    page = admin_client.get(f"/admin/jobs/job/{job.pk}/change/")

    assert page.status_code == 200
    assert '"status": "running"' in page.content.decode() or "running" in page.content.decode()
    assert page.context["inline_admin_formsets"][0].formset.queryset.count() == 2


def test_the_admin_cancel_action_cancels_and_reports_finished_ones(admin_client, alice):
    queued = services.create_job(alice, validate_spec({"recipe": "mlp"}))
    done = services.create_job(alice, validate_spec({"recipe": "mlp"}))
    services.request_cancel(done)

    response = admin_client.post(
        "/admin/jobs/job/", {"action": "cancel_jobs", "_selected_action": [queued.pk, done.pk]}, follow=True
    )

    assert Job.objects.get(pk=queued.pk).status == "cancelled"
    assert "Cancel requested for 1 job(s); 1 already finished." in response.content.decode()
