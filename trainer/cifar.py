"""CIFAR-10 (Krizhevsky 2009): 60,000 32x32 colour photos of 10 classes, from the authors'
"python version" archive, and its cars-vs-horses subset for the fine-tuning demo.

The archive (163 MB, md5-checked) is cached under the data dir as
`cifar10/cifar-10-python.tar.gz`; its pickled batches are extracted next to it into
`cifar10/cifar-10-batches-py/` once. Each batch is a dict with `data`, a uint8 array of 10,000
rows of 3072 values (1024 red, 1024 green, 1024 blue, each row-major: CHW order), and
`labels`. The pickles are read with an unpickler that only builds plain containers and numpy
arrays, so a tampered archive cannot run code even if its checksum were bypassed.
"""

from __future__ import annotations

import os
import pickle
import tarfile
from pathlib import Path

import numpy as np

from trainer import datasets

ARCHIVE = "cifar-10-python.tar.gz"
ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"
BATCH_DIR = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
               "truck")
CARS_HORSES = (1, 7)  # automobile, horse: relabelled 0 and 1

# What numpy arrays need to unpickle (numpy 1 and 2 module names), plus the codec call that
# protocol-2 pickles written by Python 3 use for bytes; nothing else is allowed.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR batch")
        return super().find_class(module, name)


def read_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Returns `(images, labels)` of one pickled CIFAR-10 batch: uint8 (N, 32, 32, 3), int64 (N,).

    Raises:
        DatasetError: the file is not a CIFAR-10 batch (or holds anything but arrays).
    """
    try:
        with open(path, "rb") as stream:
            # The batches were pickled by Python 2: its str keys are read as bytes.
            batch = _ArrayUnpickler(stream, encoding="bytes").load()
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except (OSError, pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as error:
        raise datasets.DatasetError(f"{path} is not a CIFAR-10 python batch: {error}") from error
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise datasets.DatasetError(f"{path} holds data of shape {data.shape} and {len(labels)} "
                                    "labels; expected (N, 3072) and N labels.")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def extract_batches(archive: Path, folder: Path) -> Path:
    """Extracts the six batch files of `archive` into `folder/cifar-10-batches-py/` unless
    they are there; returns that folder."""
    target = folder / BATCH_DIR
    wanted = (*TRAIN_BATCHES, TEST_BATCH)
    if all((target / name).is_file() for name in wanted):
        return target
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r:gz") as tar:
        members = {Path(m.name).name: m for m in tar.getmembers()
                   if m.isfile() and Path(m.name).parent.name == BATCH_DIR}
        missing = [name for name in wanted if name not in members]
        if missing:
            raise datasets.DatasetError(f"{archive} lacks {', '.join(missing)}; delete it to "
                                        "download it again.")
        for name in wanted:
            # Written aside and renamed: a worker killed mid-extraction leaves no half batch.
            partial = target / f".{name}.partial"
            with tar.extractfile(members[name]) as source, open(partial, "wb") as out:
                out.write(source.read())
            os.replace(partial, target / name)
    return target


def _load_cifar10(info: datasets.DatasetInfo, data_dir: str | os.PathLike | None) -> datasets.Dataset:
    folder = datasets.fetch(info, data_dir)
    batches = extract_batches(folder / ARCHIVE, folder)
    train = [read_batch(batches / name) for name in TRAIN_BATCHES]
    x_test, y_test = read_batch(batches / TEST_BATCH)
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    return datasets.Dataset(info.name, _scaled(x_train), y_train, _scaled(x_test), y_test,
                            len(CLASS_NAMES), (32, 32, 3), list(CLASS_NAMES))


def _load_cars_horses(info: datasets.DatasetInfo, data_dir: str | os.PathLike | None) -> datasets.Dataset:
    full = datasets.load("cifar10", data_dir)
    return cars_horses(full, info.name)


def cars_horses(full: datasets.Dataset, name: str = "cifar10_cars_horses") -> datasets.Dataset:
    """Returns the automobile and horse images of a CIFAR-10 dataset, labelled 0 and 1: a
    binary task whose model differs from CIFAR-10's only in its last layer (2 outputs, not 10),
    so a fork of a cifar10 job keeps every other layer and gets a fresh head."""
    def subset(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        kept = np.isin(y, CARS_HORSES)
        return x[kept], (y[kept] == CARS_HORSES[1]).astype(np.int64)

    x_train, y_train = subset(full.x_train, full.y_train)
    x_test, y_test = subset(full.x_test, full.y_test)
    return datasets.Dataset(name, x_train, y_train, x_test, y_test, 2, full.input_shape,
                            [CLASS_NAMES[k] for k in CARS_HORSES])


def _scaled(images: np.ndarray) -> np.ndarray:
    return images.astype(np.float32) / 255.0


datasets.register(datasets.DatasetInfo(
    "cifar10", "CIFAR-10 (32x32 colour)", CLASS_NAMES, _load_cifar10,
    mirrors=("https://www.cs.toronto.edu/~kriz/",),
    files=(datasets.RemoteFile(ARCHIVE, ARCHIVE_MD5),),
    homepage="https://www.cs.toronto.edu/~kriz/cifar.html",
    shape=((32, 32, 3), 10), train_samples=50_000,
))
datasets.register(datasets.DatasetInfo(
    "cifar10_cars_horses", "CIFAR-10 automobiles vs horses (32x32 colour)",
    tuple(CLASS_NAMES[k] for k in CARS_HORSES), _load_cars_horses,
    homepage="https://www.cs.toronto.edu/~kriz/cifar.html", derived_from="cifar10",
    shape=((32, 32, 3), 2), train_samples=10_000,
))
