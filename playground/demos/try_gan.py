"""The GAN page: the job's exported generator draws digits in the browser; slide between two."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render

from playground.jobs import services


def unavailable_reason(job) -> str:
    """Why this job's generator cannot be tried here ("" when it can), in words a user can act on."""
    if job.recipe != "dcgan":
        return f"Job #{job.pk} trained {job.recipe}; this page runs a generator, so it needs a dcgan job."
    if job.status != job.Status.SUCCEEDED:
        return f"Job #{job.pk} is {job.status}; its generator is exported when it succeeds."
    if not any(a.get("kind") == "tfjs" for a in job.artifacts) or latent_space(job) is None:
        return f"Job #{job.pk} has no TF.js generator to load; train it again to export one."
    return ""


def latent_space(job) -> dict | None:
    return next((a for a in job.artifacts if a.get("kind") == "json" and a.get("variant") == "latent_space"), None)


@login_required
def try_gan(request, pk: int):
    job = get_object_or_404(services.visible_jobs(request.user), pk=pk)
    reason = unavailable_reason(job)
    config = {
        "job": job.pk,
        "dataset": job.dataset,
        "metaUrl": (latent_space(job) or {}).get("url"),
        "variants": {a["variant"]: {"url": a["url"], "bytes": a["bytes"], "confidence": a.get("confidence"),
                                    "maxAbsDiff": a.get("max_abs_diff")}
                     for a in job.artifacts if a.get("kind") == "tfjs"},
        "quality": {k: (job.test_metrics or {}).get(k) for k in ("confidence", "diversity", "judge_accuracy")},
    }
    return render(request, "demos/try_gan.html", {"job": job, "reason": reason, "config": config})
