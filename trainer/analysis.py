"""Drill-down data for a classifier's test set: per-class accuracy, the least confident
samples and a few samples per confusion-matrix cell, each with a small PNG to show."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np

CELL_SAMPLES = 6


def image_data_url(image: np.ndarray, *, min_side: int = 32) -> str | None:
    """Returns a grayscale/RGB PNG data URL for one image in [0, 1], or None if `image` is
    not an image (e.g. fizzbuzz's bit vectors). Small images are scaled up (nearest) so
    an 8x8 digit stays legible without CSS scaling blurring it."""
    from PIL import Image

    array = np.asarray(image, dtype=np.float32)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] != 3):
        return None
    pixels = (np.clip(array, 0.0, 1.0) * 255).astype(np.uint8)
    picture = Image.fromarray(pixels)
    scale = max(1, -(-min_side // min(pixels.shape[:2])))
    if scale > 1:
        picture = picture.resize((pixels.shape[1] * scale, pixels.shape[0] * scale), Image.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def drill_down(probabilities: np.ndarray, labels: np.ndarray, predicted: np.ndarray,
               least: np.ndarray, images: np.ndarray | None,
               cell_samples: int = CELL_SAMPLES) -> dict[str, Any]:
    """Returns the analysis keys added to `trainer.run.analyse`'s matrix.

    Args:
        probabilities: (n, classes) test-set predictions.
        labels: true classes.
        predicted: argmax classes.
        least: indices of the least confident samples, least first.
        images: the test inputs (images get a PNG), or None.
        cell_samples: samples kept per confusion-matrix cell (least confident first).

    Returns:
        `{"per_class_accuracy": [float|None], "samples": {index: {...}},
        "cells": {"true,predicted": [index, ...]}}`; samples referenced by `low_confidence`
        and `cells` are stored once, with their image (or None) and full probabilities.
    """
    num_classes = probabilities.shape[1]
    per_class = []
    for k in range(num_classes):
        mask = labels == k
        per_class.append(float(np.mean(predicted[mask] == k)) if mask.any() else None)
    confidence = probabilities[np.arange(len(labels)), predicted]
    cells: dict[str, list[int]] = {}
    # Least confident first inside each cell: on the diagonal those are the near misses.
    for i in np.argsort(confidence, kind="stable"):
        key = f"{int(labels[i])},{int(predicted[i])}"
        if len(cells.setdefault(key, [])) < cell_samples:
            cells[key].append(int(i))
    wanted = sorted({int(i) for i in least} | {i for ids in cells.values() for i in ids})
    samples = {
        str(i): {
            "index": i, "label": int(labels[i]), "predicted": int(predicted[i]),
            "confidence": float(confidence[i]),
            "probabilities": [round(float(p), 5) for p in probabilities[i]],
            "image": image_data_url(images[i]) if images is not None else None,
        }
        for i in wanted
    }
    return {"per_class_accuracy": per_class, "cells": cells, "samples": samples}


def learning_warnings(accuracy: float, labels: np.ndarray, num_classes: int,
                      losses: list[float]) -> list[dict[str, str]]:
    """Returns `[{"code", "message"}]` for a trained classifier that learned nothing.

    "At chance level" is a test accuracy within 10 % of the remaining headroom above the best
    blind guess (always the most common class, at least 1/num_classes): an sgd at learning
    rate 10 reached loss 8.1e15 and then sat at 0.10 on 10 balanced classes. A training loss far
    above a blind guess's points at the learning rate.

    Args:
        accuracy: test-set accuracy.
        labels: test-set labels (for the most common class's share).
        num_classes: classes the model predicts.
        losses: the training loss per epoch.
    """
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_classes)
    chance = max(1.0 / num_classes, float(counts.max() / max(counts.sum(), 1)))
    if accuracy > chance + 0.1 * (1.0 - chance):
        return []
    # A uniform guess scores ln(num_classes); an epoch far above that blew up.
    blind = float(np.log(num_classes))
    peak = max((loss for loss in losses if np.isfinite(loss)), default=0.0)
    hint = (f"the training loss reached {peak:.3g} (a blind guess scores {blind:.3g}): the learning rate "
            "may be too high" if peak > 3 * blind else
            "the learning rate may be too high or too low, or the model may need more epochs")
    return [{"code": "chance_level",
             "message": f"Test accuracy {accuracy:.3f} is at chance level ({chance:.3f} by always guessing "
                        f"the most common class): the network learned nothing; {hint}."}]
