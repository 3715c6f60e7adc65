"""Dataset registry: offline digits, downloaded MNIST/Fashion-MNIST, generated FizzBuzz.

Downloads are checksummed and cached under a data directory; a file already there with the
right checksum is used as is, so a pre-filled directory works without any network.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import logging
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

logger = logging.getLogger(__name__)

DEFAULT_DATA_DIR = Path("~/.cache/playground/data")
DOWNLOAD_TIMEOUT_S = 60
_CHUNK = 1 << 20


class DatasetError(RuntimeError):
    """A dataset could not be found, downloaded or verified; the message says what to do."""


@dataclass
class Dataset:
    """Arrays ready for training: images scaled to [0, 1], integer class labels."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    input_shape: tuple[int, ...]
    class_names: list[str]
    # Inputs the model is also run on after each epoch, whose outputs (every Dense layer's) go
    # out as the `probe` of a sample event: the 2-D datasets' lattice, for pictures of the plane.
    probe: np.ndarray | None = None


@dataclass(frozen=True)
class RemoteFile:
    """One published file and its checksums.

    Two checksums are accepted: the md5 of the published .gz (as torchvision verifies it) and
    the md5 of its decompressed payload. The second lets a copy that was re-gzipped (same data,
    different gzip header/compression, so a different .gz md5) still be verified instead of
    being rejected or trusted blindly; both were cross-checked against several public loaders.
    """

    name: str
    md5: str
    raw_md5: str | None = None


@dataclass(frozen=True)
class DatasetInfo:
    """Registry entry: where a dataset comes from and how to turn it into a `Dataset`."""

    name: str
    title: str
    class_names: tuple[str, ...]
    loader: Callable[..., Dataset]
    mirrors: tuple[str, ...] = ()
    files: tuple[RemoteFile, ...] = ()
    homepage: str = ""
    # A dataset carved out of another (cifar10_cars_horses of cifar10) needs that one's files.
    derived_from: str = ""
    # Finds a usable copy other than `files` (MovieLens unpacked by hand): data_dir -> path or None.
    local_copy: Callable[[Any], Any] | None = None
    # Facts the web process needs without loading the data (a test checks them against the
    # loaders): (input_shape, num_classes) for sizing a job's model (multi30k_de_en: its largest
    # vocabularies; movielens_100k: users and movies), and the training samples per epoch for
    # the quota on epochs × samples: a number, or a function of the job's hyperparameters for a
    # generated dataset (FizzBuzz's size follows num_digits).
    shape: tuple[tuple[int, ...], int] | Callable[[dict[str, Any]], tuple] | None = None
    train_samples: int | Callable[[dict[str, Any]], int] | None = None

    def shape_for(self, hyperparameters: dict[str, Any]) -> tuple[tuple[int, ...], int] | None:
        """`(input_shape, num_classes)` of a job with these hyperparameters; None: unknown."""
        return self.shape(hyperparameters) if callable(self.shape) else self.shape

    def samples_per_epoch(self, hyperparameters: dict[str, Any]) -> int | None:
        """Training samples per epoch of a job with these hyperparameters; None: unknown."""
        if callable(self.train_samples):
            return self.train_samples(hyperparameters)
        return self.train_samples


def default_data_dir() -> Path:
    """Returns the dataset cache used when no data_dir is given (~/.cache/playground/data)."""
    return DEFAULT_DATA_DIR.expanduser()


def md5_of(path: str | os.PathLike, *, decompress: bool = False) -> str:
    """Returns the md5 hex digest of a file (of its gunzipped payload if `decompress`)."""
    digest = hashlib.md5()
    opener = gzip.open if decompress else open
    with opener(path, "rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _checksum_matches(path: Path, md5: str, raw_md5: str | None) -> tuple[bool, str]:
    actual = md5_of(path)
    if actual == md5:
        return True, actual
    if raw_md5 is not None:
        try:
            if md5_of(path, decompress=True) == raw_md5:
                return True, actual
        except (OSError, EOFError, gzip.BadGzipFile):
            pass  # not a gzip file at all: the .gz md5 mismatch stands
    return False, actual


# Files this process has verified, by (size, mtime): a job checks its files before TensorFlow
# starts (ensure_files) and its loader again; the md5 of CIFAR-10's 170 MB is not read twice.
_verified: dict[Path, tuple[int, int]] = {}


def _stat_key(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def download(url: str, dest_path: str | os.PathLike, md5: str, *,
             raw_md5: str | None = None) -> Path:
    """Downloads `url` to `dest_path` unless a verified copy is already there.

    The body is streamed to a temporary file next to the destination, verified, then renamed
    into place, so an interrupted or corrupt download never leaves a partial file behind.

    Args:
        url: where to fetch the file from.
        dest_path: final location of the file.
        md5: expected md5 of the file as published.
        raw_md5: also accepted: md5 of the gunzipped payload (see `RemoteFile`).

    Returns:
        The destination path.

    Raises:
        DatasetError: the request failed, or the checksum did not match (naming the URL,
            the expected and the actual md5).
    """
    dest = Path(dest_path)
    if dest.is_file() and (_verified.get(dest) == _stat_key(dest) or _checksum_matches(dest, md5, raw_md5)[0]):
        _verified[dest] = _stat_key(dest)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(
            url, timeout=DOWNLOAD_TIMEOUT_S
        ) as response:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
        ok, actual = _checksum_matches(tmp, md5, raw_md5)
        if not ok:
            expected = md5 if raw_md5 is None else f"{md5} (or {raw_md5} decompressed)"
            raise DatasetError(
                f"Checksum mismatch for {url}: expected md5 {expected}, got {actual}."
            )
        os.replace(tmp, dest)
        _verified[dest] = _stat_key(dest)
    except (urllib.error.URLError, OSError) as error:
        raise DatasetError(f"Could not download {url}: {error}") from error
    finally:
        tmp.unlink(missing_ok=True)
    logger.info("Downloaded %s to %s", url, dest)
    return dest


def fetch(info: DatasetInfo, data_dir: str | os.PathLike | None = None) -> Path:
    """Makes sure every file of `info` is in `data_dir/<name>/`, trying mirrors in order.

    Returns:
        The dataset's folder.

    Raises:
        DatasetError: saying which URLs failed and where to put the files by hand.
    """
    folder = Path(data_dir if data_dir is not None else default_data_dir()) / info.name
    for remote in info.files:
        failures = []
        for mirror in info.mirrors:
            try:
                download(mirror + remote.name, folder / remote.name, remote.md5,
                         raw_md5=remote.raw_md5)
                break
            except DatasetError as error:
                failures.append(str(error))
        else:
            names = ", ".join(f.name for f in info.files)
            raise DatasetError(
                f"{info.title} file {remote.name} is not in {folder} and could not be "
                f"downloaded:\n  " + "\n  ".join(failures) + "\n"
                f"Download {names} from {info.homepage or info.mirrors[0]} into {folder} "
                f"(or point PLAYGROUND_DATA_DIR at a folder holding {info.name}/)."
            )
    return folder


def _source(name: str) -> DatasetInfo | None:
    """The registry entry whose files `name` needs, or None for an offline/generated one."""
    info = DATASETS.get(name)
    while info is not None and info.derived_from:
        info = DATASETS.get(info.derived_from)
    return info if info is not None and info.files else None


def needs_download(name: str) -> bool:
    """Whether the dataset comes from files on the internet (rather than a package or a generator)."""
    return _source(name) is not None


def is_cached(name: str, data_dir: str | os.PathLike | None = None) -> bool:
    """Whether every file the dataset needs is already in `data_dir` (by name; `fetch`
    verifies checksums when it loads them)."""
    info = _source(name)
    if info is None or (info.local_copy is not None and info.local_copy(data_dir) is not None):
        return True
    folder = Path(data_dir if data_dir is not None else default_data_dir()) / info.name
    return all((folder / remote.name).is_file() for remote in info.files)


def ensure_files(name: str, data_dir: str | os.PathLike | None = None) -> None:
    """Downloads (or verifies) the files a dataset needs, so a job that cannot get them
    fails at once with `fetch`'s message, before any model is built.

    Raises:
        DatasetError: as `fetch`.
    """
    info = _source(name)
    if info is not None and (info.local_copy is None or info.local_copy(data_dir) is None):
        fetch(info, data_dir)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Returns the array stored in an IDX file (gzipped or not), e.g. MNIST images.

    Raises:
        DatasetError: the file is not a valid unsigned-byte IDX file.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as stream:
        data = stream.read()
    # Magic: two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions.
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != 0x08:
        raise DatasetError(f"{path} is not an unsigned-byte IDX file.")
    ndim = data[3]
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if array.size != int(np.prod(shape)):
        raise DatasetError(f"{path} is truncated: expected {shape}, found {array.size} values.")
    return array.reshape(shape)


def _load_idx_dataset(info: DatasetInfo, data_dir: str | os.PathLike | None) -> Dataset:
    folder = fetch(info, data_dir)

    def images(prefix: str) -> np.ndarray:
        raw = read_idx(folder / f"{prefix}-images-idx3-ubyte.gz")
        return (raw.astype(np.float32) / 255.0)[..., np.newaxis]

    def labels(prefix: str) -> np.ndarray:
        return read_idx(folder / f"{prefix}-labels-idx1-ubyte.gz").astype(np.int64)

    return Dataset(
        name=info.name,
        x_train=images("train"),
        y_train=labels("train"),
        x_test=images("t10k"),
        y_test=labels("t10k"),
        num_classes=len(info.class_names),
        input_shape=(28, 28, 1),
        class_names=list(info.class_names),
    )


def _load_digits(info: DatasetInfo, data_dir: str | os.PathLike | None) -> Dataset:
    # Each job gets its own arrays: nothing one job does to them reaches the next.
    x_train, y_train, x_test, y_test = (array.copy() for array in _digits_split())
    return Dataset(info.name, x_train, y_train, x_test, y_test, 10, (8, 8, 1),
                   list(info.class_names))


@functools.cache
def _digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    # sklearn parses its CSV on every load_digits() call: once per worker process instead
    # saves a warm worker 25 ms of its ~0.6 s to a digits job's first epoch event.
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images.astype(np.float32) / 16.0)[..., np.newaxis]
    y = digits.target.astype(np.int64)
    # A fixed split: results from different jobs are comparable.
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, stratify=y, random_state=0
    )
    return x_train, y_train, x_test, y_test


def fizzbuzz_class(number: int) -> int:
    """Returns 0 (the number itself), 1 (fizz), 2 (buzz) or 3 (fizzbuzz)."""
    if number % 15 == 0:
        return 3
    if number % 5 == 0:
        return 2
    if number % 3 == 0:
        return 1
    return 0


def binary_digits(numbers: np.ndarray, num_digits: int) -> np.ndarray:
    """Returns each number's lowest `num_digits` bits, least significant first, as floats."""
    return ((numbers[:, np.newaxis] >> np.arange(num_digits)) & 1).astype(np.float32)


def _load_fizzbuzz(info: DatasetInfo, data_dir: str | os.PathLike | None, *,
                   num_digits: int = 10) -> Dataset:
    if num_digits < 8:
        raise DatasetError("fizzbuzz needs num_digits >= 8 to train on numbers above 100.")
    # The classic split: learn from 101..2^digits-1, then say the numbers 1..100.
    train = np.arange(101, 2**num_digits)
    test = np.arange(1, 101)
    label = np.vectorize(fizzbuzz_class, otypes=[np.int64])
    return Dataset(info.name, binary_digits(train, num_digits), label(train),
                   binary_digits(test, num_digits), label(test), 4, (num_digits,),
                   list(info.class_names))


_DIGITS = tuple(str(i) for i in range(10))

DATASETS: dict[str, DatasetInfo] = {
    "digits": DatasetInfo(
        "digits", "scikit-learn digits (8x8)", _DIGITS, _load_digits,
        homepage="https://scikit-learn.org/stable/datasets/toy_dataset.html#digits-dataset",
        shape=((8, 8, 1), 10), train_samples=1437,
    ),
    "mnist": DatasetInfo(
        "mnist", "MNIST", _DIGITS, _load_idx_dataset,
        mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",),
        files=(
            RemoteFile("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                       "6bbc9ace898e44ae57da46a324031adb"),
            RemoteFile("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432",
                       "a25bea736e30d166cdddb491f175f624"),
            RemoteFile("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3",
                       "2646ac647ad5339dbf082846283269ea"),
            RemoteFile("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c",
                       "27ae3e4e09519cfbb04c329615203637"),
        ),
        homepage="https://ossci-datasets.s3.amazonaws.com/mnist/",
        shape=((28, 28, 1), 10), train_samples=60_000,
    ),
    "fashion_mnist": DatasetInfo(
        "fashion_mnist", "Fashion-MNIST",
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
         "Bag", "Ankle boot"),
        _load_idx_dataset,
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        files=(
            RemoteFile("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                       "f4a8712d7a061bf5bd6d2ca38dc4d50a"),
            RemoteFile("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe",
                       "9018921c3c673c538a1fc5bad174d6f9"),
            RemoteFile("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79",
                       "8181f5470baa50b63fa0f6fddb340f0a"),
            RemoteFile("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310",
                       "15d484375f8d13e6eb1aabb0c3f46965"),
        ),
        homepage="https://github.com/zalandoresearch/fashion-mnist",
        shape=((28, 28, 1), 10), train_samples=60_000,
    ),
    "fizzbuzz": DatasetInfo(
        "fizzbuzz", "FizzBuzz (generated)", ("number", "fizz", "buzz", "fizzbuzz"),
        _load_fizzbuzz,
        # Trains on the numbers 101 .. 2^num_digits - 1, as binary digits; 4 classes.
        shape=lambda hp: ((hp["num_digits"],), 4), train_samples=lambda hp: 2 ** hp["num_digits"] - 101,
    ),
}


def load(name: str, data_dir: str | os.PathLike | None = None, **options: Any) -> Dataset:
    """Returns the named dataset, downloading and verifying its files first if needed.

    Args:
        name: a key of `DATASETS`.
        data_dir: cache folder (Django passes PLAYGROUND_DATA_DIR); None → ~/.cache/playground/data.
        **options: dataset-specific options, e.g. `num_digits` for fizzbuzz.

    Raises:
        DatasetError: unknown name, or files that cannot be found or verified.
    """
    try:
        info = DATASETS[name]
    except KeyError:
        raise DatasetError(
            f"Unknown dataset {name!r}. Choose one of: {', '.join(DATASETS)}."
        ) from None
    return info.loader(info, data_dir, **options)


def register(info: DatasetInfo) -> DatasetInfo:
    """Adds a dataset defined in its own module (text, ratings, ...) to the registry."""
    DATASETS[info.name] = info
    return info


# Datasets that live in their own modules register themselves on import (one line each).
from trainer import datasets_extra  # noqa: E402,F401
