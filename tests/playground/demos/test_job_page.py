"""The job page's server side: what it offers depends on what the job has."""
from __future__ import annotations

import pytest

from playground.jobs import services
from playground.jobs.models import Job
from trainer.checkpoint import checkpoint_path

pytestmark = pytest.mark.django_db


@pytest.fixture
def page(client, alice, settings, tmp_path):
    settings.PLAYGROUND_MEDIA_ROOT = tmp_path / "media"
    client.force_login(alice)
    job = Job.objects.create(owner=alice, recipe="mlp", dataset="digits", hyperparameters={"epochs": 2},
                             status="failed", error="MNIST could not be downloaded")
    return lambda: client.get(f"/jobs/{job.pk}/").content.decode(), job


def test_a_job_without_a_checkpoint_offers_no_fork_but_a_retry(page):
    render, job = page

    html = render()

    assert 'id="fork-link"' not in html
    assert 'id="retry"' in html and 'id="retry" class="primary" hidden' not in html


def test_a_job_with_a_best_checkpoint_offers_a_fork_from_it(page):
    render, job = page
    path = checkpoint_path(services.job_workdir(job.pk), "best")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"weights")

    assert f"parent={job.pk}&amp;parent_epoch=best" in render()
