"""One job trained through the worker's service per test module, reused by every test of it."""
from __future__ import annotations

import shutil
from pathlib import Path

from playground.jobs import services
from playground.jobs.models import Job
from playground.jobs.reporter import artifact_url
from trainer.spec import validate_spec


class TrainedOnce:
    """The first `job(...)` trains `spec` through services.run_job; later ones copy its row and
    files under a new pk (the database and MEDIA_ROOT are fresh per test)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.saved: dict | None = None

    def job(self, owner, spec: dict) -> Job:
        if self.saved is None:
            job = services.create_job(owner, validate_spec(spec))
            services.run_job(job.pk, "w1")
            job.refresh_from_db()
            assert job.status == "succeeded", job.error
            shutil.copytree(services.job_workdir(job.pk), self.folder)
            self.saved = {"recipe": job.recipe, "dataset": job.dataset, "hyperparameters": job.hyperparameters,
                          "artifacts": job.artifacts, "test_metrics": job.test_metrics}
            return job
        job = Job.objects.create(owner=owner, status=Job.Status.SUCCEEDED, **self.saved)
        job.artifacts = [{**a, "url": artifact_url(job.pk, a["path"])} for a in job.artifacts]  # the new pk
        job.save()
        shutil.copytree(self.folder, services.job_workdir(job.pk))
        return job
