"""MovieLens 100K (GroupLens): 100,000 ratings 1-5 by 943 users on 1,682 movies.

The archive is downloaded from GroupLens with its published md5 into `<data_dir>/movielens_100k/`
and unpacked there. A copy already unpacked as `<data_dir>/ml-100k/` (the archive's own folder
name, the layout of the test copies) or `<data_dir>/movielens_100k/ml-100k/` is used as is.

Splits: "random" (a seeded 80/20 split by rating) or the standard five folds "u1".."u5". The
archive ships u1.base/u1.test...; a copy without them gets them generated exactly the way
GroupLens' mku.sh does: fold i tests on lines (i-1)*20000+1 .. i*20000 of u.data (in file order)
and trains on the other 80,000.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trainer import datasets
from trainer.datasets import DatasetError, DatasetInfo, RemoteFile

NAME = "movielens_100k"
ARCHIVE = RemoteFile("ml-100k.zip", "0e33842e24a9c977be4e0107933c0723")
MIRROR = "https://files.grouplens.org/datasets/movielens/"
HOMEPAGE = "https://grouplens.org/datasets/movielens/100k/"
SPLITS = ("random", "u1", "u2", "u3", "u4", "u5")
FOLD_SIZE = 20_000
TEST_FRACTION = 0.2
GENRES = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
          "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
          "Romance", "Sci-Fi", "Thriller", "War", "Western")


@dataclass
class Ratings:
    """A ratings split ready for training; ids are 0-based (MovieLens id - 1).

    Attributes:
        name: the dataset's name.
        split: "random" or "u1".."u5".
        train: `(users, items, ratings)` arrays (int32, int32, float32).
        test: the same for the held-out ratings.
        num_users: users in the whole dataset (943).
        num_items: movies in the whole dataset (1,682).
        movies: one dict per movie, in item order: `{"id", "title", "year", "genres"}`
            (`id` is the MovieLens id, i.e. item index + 1).
    """

    name: str
    split: str
    train: tuple[np.ndarray, np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray, np.ndarray]
    num_users: int
    num_items: int
    movies: list[dict[str, Any]] = field(default_factory=list)


def find_folder(data_dir: str | os.PathLike | None) -> Path | None:
    """Returns an unpacked ml-100k folder under `data_dir`, or None if there is none yet."""
    root = Path(data_dir if data_dir is not None else datasets.default_data_dir())
    for folder in (root / "ml-100k", root / NAME / "ml-100k"):
        if (folder / "u.data").is_file() and (folder / "u.item").is_file():
            return folder
    return None


def fetch_movielens(info: DatasetInfo, data_dir: str | os.PathLike | None) -> Path:
    """Returns the unpacked ml-100k folder, downloading and unpacking the archive if needed.

    Raises:
        DatasetError: the archive could not be downloaded, verified or unpacked (the message
            says where to put it by hand).
    """
    folder = find_folder(data_dir)
    if folder is not None:
        return folder
    target = datasets.fetch(info, data_dir)  # <data_dir>/movielens_100k/ml-100k.zip, verified
    archive = target / ARCHIVE.name
    try:
        with zipfile.ZipFile(archive) as zipped:
            members = [m for m in zipped.namelist() if m.startswith("ml-100k/") and ".." not in m]
            zipped.extractall(target, members)
    except zipfile.BadZipFile as error:
        raise DatasetError(f"{archive} is not a zip archive ({error}); delete it and retry.") from error
    folder = find_folder(target.parent)
    if folder is None:
        raise DatasetError(f"{archive} has no ml-100k/u.data and u.item; delete it and retry.")
    return folder


def read_ratings(path: str | os.PathLike) -> np.ndarray:
    """Returns u.data-style rows `user, item, rating, timestamp` (int64, ids 1-based, file order)."""
    table = np.loadtxt(path, dtype=np.int64, delimiter="\t", ndmin=2)
    if table.shape[1] != 4:
        raise DatasetError(f"{path} should have 4 tab-separated columns, found {table.shape[1]}.")
    return table


def read_movies(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Returns u.item's movies in id order: `{"id", "title", "year", "genres"}`.

    u.item is latin-1, `|`-separated: id, title, release date, video date, IMDb URL, then 19
    genre flags. The year comes from the release date (e.g. "01-Jan-1995"); None when missing.
    """
    movies = []
    for line in Path(path).read_text(encoding="latin-1").splitlines():
        if not line.strip():
            continue
        fields = line.split("|")
        flags = fields[5:5 + len(GENRES)]
        release = fields[2]
        movies.append({
            "id": int(fields[0]),
            "title": fields[1],
            "year": int(release[-4:]) if release[-4:].isdigit() else None,
            "genres": [genre for genre, flag in zip(GENRES, flags) if flag == "1"],
        })
    movies.sort(key=lambda movie: movie["id"])
    return movies


def mku_fold(table: np.ndarray, fold: int) -> tuple[np.ndarray, np.ndarray]:
    """Returns `(base, test)` of fold 1..5 the way mku.sh cuts u.data (then sorts by user, item)."""
    start, stop = (fold - 1) * FOLD_SIZE, fold * FOLD_SIZE
    test = table[start:stop]
    base = np.concatenate([table[:start], table[stop:]])
    return _sorted(base), _sorted(test)


def _sorted(rows: np.ndarray) -> np.ndarray:
    return rows[np.lexsort((rows[:, 1], rows[:, 0]))]


def split_rows(folder: Path, table: np.ndarray, split: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Returns `(train_rows, test_rows)` for a split name (see the module docstring)."""
    if split == "random":
        order = np.random.default_rng(seed).permutation(len(table))
        n_test = round(len(table) * TEST_FRACTION)
        return table[order[n_test:]], table[order[:n_test]]
    if split not in SPLITS:
        raise DatasetError(f"Unknown MovieLens split {split!r}. Choose one of: {', '.join(SPLITS)}.")
    base, test = folder / f"{split}.base", folder / f"{split}.test"
    if base.is_file() and test.is_file():
        return read_ratings(base), read_ratings(test)
    return mku_fold(table, int(split[1]))


def _columns(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return ((rows[:, 0] - 1).astype(np.int32), (rows[:, 1] - 1).astype(np.int32),
            rows[:, 2].astype(np.float32))


def load_movielens(info: DatasetInfo, data_dir: str | os.PathLike | None = None, *,
                   split: str = "u1", seed: int = 0) -> Ratings:
    """Returns MovieLens 100K as `Ratings`, fetching the archive first if needed.

    Args:
        info: the registry entry.
        data_dir: dataset cache folder.
        split: "random" (seeded 80/20 by rating) or "u1".."u5" (GroupLens' folds).
        seed: seed of the random split.

    Raises:
        DatasetError: unknown split, or the files cannot be fetched or read.
    """
    if split not in SPLITS:
        raise DatasetError(f"Unknown MovieLens split {split!r}. Choose one of: {', '.join(SPLITS)}.")
    folder = fetch_movielens(info, data_dir)
    table = read_ratings(folder / "u.data")
    movies = read_movies(folder / "u.item")
    train, test = split_rows(folder, table, split, seed)
    return Ratings(
        name=info.name, split=split, train=_columns(train), test=_columns(test),
        num_users=int(table[:, 0].max()), num_items=max(len(movies), int(table[:, 1].max())),
        movies=movies,
    )


INFO = datasets.register(DatasetInfo(
    NAME, "MovieLens 100K", (), load_movielens, mirrors=(MIRROR,), files=(ARCHIVE,),
    homepage=HOMEPAGE, local_copy=find_folder, shape=((943, 1_682), 0), train_samples=80_000,
))
