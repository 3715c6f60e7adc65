"""Errors the trainer raises for its callers to show to users."""

from __future__ import annotations


class TrainingFailed(RuntimeError):
    """Training stopped for a reason the user should read, e.g. "loss became NaN at epoch 3"."""
