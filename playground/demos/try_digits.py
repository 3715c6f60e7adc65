"""The digits page: draw a digit, the job's TF.js model classifies it in the browser."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render
from django.urls import reverse

from playground.jobs import services
from trainer.datasets import DATASETS

IMAGE_DATASETS = ("digits", "mnist", "fashion_mnist")


def unavailable_reason(job) -> str:
    """Why this job's models cannot be tried here ("" when they can), in words a user can act on."""
    if job.dataset not in IMAGE_DATASETS:
        return (f"Job #{job.pk} trained {job.recipe} on {job.dataset}; this page draws images, so it needs an "
                f"mlp or lenet job on {', '.join(IMAGE_DATASETS)}.")
    if job.status != job.Status.SUCCEEDED:
        return f"Job #{job.pk} is {job.status}; its TF.js models are exported when it succeeds."
    if not any(a.get("kind") == "tfjs" for a in job.artifacts):
        return f"Job #{job.pk} has no TF.js models to load; train it again to export them."
    return ""


@login_required
def try_digits(request, pk: int):
    job = get_object_or_404(services.visible_jobs(request.user), pk=pk)
    reason = unavailable_reason(job)
    config = {
        "job": job.pk,
        "dataset": job.dataset,
        "classNames": list(DATASETS[job.dataset].class_names) if not reason else [],
        "variants": {a["variant"]: {"url": a["url"], "bytes": a["bytes"], "accuracy": a.get("accuracy")}
                     for a in job.artifacts if a.get("kind") == "tfjs"},
        "predictUrl": reverse("job-predict", args=[job.pk]),
    }
    return render(request, "demos/try_digits.html", {"job": job, "reason": reason, "config": config})
