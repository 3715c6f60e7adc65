"""What a pre-trained ImageNet job serves: the classify page (/try/classify/<id>/, also
/classify/ for the newest one) and POST /api/v1/jobs/<id>/classify/: a photo's top ImageNet
classes from the job's exported Keras model, with the forward pass's latency."""
from __future__ import annotations

import base64
import binascii
import io
import json
from typing import Any

import numpy as np

from trainer.serving import Action, ActionRefused, JobView, Page

_HERE = "trainer.recipes.imagenet.serving"
TOP = 5
MAX_PIXELS = 50_000_000

PAGE = Page(
    name="classify", template="demos/try_classify.html", module="js/classify.js",
    does="labels photos with ImageNet classes", exported="its TF.js models are exported",
    missing=f"{_HERE}:page_missing", config=f"{_HERE}:page_config",
    landing="classify/", landing_note=f"{_HERE}:weights_note",
)

CLASSIFY = Action(
    name="classify",
    summary="A photo's top ImageNet classes from a pre-trained CNN, computed on the server.",
    needs="the exported model", handler=f"{_HERE}:classify_for_job",
    request="trainer.recipes.imagenet.api:ClassifyRequestSerializer",
    response="trainer.recipes.imagenet.api:ClassifyResponse",
)


def weights_note(data_dir) -> str:
    """Which ImageNet weights this server has, and how a job gets the others."""
    from trainer import pretrained

    parts = [f"{row['title']}: {'cached here' if row['cached'] else 'not here yet'}"
             for row in pretrained.status(data_dir)]
    return ("; ".join(parts) + ". A job fetches missing weights from Keras' download site (checked against their "
            "published hash); where the server cannot reach it, run `python manage.py fetch_pretrained` "
            "where it can and copy the files into " + str(pretrained.cache_dir(data_dir)) + ".")


def page_missing(job: JobView) -> str:
    if not job.artifacts_of("tfjs") or job.artifact("json", "labels") is None:
        return f"Job #{job.pk} has no TF.js model and class names to load; run it again to export them."
    return ""


def _labels(job: JobView) -> dict[str, Any]:
    artifact = job.artifact("json", "labels")
    if artifact is None or job.artifact("keras") is None:
        raise ActionRefused(f"Job {job.pk} has no exported model and class names; classifying needs a "
                            f"succeeded {job.recipe} job.")
    return json.loads((job.workdir / artifact.path).read_text())


def page_config(job: JobView) -> dict[str, Any]:
    return {
        "job": job.pk,
        "variants": {a.variant: {"url": a.url, "bytes": a.bytes} for a in job.artifacts_of("tfjs")},
        "labelsUrl": job.artifact("json", "labels").url,
        "classifyUrl": job.action_url("classify"),
    }


def decode_image(data_url: str, size: int) -> np.ndarray:
    """A data URL's (or bare base64's) PNG/JPEG/WebP as RGB pixels (size, size, 3) in 0..255: the
    centred square, resized, as the page does it.

    Raises:
        ActionRefused(400): not base64, or not an image Pillow can read.
    """
    from PIL import Image, UnidentifiedImageError

    payload = data_url.split(",", 1)[1] if data_url.startswith("data:") else data_url
    try:
        raw = base64.b64decode(payload, validate=True)
        with Image.open(io.BytesIO(raw)) as image:
            if image.width * image.height > MAX_PIXELS:  # a small file can decode to gigabytes
                raise ActionRefused(f"image: {image.width}x{image.height} pixels; at most {MAX_PIXELS:,} "
                                    "(a 50-megapixel photo) are decoded.", 413)
            image = image.convert("RGB")
            side = min(image.size)
            left, top = (image.width - side) // 2, (image.height - side) // 2
            square = image.crop((left, top, left + side, top + side)).resize((size, size), Image.BILINEAR)
            return np.asarray(square, dtype=np.float32)
    except (binascii.Error, ValueError):
        raise ActionRefused("image: not base64 (send a data: URL or base64 of a PNG, JPEG or WebP file).", 400) from None
    except (UnidentifiedImageError, OSError) as exc:
        raise ActionRefused(f"image: not a PNG, JPEG or WebP image Pillow can read ({exc}).", 400) from None


def classify_for_job(job: JobView, body: dict[str, Any]) -> dict[str, Any]:
    from trainer import inference, pretrained

    labels = _labels(job)
    pixels = decode_image(body["image"], labels["size"])
    batch = pretrained.preprocess(pixels[None], labels["model"])
    prediction = inference.predict(job.workdir / job.artifact("keras").path, batch)
    probabilities = prediction.probabilities[0]
    top = np.argsort(-probabilities)[: body.get("top", TOP)]
    return {
        "model": labels["model"],
        "top": [{"class": int(i), "label": labels["classes"][i], "probability": float(probabilities[i])} for i in top],
        "latency_ms": prediction.latency_ms,
    }
