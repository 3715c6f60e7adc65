from __future__ import annotations

import dataclasses
import functools
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from trainer import datasets
from trainer.datasets import DATASETS, DatasetError, RemoteFile, download, fetch, load, md5_of

T10K_IMAGES = "t10k-images-idx3-ubyte.gz"
T10K_LABELS = "t10k-labels-idx1-ubyte.gz"
MNIST_TEST_LABEL_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


class LoopbackServer:
    """A real HTTP server on 127.0.0.1 serving a folder, remembering every request path."""

    def __init__(self, root):
        self.requests: list[str] = []
        server = self

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                super().do_GET()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0),
                                         functools.partial(Handler, directory=str(root)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(tmp_path, mnist_dir):
    root = tmp_path / "www"
    shutil.copytree(mnist_dir, root / "mnist")
    server = LoopbackServer(root)
    yield server
    server.close()


def test_it_downloads_verifies_and_parses_the_real_mnist_test_files(server, tmp_path):
    dest = tmp_path / "cache"
    # The registry's checksums: the copy served here is re-gzipped, so it verifies through
    # the md5 of its decompressed payload rather than the publisher's .gz md5.
    remote = {f.name: f for f in DATASETS["mnist"].files}

    for name in (T10K_IMAGES, T10K_LABELS):
        path = download(server.url + "mnist/" + name, dest / name, remote[name].md5,
                        raw_md5=remote[name].raw_md5)
        assert path == dest / name

    images = datasets.read_idx(dest / T10K_IMAGES)
    labels = datasets.read_idx(dest / T10K_LABELS)
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == MNIST_TEST_LABEL_COUNTS
    assert sorted(p.name for p in dest.iterdir()) == [T10K_IMAGES, T10K_LABELS]


def test_a_checksum_mismatch_names_url_and_checksums_and_leaves_no_file(server, tmp_path):
    url = server.url + "mnist/" + T10K_LABELS
    dest = tmp_path / "cache" / T10K_LABELS

    with pytest.raises(DatasetError) as raised:
        download(url, dest, "0" * 32)

    message = str(raised.value)
    assert url in message and "0" * 32 in message
    assert md5_of(tmp_path / "www" / "mnist" / T10K_LABELS) in message  # the actual md5
    assert list(dest.parent.iterdir()) == []


def test_a_failing_mirror_is_skipped_for_the_next_one(server, tmp_path):
    md5 = md5_of(tmp_path / "www" / "mnist" / T10K_LABELS)
    info = dataclasses.replace(DATASETS["mnist"], files=(RemoteFile(T10K_LABELS, md5),),
                               mirrors=(server.url + "gone/", server.url + "mnist/"))

    folder = fetch(info, tmp_path / "cache")

    assert server.requests == [f"/gone/{T10K_LABELS}", f"/mnist/{T10K_LABELS}"]
    assert md5_of(folder / T10K_LABELS) == md5


def test_an_existing_file_with_the_right_checksum_is_used_without_a_request(server, tmp_path):
    dest = tmp_path / "cache" / T10K_LABELS
    dest.parent.mkdir()
    shutil.copy(tmp_path / "www" / "mnist" / T10K_LABELS, dest)

    download(server.url + "mnist/" + T10K_LABELS, dest, md5_of(dest))

    assert server.requests == []


def test_an_existing_file_with_a_wrong_checksum_is_downloaded_again(server, tmp_path):
    dest = tmp_path / "cache" / T10K_LABELS
    dest.parent.mkdir()
    dest.write_bytes(b"truncated")
    md5 = md5_of(tmp_path / "www" / "mnist" / T10K_LABELS)

    download(server.url + "mnist/" + T10K_LABELS, dest, md5)

    assert server.requests == [f"/mnist/{T10K_LABELS}"] and md5_of(dest) == md5


def test_a_dataset_that_cannot_be_fetched_says_where_it_looked_and_how_to_get_it(
        server, tmp_path, monkeypatch):
    info = dataclasses.replace(DATASETS["mnist"], mirrors=(server.url + "gone/",))
    monkeypatch.setitem(DATASETS, "mnist", info)

    with pytest.raises(DatasetError) as raised:
        load("mnist", tmp_path / "cache")

    message = str(raised.value)
    assert str(tmp_path / "cache" / "mnist") in message
    assert server.url + "gone/train-images-idx3-ubyte.gz" in message and "404" in message
    assert "PLAYGROUND_DATA_DIR" in message


def test_load_builds_28x28x1_images_in_0_1_from_downloaded_idx_files(server, tmp_path, monkeypatch):
    # The shared copy holds the test split only, so it is served for the train split too.
    www = tmp_path / "www" / "mnist"
    shutil.copy(www / T10K_IMAGES, www / "train-images-idx3-ubyte.gz")
    shutil.copy(www / T10K_LABELS, www / "train-labels-idx1-ubyte.gz")
    files = tuple(RemoteFile(path.name, md5_of(path)) for path in www.iterdir())
    monkeypatch.setitem(DATASETS, "mnist", dataclasses.replace(
        DATASETS["mnist"], mirrors=(server.url + "mnist/",), files=files))

    data = load("mnist", tmp_path / "cache")

    assert data.x_train.shape == data.x_test.shape == (10000, 28, 28, 1)
    assert data.x_train.dtype == np.float32
    assert data.x_train.min() == 0.0 and data.x_train.max() == 1.0
    assert data.input_shape == (28, 28, 1) and data.num_classes == 10
    assert np.bincount(data.y_test).tolist() == MNIST_TEST_LABEL_COUNTS


def test_the_registry_accepts_a_regzipped_copy_by_its_decompressed_checksum(mnist_dir):
    remote = {f.name: f for f in DATASETS["mnist"].files}

    for name in (T10K_IMAGES, T10K_LABELS):
        assert md5_of(mnist_dir / name) != remote[name].md5  # a re-gzipped copy ...
        assert md5_of(mnist_dir / name, decompress=True) == remote[name].raw_md5  # same data


def test_digits_loads_offline_with_a_fixed_stratified_split():
    first, second = load("digits"), load("digits")

    assert first.x_train.shape == (1437, 8, 8, 1) and first.x_test.shape == (360, 8, 8, 1)
    assert 0.0 <= first.x_train.min() and first.x_train.max() == 1.0
    assert np.array_equal(first.y_test, second.y_test)
    assert np.bincount(first.y_test).min() >= 35  # every digit is in the test split


def test_fizzbuzz_trains_above_100_and_tests_on_1_to_100():
    data = load("fizzbuzz", num_digits=8)

    assert data.x_train.shape == (255 - 100, 8) and data.x_test.shape == (100, 8)
    assert data.x_test[4].tolist() == [1, 0, 1, 0, 0, 0, 0, 0]  # 5, least significant bit first
    assert data.y_test[[0, 2, 4, 14]].tolist() == [0, 1, 2, 3]  # 1, fizz, buzz, fizzbuzz
    assert data.class_names == ["number", "fizz", "buzz", "fizzbuzz"]


def test_an_unknown_dataset_names_the_known_ones():
    with pytest.raises(DatasetError, match="digits, mnist, fashion_mnist, fizzbuzz"):
        load("cifar100")


def test_a_verified_file_is_not_hashed_again_until_it_changes(tmp_path, monkeypatch):
    import hashlib

    from trainer import datasets

    path = tmp_path / "data.bin"
    path.write_bytes(b"payload")
    md5 = hashlib.md5(b"payload").hexdigest()
    hashed = []
    real = datasets._checksum_matches
    monkeypatch.setattr(datasets, "_checksum_matches", lambda *a: hashed.append(a[0]) or real(*a))

    datasets.download("http://127.0.0.1:9/never", path, md5)
    datasets.download("http://127.0.0.1:9/never", path, md5)  # ensure_files, then the loader
    assert hashed == [path]

    path.write_bytes(b"changed")  # a different size: verified (and refused) again
    with pytest.raises(datasets.DatasetError):
        datasets.download("http://127.0.0.1:9/never", path, md5)
    assert hashed[1:2] == [path]


def test_each_digits_load_has_its_own_arrays():
    first, second = load("digits"), load("digits")

    first.x_train[0] = 99.0  # a job that scribbles on its data

    assert second.x_train.max() <= 1.0 and load("digits").x_train.max() <= 1.0
