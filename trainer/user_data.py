"""Uploaded datasets: the stored `.npz` layout (this module is its only owner) and its loader.

The web side validates an upload and converts it to arrays (playground/datasets/ingest.py), then
stores `pack(...)`'s bytes through Django's storage; a worker opens that file through the same
storage and hands `load(...)`'s `Dataset` to `trainer.run.train(dataset=...)`. Nothing here
knows where the file lives, so the storage may be a folder or an S3 bucket.

A job names one as `"user:<id>"`; a recipe trains on the kinds in its `Recipe.user_data`.
"""

from __future__ import annotations

import io
from typing import IO

import numpy as np

from trainer.datasets import Dataset, DatasetError

PREFIX = "user:"
KINDS = ("images", "tabular", "ratings")
# The held-out test set: this fraction of each class (at least one sample of a class with two
# or more), chosen by a fixed seed, so every job on the same upload is scored on the same samples.
TEST_FRACTION = 0.2
SPLIT_SEED = 0


def dataset_id(name: str) -> int | None:
    """Returns `<id>` of a dataset name `"user:<id>"`, or None for any other name."""
    if not isinstance(name, str) or not name.startswith(PREFIX):
        return None
    number = name[len(PREFIX):]
    return int(number) if number.isdigit() and not number.startswith("0") else None


def dataset_name(pk: int) -> str:
    """Returns the name a job spec uses for user dataset `pk`: `"user:<pk>"`."""
    return f"{PREFIX}{pk}"


def pack(kind: str, x: np.ndarray, y: np.ndarray, class_names: list[str], **extra: list[str]) -> bytes:
    """Returns the stored form of an uploaded dataset: a compressed `.npz`.

    Args:
        kind: one of KINDS.
        x: images as uint8 (n, height, width, channels), float32 features (n, columns), or
            ratings' (user, item) indexes as int32 (n, 2).
        y: integer class labels (n,), indexes into `class_names`; for ratings, the ratings.
        class_names: the classes, in label order ([] for ratings).
        extra: lists of strings kept beside them (ratings: `users`, `items`, `titles`).
    """
    buffer = io.BytesIO()
    y = y.astype(np.float32) if kind == "ratings" else y.astype(np.int64)
    np.savez_compressed(buffer, kind=np.array(kind), x=x, y=y, class_names=np.array(class_names, dtype=str),
                        **{name: np.array(values, dtype=str) for name, values in extra.items()})
    return buffer.getvalue()


def ratings_split(n: int) -> tuple[np.ndarray, np.ndarray]:
    """`(train_indexes, test_indexes)` of n ratings: TEST_FRACTION of them, seeded."""
    order = np.random.default_rng(SPLIT_SEED).permutation(n)
    held = max(1, round(n * TEST_FRACTION))
    return np.sort(order[held:]), np.sort(order[:held])


def split(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Returns `(train_indexes, test_indexes)`: TEST_FRACTION of each class held out, seeded."""
    rng = np.random.default_rng(SPLIT_SEED)
    train, test = [], []
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        held = max(1, round(len(members) * TEST_FRACTION)) if len(members) >= 2 else 0
        test.append(members[:held])
        train.append(members[held:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def split_sizes(y: np.ndarray) -> tuple[int, int]:
    """Returns `(train_samples, test_samples)` that `load` will give for labels `y`."""
    train, test = split(y)
    return len(train), len(test)


def load(file: IO[bytes] | bytes, name: str) -> Dataset:
    """Returns the stored dataset as a `Dataset` with the deterministic test split of `split`.

    Args:
        file: the `.npz` written from `pack`'s bytes (an open binary file or the bytes).
        name: the name the job knows it by, e.g. "user:7".

    Raises:
        DatasetError: the file is not a dataset this module wrote.
    """
    data = file if isinstance(file, (bytes, bytearray)) else file.read()
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            kind = str(arrays["kind"])
            x, y = arrays["x"], arrays["y"]
            class_names = [str(c) for c in arrays["class_names"]]
            extra = {key: [str(v) for v in arrays[key]] for key in ("users", "items", "titles") if key in arrays}
    except (OSError, ValueError, KeyError) as exc:
        raise DatasetError(f"Dataset {name} is not a readable uploaded dataset ({exc}); upload it again.") from exc
    if kind not in KINDS or len(x) != len(y):
        raise DatasetError(f"Dataset {name} is not a readable uploaded dataset (kind {kind!r}); upload it again.")
    if kind == "ratings":
        return _ratings(name, x, y, extra)
    y = y.astype(np.int64)
    # Images are stored as bytes (4x smaller); training wants [0, 1] floats, as the built-in ones.
    x = x.astype(np.float32) / 255.0 if kind == "images" else x.astype(np.float32)
    train, test = split(y)
    return Dataset(name=name, x_train=x[train], y_train=y[train], x_test=x[test], y_test=y[test],
                   num_classes=len(class_names), input_shape=tuple(int(d) for d in x.shape[1:]),
                   class_names=class_names)


def _ratings(name: str, x: np.ndarray, y: np.ndarray, extra: dict[str, list[str]]):
    """A ratings upload as the recommender's `trainer.movielens.Ratings` (seeded 80/20 split);
    its "movies" are the upload's items, ids 1.. in item order, titled by the title column or
    the item's own id."""
    from trainer.movielens import Ratings

    users, items, titles = extra.get("users", []), extra.get("items", []), extra.get("titles", [])
    train, test = ratings_split(len(y))
    columns = (x[:, 0].astype(np.int32), x[:, 1].astype(np.int32), y.astype(np.float32))
    movies = [{"id": i + 1, "title": (titles[i] if i < len(titles) and titles[i] else item), "year": None,
               "genres": [], "item": item} for i, item in enumerate(items)]
    return Ratings(name=name, split="random", train=tuple(c[train] for c in columns),
                   test=tuple(c[test] for c in columns), num_users=len(users), num_items=len(items), movies=movies)


def preview(file: IO[bytes] | bytes, per_class: int = 8, max_classes: int = 10) -> np.ndarray:
    """Returns a thumbnail grid of an images dataset as uint8 (height, width, channels): one row
    per class (the first `max_classes`), its first `per_class` images, a 2-pixel gap between.

    Raises:
        DatasetError: the file is not an images dataset this module wrote.
    """
    data = file if isinstance(file, (bytes, bytearray)) else file.read()
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            kind, x, y = str(arrays["kind"]), arrays["x"], arrays["y"]
    except (OSError, ValueError, KeyError) as exc:
        raise DatasetError(f"Not a readable uploaded dataset ({exc}).") from exc
    if kind != "images" or x.ndim != 4:
        raise DatasetError(f"A {kind} dataset has no images to preview.")
    height, width, channels = x.shape[1:]
    labels = [int(label) for label in np.unique(y)][:max_classes]
    gap = 2
    grid = np.zeros((len(labels) * (height + gap) - gap, per_class * (width + gap) - gap, channels), np.uint8)
    for row, label in enumerate(labels):
        for column, image in enumerate(x[y == label][:per_class]):
            top, left = row * (height + gap), column * (width + gap)
            grid[top:top + height, left:left + width] = image
    return grid
