"""What a translation job serves: the translate page (/try/translate/<id>/, German in, English
out, decoded in the browser with the TF.js encoder and decoder) and POST
/api/v1/jobs/<id>/translate/ (beam search with the Keras models on the server)."""
from __future__ import annotations

from typing import Any

from trainer.serving import Action, ActionRefused, JobView, Page

_HERE = "trainer.recipes.seq2seq.serving"

PAGE = Page(
    name="translate", template="demos/try_translate.html", module="js/translate.js",
    does="translates German to English", exported="its encoder and decoder are exported",
    missing=f"{_HERE}:page_missing", config=f"{_HERE}:page_config",
    context=(("examples", "trainer.recipes.seq2seq:EXAMPLES"),),
)

TRANSLATE = Action(
    name="translate",
    summary="German→English with the job's Keras encoder and decoder (beam search); 409 unless it succeeded.",
    needs="exported encoder and decoder", handler=f"{_HERE}:translate",
    request="trainer.recipes.seq2seq.api:TranslateRequestSerializer",
    response="trainer.recipes.seq2seq.api:TranslateResponse",
)


def page_missing(job: JobView) -> str:
    models = {a.model for a in job.artifacts_of("tfjs")}
    files = {a.variant for a in job.artifacts_of("json")}
    if not {"encoder", "decoder"} <= models or not {"source", "target", "settings"} <= files:
        return f"Job #{job.pk} has no TF.js encoder, decoder and vocabularies to load; train it again to export them."
    return ""


def page_config(job: JobView) -> dict[str, Any]:
    """What translate.js needs: model URLs per variant, vocabulary and settings URLs, the API."""
    variants: dict[str, dict] = {}
    for artifact in job.artifacts_of("tfjs"):
        entry = variants.setdefault(artifact.variant, {"bytes": 0})
        entry[artifact.model] = artifact.url
        entry["bytes"] += artifact.bytes
        if artifact.model == "decoder":
            entry["bleu"] = artifact.metric("bleu")
    json_files = {a.variant: a.url for a in job.artifacts_of("json")}
    return {
        "job": job.pk,
        "variants": variants,
        "sourceVocab": json_files.get("source"),
        "targetVocab": json_files.get("target"),
        "settings": json_files.get("settings"),
        "translateUrl": job.action_url("translate"),
        "testBleu": job.test_metrics.get("bleu"),
    }


def translate(job: JobView, body: dict[str, Any]) -> dict[str, Any]:
    from trainer import inference
    from trainer.recipes.seq2seq import translate_with_export

    if {a.model for a in job.artifacts_of("keras")} < {"encoder", "decoder"}:
        raise ActionRefused(f"Job {job.pk} has no exported encoder and decoder; translation needs a succeeded "
                            f"{job.recipe} job.")
    try:
        result = translate_with_export(job.workdir, body["text"], body["beam_width"])
    except inference.ModelTooLarge as exc:
        raise ActionRefused(str(exc), status=413) from None
    return {**result, "latency_ms": round(result["latency_ms"], 3),
            "ms_per_token": round(result["ms_per_token"], 3), "model": "keras h5"}
