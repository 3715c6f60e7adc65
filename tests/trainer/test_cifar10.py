"""CIFAR-10: the real archive format served over loopback, the cifar10 recipe, and the cars vs
horses fork with a fresh 2-class head and frozen convolutions."""
from __future__ import annotations

import dataclasses
import io
import os
import pickle
import tarfile

import numpy as np
import pytest

from tests.trainer.test_datasets import LoopbackServer
from trainer import cifar, datasets
from trainer.datasets import DATASETS, DatasetError, RemoteFile, load, md5_of
from trainer.checkpoint import checkpoint_path
from trainer.reporter import ListReporter
from trainer.run import train
from trainer.spec import validate_spec

pytestmark = pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")
PER_BATCH = 24
TINY_HP = {"filters": 4, "blocks": 2, "dense_units": 16, "batch_size": 16, "learning_rate": 0.01}


def generated_images(labels: np.ndarray, seed: int) -> np.ndarray:
    """uint8 (N, 3072) rows in CIFAR's layout whose colour depends on the class: learnable."""
    rng = np.random.default_rng(seed)
    planes = rng.integers(0, 64, (len(labels), 3, 1024))
    planes[np.arange(len(labels)), labels % 3] += 24 * labels[:, None]  # class k brightens plane k % 3
    return planes.reshape(len(labels), 3072).astype(np.uint8)


def batch_bytes(labels: np.ndarray, seed: int) -> bytes:
    # As the real files: a protocol-2 pickle of a dict with byte-string keys (Python 2's str).
    batch = {b"batch_label": b"generated", b"labels": [int(k) for k in labels],
             b"data": generated_images(labels, seed),
             b"filenames": [b"img_%d.png" % i for i in range(len(labels))]}
    return pickle.dumps(batch, protocol=2)


def write_archive(path, batches: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, payload in batches.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))


def labels_for(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).permutation(np.arange(PER_BATCH) % 10)


@pytest.fixture
def archive(tmp_path):
    """A CIFAR-10 python archive in the real format with 24 images per batch."""
    batches = {name: batch_bytes(labels_for(seed), seed)
               for seed, name in enumerate((*cifar.TRAIN_BATCHES, cifar.TEST_BATCH))}
    batches["batches.meta"] = pickle.dumps({b"label_names": [n.encode() for n in cifar.CLASS_NAMES]},
                                           protocol=2)
    path = tmp_path / "www" / cifar.ARCHIVE
    path.parent.mkdir()
    write_archive(path, batches)
    return path


@pytest.fixture
def server(archive):
    server = LoopbackServer(archive.parent)
    yield server
    server.close()


@pytest.fixture
def served_cifar(server, archive, monkeypatch):
    """The registry's cifar10 pointed at the loopback server, with the generated file's md5."""
    monkeypatch.setitem(DATASETS, "cifar10", dataclasses.replace(
        DATASETS["cifar10"], mirrors=(server.url,), files=(RemoteFile(cifar.ARCHIVE, md5_of(archive)),)))
    return server


def test_it_downloads_extracts_and_reads_the_batches_in_hwc_order(served_cifar, tmp_path):
    data = load("cifar10", tmp_path / "cache")

    assert data.x_train.shape == (5 * PER_BATCH, 32, 32, 3) and data.x_test.shape == (PER_BATCH, 32, 32, 3)
    assert data.x_train.dtype == np.float32 and 0.0 <= data.x_train.min() and data.x_train.max() <= 1.0
    assert data.num_classes == 10 and data.input_shape == (32, 32, 3)
    assert data.class_names[1] == "automobile" and data.class_names[7] == "horse"
    assert data.y_test.tolist() == labels_for(5).tolist()
    rows = generated_images(labels_for(0), 0)
    # Pixel (row 2, column 3) of image 4: red, green and blue planes are 1024 values apart.
    pixel = [rows[4, plane * 1024 + 2 * 32 + 3] for plane in range(3)]
    assert np.allclose(data.x_train[4, 2, 3] * 255, pixel)
    extracted = tmp_path / "cache" / "cifar10" / "cifar-10-batches-py"
    assert sorted(p.name for p in extracted.iterdir()) == sorted((*cifar.TRAIN_BATCHES, cifar.TEST_BATCH))


def test_a_second_load_uses_the_cached_archive_without_a_request(served_cifar, tmp_path):
    load("cifar10", tmp_path / "cache")
    load("cifar10", tmp_path / "cache")

    assert served_cifar.requests == [f"/{cifar.ARCHIVE}"]


def test_an_archive_with_the_wrong_md5_is_refused_with_both_checksums_and_not_kept(
        server, archive, tmp_path, monkeypatch):
    # The registry's real md5 against the generated archive: a corrupt or substituted download.
    monkeypatch.setitem(DATASETS, "cifar10", dataclasses.replace(DATASETS["cifar10"], mirrors=(server.url,)))

    with pytest.raises(DatasetError) as raised:
        load("cifar10", tmp_path / "cache")

    message = str(raised.value)
    assert "Checksum mismatch" in message and server.url + cifar.ARCHIVE in message
    assert cifar.ARCHIVE_MD5 in message and md5_of(archive) in message
    assert "PLAYGROUND_DATA_DIR" in message
    assert list((tmp_path / "cache" / "cifar10").iterdir()) == []


def test_cars_vs_horses_keeps_automobiles_and_horses_labelled_0_and_1(served_cifar, tmp_path):
    full = load("cifar10", tmp_path / "cache")

    pair = load("cifar10_cars_horses", tmp_path / "cache")

    assert pair.num_classes == 2 and pair.class_names == ["automobile", "horse"]
    assert pair.y_train.tolist() == [int(k == 7) for k in full.y_train if k in (1, 7)]
    assert np.array_equal(pair.x_test, full.x_test[np.isin(full.y_test, (1, 7))])


def test_a_batch_that_unpickles_anything_but_arrays_is_refused(tmp_path):
    class Payload:
        def __reduce__(self):
            return (os.getcwd, ())

    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": Payload(), b"labels": []}, protocol=2))

    with pytest.raises(DatasetError, match="refusing to load posix.getcwd"):
        cifar.read_batch(path)


def tiny_cifar(n: int = 160, seed: int = 0) -> datasets.Dataset:
    labels = np.arange(n) % 10
    images = generated_images(labels, seed).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1) / np.float32(255)
    return datasets.Dataset("cifar10", images, labels, images[:40], labels[:40], 10, (32, 32, 3),
                            list(cifar.CLASS_NAMES))


def cifar_spec(dataset: str = "cifar10", **hyperparameters):
    return validate_spec({"recipe": "cifar10", "dataset": dataset,
                          "hyperparameters": {**TINY_HP, **hyperparameters}})


def test_the_recipe_stacks_conv_bn_relu_pairs_and_pools_down_to_4x4():
    from trainer.recipes import RECIPES

    recipe = RECIPES["cifar10"]
    model = recipe.build(recipe.defaults(), (32, 32, 3), 10)

    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds.count("Conv2D") == 6 and kinds.count("BatchNormalization") == 6
    assert kinds[:3] == ["Conv2D", "BatchNormalization", "ReLU"]
    assert model.get_layer(index=kinds.index("Flatten")).input_shape == (None, 4, 4, 128)
    assert model.output_shape == (None, 10)


def test_it_trains_on_tiny_cifar_data_and_exports_for_tfjs(tmp_path):
    reporter = ListReporter()

    result = train(cifar_spec(epochs=2), reporter, tmp_path, dataset=tiny_cifar(), batch_interval=0,
                   tensorboard=False)

    assert result["status"] == "succeeded" and result["epochs_run"] == 2
    assert [e["epoch"] for e in reporter.of_type("epoch")] == [1, 2]
    assert np.array(result["analysis"]["confusion_matrix"]).shape == (10, 10)
    variants = {a["variant"] for a in result["artifacts"] if a["kind"] == "tfjs"}
    assert variants == {"float32", "float16", "uint8"}
    assert (tmp_path / "tfjs" / "float32" / "model.json").exists()


def test_cars_vs_horses_forks_a_cifar10_job_with_a_fresh_head_and_frozen_convolutions(tmp_path, skip_export):
    parent = tmp_path / "parent"
    train(cifar_spec(epochs=1), ListReporter(), parent, dataset=tiny_cifar(), batch_interval=0, tensorboard=False)
    reporter = ListReporter()

    result = train(cifar_spec("cifar10_cars_horses", epochs=2), reporter, tmp_path / "fork",
                   dataset=cifar.cars_horses(tiny_cifar(seed=1)), batch_interval=0, tensorboard=False,
                   initial_weights=checkpoint_path(parent, 1), freeze="all_but_last")

    assert result["status"] == "succeeded" and result["epochs_run"] == 2
    assert np.array(result["analysis"]["confusion_matrix"]).shape == (2, 2)
    with np.load(checkpoint_path(parent, 1)) as before, \
            np.load(checkpoint_path(tmp_path / "fork", 2)) as after:
        n = sum(k.startswith("arr_") for k in before.files)
        body = [np.array_equal(before[f"arr_{i}"], after[f"arr_{i}"]) for i in range(n - 2)]
        head_shapes = [after[f"arr_{i}"].shape for i in (n - 2, n - 1)]
    # Convolutions, batch norms (moving statistics included) and the dense layer: untouched.
    assert all(body)
    assert head_shapes == [(TINY_HP["dense_units"], 2), (2,)]
    messages = [e["message"] for e in reporter.of_type("log")]
    assert any("starts from fresh weights" in m for m in messages)
    assert any("frozen layers" in m for m in messages)
