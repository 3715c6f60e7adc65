"""The GAN page: the job's exported generator draws digits in the browser; slide between two."""
from __future__ import annotations


from playground.demos.try_pages import try_view


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


def page_config(job) -> dict:
    return {
        "job": job.pk,
        "dataset": job.dataset,
        "metaUrl": (latent_space(job) or {}).get("url"),
        "variants": {a["variant"]: {"url": a["url"], "bytes": a["bytes"], "confidence": a.get("confidence"),
                                    "maxAbsDiff": a.get("max_abs_diff")}
                     for a in job.artifacts if a.get("kind") == "tfjs"},
        "quality": {k: (job.test_metrics or {}).get(k) for k in ("confidence", "diversity", "judge_accuracy")},
    }


try_gan = try_view("demos/try_gan.html", "js/try_gan.js", unavailable_reason, page_config)
