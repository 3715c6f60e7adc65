"""The GAN page, /try/gan/<id>/: the job's exported generator draws digits in the browser, and
a slider walks between two points of its latent space."""
from __future__ import annotations

from typing import Any

from trainer.serving import JobView, Page

PAGE = Page(
    name="gan", template="demos/try_gan.html", module="js/try_gan.js",
    does="runs a generator", exported="its generator is exported",
    missing="trainer.recipes.dcgan.serving:missing", config="trainer.recipes.dcgan.serving:config",
)


def missing(job: JobView) -> str:
    if not job.artifacts_of("tfjs") or job.artifact("json", "latent_space") is None:
        return f"Job #{job.pk} has no TF.js generator to load; train it again to export one."
    return ""


def config(job: JobView) -> dict[str, Any]:
    return {
        "job": job.pk,
        "dataset": job.dataset,
        "metaUrl": job.artifact("json", "latent_space").url,
        "variants": {a.variant: {"url": a.url, "bytes": a.bytes, "confidence": a.metric("confidence"),
                                 "maxAbsDiff": a.metric("max_abs_diff")}
                     for a in job.artifacts_of("tfjs")},
        "quality": {k: job.test_metrics.get(k) for k in ("confidence", "diversity", "judge_accuracy")},
    }
