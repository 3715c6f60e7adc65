"""The digits page: draw a digit, the job's TF.js model classifies it in the browser."""
from __future__ import annotations

from django.urls import reverse

from playground.demos.try_pages import try_view
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


def page_config(job) -> dict:
    return {
        "job": job.pk,
        "dataset": job.dataset,
        "classNames": list(DATASETS[job.dataset].class_names),
        "variants": {a["variant"]: {"url": a["url"], "bytes": a["bytes"], "accuracy": a.get("accuracy")}
                     for a in job.artifacts if a.get("kind") == "tfjs"},
        "predictUrl": reverse("job-predict", args=[job.pk]),
    }


try_digits = try_view("demos/try_digits.html", "js/try_digits.js", unavailable_reason, page_config)
