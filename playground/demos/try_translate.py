"""The translate page: German in, English out, decoded in the browser with the job's TF.js models."""
from __future__ import annotations

from django.urls import reverse

from playground.demos.try_pages import try_view
from trainer.recipes.seq2seq import EXAMPLES


def unavailable_reason(job) -> str:
    """Why this job cannot translate here ("" when it can), in words a user can act on."""
    if job.recipe != "seq2seq":
        return f"Job #{job.pk} trained {job.recipe}; this page needs a seq2seq (translation) job."
    if job.status != job.Status.SUCCEEDED:
        return f"Job #{job.pk} is {job.status}; its encoder and decoder are exported when it succeeds."
    models = {a.get("model") for a in job.artifacts if a.get("kind") == "tfjs"}
    files = {a.get("variant") for a in job.artifacts if a.get("kind") == "json"}
    if not {"encoder", "decoder"} <= models or not {"source", "target", "settings"} <= files:
        return f"Job #{job.pk} has no TF.js encoder, decoder and vocabularies to load; train it again to export them."
    return ""


def page_config(job) -> dict:
    """What translate.js needs: model URLs per variant, vocabulary and settings URLs, the API."""
    variants: dict[str, dict] = {}
    for artifact in job.artifacts:
        if artifact.get("kind") == "tfjs":
            entry = variants.setdefault(artifact["variant"], {"bytes": 0})
            entry[artifact["model"]] = artifact["url"]
            entry["bytes"] += artifact["bytes"]
            if artifact["model"] == "decoder":
                entry["bleu"] = artifact.get("bleu")
    json_files = {a["variant"]: a["url"] for a in job.artifacts if a.get("kind") == "json"}
    return {
        "job": job.pk,
        "variants": variants,
        "sourceVocab": json_files.get("source"),
        "targetVocab": json_files.get("target"),
        "settings": json_files.get("settings"),
        "translateUrl": reverse("job-translate", args=[job.pk]),
        "testBleu": (job.test_metrics or {}).get("bleu"),
    }


try_translate = try_view("demos/try_translate.html", "js/translate.js", unavailable_reason, page_config,
                         examples=EXAMPLES)
