"""Shared fixtures for trainer tests: tiny real data, specs, a loopback download server."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tests.support.ci import unavailable

import trainer  # noqa: F401  (sets TF_USE_LEGACY_KERAS before anything imports TensorFlow)
from trainer.datasets import Dataset, load
from trainer.spec import JobSpec, validate_spec

REPO = Path(__file__).resolve().parents[2]


def shared_mnist_dir() -> Path:
    """The MNIST test-set copy kept next to the repository for tests (never committed)."""
    root = Path(os.environ.get("PLAYGROUND_SHARED_DATA", REPO.parent / "shared" / "data"))
    return root if (root / "t10k-labels-idx1-ubyte.gz").exists() else root / "mnist"


@pytest.fixture
def mnist_dir() -> Path:
    folder = shared_mnist_dir()
    if not (folder / "t10k-images-idx3-ubyte.gz").exists():
        unavailable(f"MNIST test copy not found in {folder}")
    return folder


@pytest.fixture(scope="session")
def tiny_digits() -> Dataset:
    """240 training and 60 test images of the real sklearn digits: enough to learn a little."""
    digits = load("digits")
    return Dataset("digits", digits.x_train[:240], digits.y_train[:240], digits.x_test[:60],
                   digits.y_test[:60], 10, digits.input_shape, digits.class_names)


def make_spec(recipe: str = "mlp", precision: str = "float32", strategy: str = "default",
              **hyperparameters) -> JobSpec:
    return validate_spec({"recipe": recipe, "hyperparameters": hyperparameters,
                          "precision": precision, "strategy": strategy})


@pytest.fixture
def skip_export(monkeypatch):
    """For tests about training only: export is tested on its own and costs seconds."""
    monkeypatch.setattr("trainer.export.export_model", lambda *args, **kwargs: [])


def random_dataset(n: int = 64, shape=(8, 8, 1), classes: int = 10, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    x = rng.random((n, *shape), dtype=np.float32)
    y = rng.integers(0, classes, n)
    return Dataset("random", x, y, x[:16], y[:16], classes, shape, [str(i) for i in range(classes)])
