"""The 2-D toy datasets of TensorFlow Playground: circle, xor, gauss and spiral.

Points lie in [-6, 6]²; each dataset is generated from the job's seed, `points`, `noise` (0 to
0.5, the playground's 0–50 %) and `test_ratio`, by TensorFlow Playground's own recipes
(dataset.ts: a disc inside a ring, the signs of x·y, two Gaussian clusters, two interleaved
spirals). Inputs are the chosen `features` of each point (x1, x2, x1², x2², x1·x2, sin x1,
sin x2); the dataset also carries a `probe`: the same features on a GRID × GRID lattice over the
plane, row by row from the top (x2 = 6) and left (x1 = -6), whose outputs draw the decision
boundary and every neuron's picture.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from trainer.datasets import Dataset, DatasetError, DatasetInfo, register

EXTENT = 6.0
GRID = 21
SHAPES = ("circle", "xor", "gauss", "spiral")
FEATURES = {
    "x1": lambda x1, x2: x1,
    "x2": lambda x1, x2: x2,
    "x1_squared": lambda x1, x2: x1 * x1,
    "x2_squared": lambda x1, x2: x2 * x2,
    "x1_x2": lambda x1, x2: x1 * x2,
    "sin_x1": lambda x1, x2: np.sin(x1),
    "sin_x2": lambda x1, x2: np.sin(x2),
}
CLASS_NAMES = ("orange", "blue")  # the playground's colours for -1 and +1


def generate(shape: str, points: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Returns (xy float32 [points, 2], labels int64 0/1) of one toy dataset."""
    n = points // 2
    if shape == "circle":
        radius = 5.0
        r = np.concatenate([rng.uniform(0, radius * 0.5, n), rng.uniform(radius * 0.7, radius, points - n)])
        angle = rng.uniform(0, 2 * np.pi, points)
        xy = np.stack([r * np.sin(angle), r * np.cos(angle)], axis=1)
        jitter = rng.uniform(-radius, radius, (points, 2)) * noise
        labels = (np.hypot(*(xy + jitter).T) < radius * 0.5).astype(np.int64)
    elif shape == "xor":
        xy = rng.uniform(-5, 5, (points, 2))
        xy += np.where(xy > 0, 0.3, -0.3)  # keep points off the axes
        jitter = rng.uniform(-5, 5, (points, 2)) * noise
        labels = ((xy + jitter).prod(axis=1) >= 0).astype(np.int64)
    elif shape == "gauss":
        spread = 0.5 + 3.5 * noise / 0.5  # the playground's lerp(0.5, 4, noise)
        labels = np.concatenate([np.ones(n, np.int64), np.zeros(points - n, np.int64)])
        centres = np.where(labels[:, None] == 1, 2.0, -2.0)
        xy = rng.normal(centres, np.sqrt(spread), (points, 2))
    elif shape == "spiral":
        labels = np.concatenate([np.ones(n, np.int64), np.zeros(points - n, np.int64)])
        i = np.concatenate([np.arange(n), np.arange(points - n)]) / max(n, 1)
        r = i * 5
        t = 1.75 * i * 2 * np.pi + np.where(labels == 1, 0.0, np.pi)
        xy = np.stack([r * np.sin(t), r * np.cos(t)], axis=1) + rng.uniform(-1, 1, (points, 2)) * noise
    else:
        raise DatasetError(f"Unknown 2-D dataset {shape!r}. Choose one of: {', '.join(SHAPES)}.")
    return np.clip(xy, -EXTENT, EXTENT).astype(np.float32), labels


def featurize(xy: np.ndarray, features: list[str]) -> np.ndarray:
    """Returns the chosen features of points `xy` [n, 2] as float32 [n, len(features)]."""
    unknown = [name for name in features if name not in FEATURES]
    if unknown or not features:
        raise DatasetError(f"Features must be some of: {', '.join(FEATURES)}; got {features!r}.")
    x1, x2 = xy[:, 0], xy[:, 1]
    return np.stack([FEATURES[name](x1, x2) for name in features], axis=1).astype(np.float32)


def grid() -> np.ndarray:
    """The probe lattice's points [GRID², 2], row by row from the top-left corner."""
    axis = np.linspace(-EXTENT, EXTENT, GRID, dtype=np.float32)
    x1, x2 = np.meshgrid(axis, axis[::-1])
    return np.stack([x1.ravel(), x2.ravel()], axis=1)


def split(shape: str, *, points: int, noise: float, test_ratio: float, seed: int) -> dict[str, np.ndarray]:
    """The generated points split into train and test ({x_train, y_train, x_test, y_test} as
    plane coordinates), the same for the same arguments: the page draws these points."""
    rng = np.random.default_rng(seed)
    xy, labels = generate(shape, points, noise, rng)
    order = rng.permutation(points)
    test = int(round(points * test_ratio))
    test_idx, train_idx = order[:test], order[test:]
    return {"x_train": xy[train_idx], "y_train": labels[train_idx], "x_test": xy[test_idx], "y_test": labels[test_idx]}


def _loader(shape: str):
    def load(info: DatasetInfo, data_dir: Any, *, points: int = 500, noise: float = 0.0, test_ratio: float = 0.5,
             features: tuple[str, ...] = ("x1", "x2"), seed: int = 42) -> Dataset:
        parts = split(shape, points=points, noise=noise, test_ratio=test_ratio, seed=seed)
        features = list(features)
        dataset = Dataset(shape, featurize(parts["x_train"], features), parts["y_train"],
                          featurize(parts["x_test"], features), parts["y_test"], 2, (len(features),),
                          list(CLASS_NAMES))
        dataset.probe = featurize(grid(), features)
        return dataset
    return load


for _shape in SHAPES:
    register(DatasetInfo(
        _shape, f"{_shape.capitalize()} (2-D, generated)", CLASS_NAMES, _loader(_shape),
        shape=lambda hp: ((len(hp["features"]),), 2),
        train_samples=lambda hp: hp["points"] - int(round(hp["points"] * hp["test_ratio"])),
    ))
