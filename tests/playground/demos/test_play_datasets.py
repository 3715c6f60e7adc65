"""The play form says which datasets download on first use and whether this server has them."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

MNIST_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
               "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def test_the_play_form_marks_datasets_that_download_and_whether_they_are_cached(client, settings, tmp_path):
    settings.PLAYGROUND_DATA_DIR = tmp_path
    (tmp_path / "mnist").mkdir()
    for name in MNIST_FILES:
        (tmp_path / "mnist" / name).write_bytes(b"")

    page = client.get("/play/lenet/").content.decode()

    assert '<option value="mnist">mnist (download: cached here)</option>' in page
    assert '<option value="fashion_mnist">fashion_mnist (download: not cached yet)</option>' in page
    assert '<option value="digits" selected>digits</option>' in page, "offline datasets are not marked"
    assert "without internet access such a job fails at once" in page
