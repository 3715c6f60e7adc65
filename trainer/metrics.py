"""Test-set figures of a classifier from its predicted probabilities: loss and accuracy, the
confusion matrix, the least confident samples and the drill-down (trainer.analysis)."""

from __future__ import annotations

from typing import Any

import numpy as np

LOW_CONFIDENCE_SAMPLES = 10


def score_predictions(probabilities: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Returns test loss (sparse categorical cross-entropy) and accuracy from predictions."""
    picked = probabilities[np.arange(len(labels)), labels]
    loss = -np.mean(np.log(np.clip(picked, 1e-7, 1.0)))
    accuracy = np.mean(np.argmax(probabilities, axis=1) == labels)
    return {"loss": float(loss), "accuracy": float(accuracy)}


def analyse(probabilities: np.ndarray, labels: np.ndarray,
            class_names: list[str], images: np.ndarray | None = None) -> dict[str, Any]:
    """Returns the confusion matrix (rows: true class), the least confident test samples,
    and the drill-down of `trainer.analysis.drill_down` (per-class accuracy, samples with
    images and probabilities per confusion-matrix cell)."""
    from trainer.analysis import drill_down

    num_classes = probabilities.shape[1]
    predicted = np.argmax(probabilities, axis=1)
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    confidence = probabilities[np.arange(len(labels)), predicted]
    least = np.argsort(confidence, kind="stable")[:LOW_CONFIDENCE_SAMPLES]
    return {
        "class_names": list(class_names),
        "confusion_matrix": matrix.tolist(),
        "low_confidence": [
            {"index": int(i), "label": int(labels[i]), "predicted": int(predicted[i]),
             "confidence": float(confidence[i])}
            for i in least
        ],
        **drill_down(probabilities, labels, predicted, least, images),
    }
