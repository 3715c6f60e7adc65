"""MovieLens 100K: download + unpack from a loopback server, the mku.sh folds, metadata."""
from __future__ import annotations

import dataclasses
import functools
import os
import shutil
import threading
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from tests.support.ci import unavailable

from tests.trainer.conftest import REPO
from trainer import datasets, movielens
from trainer.datasets import DatasetError, RemoteFile, md5_of

SHARED = Path(os.environ.get("PLAYGROUND_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="module")
def shared_dir() -> Path:
    if not (SHARED / "ml-100k" / "u.data").is_file():
        unavailable(f"MovieLens copy not found in {SHARED / 'ml-100k'}")
    return SHARED


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def archive_server(tmp_path, shared_dir):
    """Serves an ml-100k.zip built from the shared copy (same layout as GroupLens' archive)."""
    www = tmp_path / "www"
    www.mkdir()
    with zipfile.ZipFile(www / "ml-100k.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        for name in ("u.data", "u.item", "u.user", "u.genre", "u.info", "README"):
            archive.write(shared_dir / "ml-100k" / name, f"ml-100k/{name}")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(www)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", md5_of(www / "ml-100k.zip")
    httpd.shutdown()
    httpd.server_close()


def test_it_downloads_verifies_and_unpacks_the_archive_into_the_data_dir(tmp_path, archive_server):
    url, md5 = archive_server
    info = dataclasses.replace(movielens.INFO, mirrors=(url,), files=(RemoteFile("ml-100k.zip", md5),))

    ratings = movielens.load_movielens(info, tmp_path / "data", split="u1")

    assert (tmp_path / "data" / "movielens_100k" / "ml-100k.zip").is_file()
    assert (tmp_path / "data" / "movielens_100k" / "ml-100k" / "u.data").is_file()
    assert len(ratings.train[2]) == 80_000 and len(ratings.test[2]) == 20_000
    assert (ratings.num_users, ratings.num_items) == (943, 1682)


def test_a_wrong_checksum_is_refused_and_leaves_no_files(tmp_path, archive_server):
    url, _ = archive_server
    info = dataclasses.replace(movielens.INFO, mirrors=(url,), files=(RemoteFile("ml-100k.zip", "0" * 32),))

    with pytest.raises(DatasetError, match="Checksum mismatch"):
        movielens.load_movielens(info, tmp_path / "data")

    assert not list((tmp_path / "data").rglob("u.data"))
    assert not list((tmp_path / "data").rglob("*.zip"))


def test_the_registry_knows_the_published_archive_and_its_checksum():
    info = datasets.DATASETS["movielens_100k"]
    assert info.mirrors == ("https://files.grouplens.org/datasets/movielens/",)
    assert info.files == (RemoteFile("ml-100k.zip", "0e33842e24a9c977be4e0107933c0723"),)


def test_fold_u1_is_generated_like_mku_sh_when_the_copy_lacks_it(shared_dir):
    table = movielens.read_ratings(shared_dir / "ml-100k" / "u.data")

    data = datasets.load("movielens_100k", shared_dir, split="u1")

    # mku.sh: u1.test = the first 20,000 lines of u.data, sorted by user then item.
    first = table[:20_000]
    first = first[np.lexsort((first[:, 1], first[:, 0]))]
    assert np.array_equal(data.test[0], first[:, 0] - 1)
    assert np.array_equal(data.test[1], first[:, 1] - 1)
    assert np.array_equal(data.test[2], first[:, 2].astype(np.float32))
    assert len(data.train[2]) == 80_000


def test_the_five_folds_have_disjoint_test_sets_covering_every_rating(shared_dir):
    table = movielens.read_ratings(shared_dir / "ml-100k" / "u.data")
    keys = set()
    for fold in range(1, 6):
        base, test = movielens.mku_fold(table, fold)
        fold_keys = {(u, i) for u, i in test[:, :2].tolist()}
        assert len(base) == 80_000 and not fold_keys & {(u, i) for u, i in base[:, :2].tolist()}
        keys |= fold_keys
    assert len(keys) == 100_000


def test_shipped_fold_files_are_used_when_present(tmp_path, shared_dir):
    folder = tmp_path / "ml-100k"
    shutil.copytree(shared_dir / "ml-100k", folder)
    (folder / "u2.base").write_text("1\t1\t5\t874965758\n2\t3\t4\t874965758\n")
    (folder / "u2.test").write_text("3\t2\t1\t874965758\n")

    data = movielens.load_movielens(movielens.INFO, tmp_path, split="u2")

    assert data.train[1].tolist() == [0, 2] and data.test[2].tolist() == [1.0]


def test_the_random_split_is_seeded_and_holds_out_a_fifth(shared_dir):
    a = datasets.load("movielens_100k", shared_dir, split="random", seed=1)
    b = datasets.load("movielens_100k", shared_dir, split="random", seed=1)
    c = datasets.load("movielens_100k", shared_dir, split="random", seed=2)
    assert len(a.test[2]) == 20_000 and np.array_equal(a.test[1], b.test[1])
    assert not np.array_equal(a.test[1], c.test[1])


def test_movies_keep_titles_years_and_genres(shared_dir):
    data = datasets.load("movielens_100k", shared_dir)
    assert len(data.movies) == 1682
    assert data.movies[0] == {"id": 1, "title": "Toy Story (1995)", "year": 1995,
                              "genres": ["Animation", "Children's", "Comedy"]}
    assert all(movie["id"] == i + 1 for i, movie in enumerate(data.movies))


def test_an_unknown_split_names_the_choices(shared_dir):
    with pytest.raises(DatasetError, match="u1, u2"):
        datasets.load("movielens_100k", shared_dir, split="u9")
