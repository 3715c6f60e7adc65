"""The recommend page: a MovieLens user's top 10, similar movies, and your own ratings folded in
in the browser (TF.js), with the server's fold-in one click away for comparison."""
from __future__ import annotations

from django.urls import reverse

from playground.demos.try_pages import try_view


def unavailable_reason(job) -> str:
    """Why this job cannot be tried here ("" when it can), in words a user can act on."""
    if job.recipe != "matrix_factorization":
        return (f"Job #{job.pk} trained {job.recipe}; this page recommends movies, so it needs a "
                "matrix_factorization job on movielens_100k.")
    if job.status != job.Status.SUCCEEDED:
        return f"Job #{job.pk} is {job.status}; its factors are exported when it succeeds."
    variants = {a.get("variant") for a in job.artifacts if a.get("kind") == "json"}
    if not {"factors", "movies"} <= variants:
        return f"Job #{job.pk} has no exported factors; train it again to export them."
    return ""


def page_config(job) -> dict:
    return {
        "job": job.pk,
        "files": {a["variant"]: a["url"] for a in job.artifacts if a.get("kind") == "json"},
        "recommendUrl": reverse("job-recommend", args=[job.pk]),
        "testMetrics": job.test_metrics or {},
    }


try_recommend = try_view("demos/try_recommend.html", "js/recommend.js", unavailable_reason, page_config)
