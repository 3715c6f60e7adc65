"""One-line facts about a job for lists and tables: its accuracy, how long it trained, and the
try page it can be opened on."""
from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse

from playground.jobs.models import Job


def job_accuracy(job: Job) -> float | None:
    """The test accuracy if the job has one, else its last validation accuracy, else None."""
    tested = (job.test_metrics or {}).get("accuracy")
    if isinstance(tested, (int, float)):
        return tested
    validated = (job.metrics or {}).get("val_accuracy") or []
    return validated[-1] if validated and isinstance(validated[-1], (int, float)) else None


def job_duration_s(job: Job) -> float | None:
    """Seconds from the first start to the end; None until the job has finished."""
    if job.started_at is None or job.finished_at is None:
        return None
    return max(0.0, (job.finished_at - job.started_at).total_seconds())


def human_duration(seconds: float | None) -> str:
    """"12 s", "3 min 4 s", "2 h 5 min"; "" for None."""
    if seconds is None:
        return ""
    whole = round(seconds)
    if whole < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


def try_url(job: Job, catalog: dict[str, dict]) -> str:
    """The job's try page (its recipe's `try_page` in the catalog) once it succeeded, else ""."""
    page = catalog.get(job.recipe, {}).get("try_page")
    if not page or job.status != Job.Status.SUCCEEDED:
        return ""
    return reverse(f"try-{page}", args=[job.pk])


@dataclass(frozen=True)
class JobRow:
    """A job as the home page lists it."""

    job: Job
    accuracy: float | None
    duration: str
    try_url: str


def job_rows(jobs, catalog: dict[str, dict]) -> list[JobRow]:
    return [JobRow(job, job_accuracy(job), human_duration(job_duration_s(job)), try_url(job, catalog)) for job in jobs]
