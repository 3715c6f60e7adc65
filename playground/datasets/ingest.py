"""Turning an uploaded file into a stored dataset, or refusing it with a reason a user can act on.

Pure functions over bytes: nothing here touches the database, the storage or the disk. A zip is
read member by member in memory and never extracted, so a name like `../../etc/passwd` can
only ever be refused, not written. Every refusal is one `IngestError` with the HTTP status the
API answers (400 bad content, 413 over a limit, 415 a file type we do not read).
"""
from __future__ import annotations

import csv
import hashlib
import io
import math
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import numpy as np

from trainer import user_data

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp")
IMAGE_FORMATS = ("PNG", "JPEG", "WEBP")
KIND_BY_EXTENSION = {".zip": "images", ".csv": "tabular"}
# A 24-megapixel photo fits; a PNG that claims 100,000 × 100,000 pixels is refused before Pillow
# allocates its 10 GB (Pillow's own bomb check only starts at 179 MP).
MAX_IMAGE_PIXELS = 40_000_000
SIZES = (8, 128)  # pixels per side an images dataset may be resized to
CHANNELS = (1, 3)
MAX_CLASSES = 100
# Names a refusal lists before "and N more".
LISTED = 10
# What zip tools add beside the files (macOS resource forks, Finder and Explorer caches).
IGNORED_PARTS = ("__MACOSX",)


class IngestError(Exception):
    """An upload that cannot become a dataset; `status` is the API's answer (400, 413 or 415)."""

    def __init__(self, message: str, status: int = 400, field: str = "file") -> None:
        super().__init__(message)
        self.message, self.status, self.field = message, status, field


@dataclass(frozen=True)
class Limits:
    """Caps on one upload (settings PLAYGROUND_DATASET_*); 0 = no cap."""

    max_upload_bytes: int = 0
    max_entries: int = 0
    max_uncompressed_bytes: int = 0
    max_ratio: int = 0


@dataclass(frozen=True)
class Options:
    """The upload form's options: `size`/`channels` for images, `label` (a column) for tabular."""

    size: int = 28
    channels: int = 1
    label: str | None = None


@dataclass
class Ingested:
    """A validated upload: its kind, the stored file's bytes (`trainer.user_data.pack`) and meta."""

    kind: str
    data: bytes
    meta: dict = field(default_factory=dict)


def infer_kind(filename: str, kind: str | None) -> str:
    """The kind asked for, or the one the file's extension implies (.zip images, .csv tabular)."""
    if kind:
        if kind not in user_data.KINDS:
            raise IngestError(f"Unknown kind {kind!r}. Choose one of: {', '.join(user_data.KINDS)}.", field="kind")
        return kind
    suffix = PurePosixPath(filename.lower()).suffix
    if suffix not in KIND_BY_EXTENSION:
        raise IngestError(f"Cannot tell what kind of dataset {filename!r} is: upload a .zip of image folders "
                          "(kind images) or a .csv (kind tabular), or name the kind.", status=415)
    return KIND_BY_EXTENSION[suffix]


def ingest(filename: str, content: bytes, kind: str | None, options: Options, limits: Limits) -> Ingested:
    """Validates an uploaded file and converts it to the stored form, or raises IngestError. A
    .csv whose header is user,item,rating (and optionally title) is a ratings dataset unless a
    kind is asked for."""
    asked = bool(kind)
    kind = infer_kind(filename, kind)
    if limits.max_upload_bytes and len(content) > limits.max_upload_bytes:
        raise IngestError(f"The file is {len(content):,} bytes; the limit is {limits.max_upload_bytes:,} bytes "
                          "(PLAYGROUND_DATASET_MAX_UPLOAD_BYTES).", status=413)
    if not content:
        raise IngestError(f"The file {filename!r} is empty.")
    if kind == "images":
        ingested = ingest_images(content, options, limits)
    elif kind == "ratings" or (kind == "tabular" and not asked and looks_like_ratings(content)):
        ingested = ingest_ratings(content)
    else:
        ingested = ingest_tabular(content, options)
    ingested.meta["upload"] = {"filename": filename.replace("\0", "")[:255], "bytes": len(content),
                               "sha256": hashlib.sha256(content).hexdigest()}
    return ingested


def listed(names: list[str]) -> str:
    shown = ", ".join(names[:LISTED])
    return shown + (f" and {len(names) - LISTED} more" if len(names) > LISTED else "")


# --- images -------------------------------------------------------------------------------


def ingest_images(content: bytes, options: Options, limits: Limits) -> Ingested:
    if not SIZES[0] <= options.size <= SIZES[1]:
        raise IngestError(f"size must be between {SIZES[0]} and {SIZES[1]} pixels, got {options.size}.", field="size")
    if options.channels not in CHANNELS:
        raise IngestError(f"channels must be 1 (grayscale) or 3 (colour), got {options.channels}.", field="channels")
    archive = open_zip(content)
    members = checked_members(archive, limits)
    by_class = class_folders(members)
    images, bad = [], []
    for class_index, (name, infos) in enumerate(by_class.items()):
        for info in infos:
            pixels = decode_image(archive, info, options)
            if pixels is None:
                bad.append(info.filename)
            else:
                images.append((pixels, class_index))
    if bad:
        raise IngestError(f"{len(bad)} file{'s are' if len(bad) != 1 else ' is'} not a PNG, JPEG or WebP image: "
                          f"{listed(bad)}.")
    check_classes({name: len(infos) for name, infos in by_class.items()}, "image", "one folder of images per class")
    x = np.stack([pixels for pixels, _ in images]).astype(np.uint8)
    y = np.array([label for _, label in images], dtype=np.int64)
    return Ingested("images", user_data.pack("images", x, y, list(by_class)),
                    described(y, list(by_class), list(x.shape[1:]), size=options.size, channels=options.channels))


def open_zip(content: bytes) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(content))
    except zipfile.BadZipFile:
        raise IngestError("The file is not a zip archive (or it is damaged): an images dataset is a .zip "
                          "with one folder of images per class.") from None
    except (zipfile.LargeZipFile, NotImplementedError, ValueError, OSError) as exc:
        raise IngestError(f"The zip archive cannot be read: {exc}.") from None


def checked_members(archive: zipfile.ZipFile, limits: Limits) -> list[zipfile.ZipInfo]:
    """The archive's files (no folders or zip-tool litter), after the bomb and path checks.

    The sizes checked are the ones the archive declares; reading never goes past them (zipfile
    stops at the declared size and checks the CRC), so a lying header fails as corrupt."""
    infos = archive.infolist()
    if limits.max_entries and len(infos) > limits.max_entries:
        raise IngestError(f"The zip has {len(infos):,} entries; the limit is {limits.max_entries:,} "
                          "(PLAYGROUND_DATASET_MAX_ENTRIES).", status=413)
    unsafe = [info.filename for info in infos if not safe_name(info.filename)]
    if unsafe:
        raise IngestError(f"The zip has entries with absolute paths or '..' in them, which are never unpacked: "
                          f"{listed(unsafe)}.")
    links = [info.filename for info in infos if stat.S_ISLNK(info.external_attr >> 16)]
    if links:
        raise IngestError(f"The zip has symbolic links, which are not read: {listed(links)}. Zip the files themselves.")
    total = sum(info.file_size for info in infos)
    if limits.max_uncompressed_bytes and total > limits.max_uncompressed_bytes:
        raise IngestError(f"The zip unpacks to {total:,} bytes; the limit is {limits.max_uncompressed_bytes:,} bytes "
                          "(PLAYGROUND_DATASET_MAX_UNCOMPRESSED_BYTES).", status=413)
    if limits.max_ratio:
        for info in infos:
            if info.file_size > limits.max_ratio * max(info.compress_size, 1) and info.file_size > 1 << 20:
                raise IngestError(f"The zip entry {info.filename} unpacks to {info.file_size / max(info.compress_size, 1):,.0f} "
                                  f"times its compressed size; the limit is {limits.max_ratio} "
                                  "(PLAYGROUND_DATASET_MAX_RATIO). Images compress little: this looks like a zip bomb.")
    return [info for info in infos if not info.is_dir() and not ignored(info.filename)]


def safe_name(name: str) -> bool:
    path = name.replace("\\", "/")
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        return False
    return ".." not in path.split("/")


def ignored(name: str) -> bool:
    parts = name.split("/")
    return any(part in IGNORED_PARTS for part in parts) or parts[-1].startswith(".") or parts[-1] == "Thumbs.db"


def class_folders(members: list[zipfile.ZipInfo]) -> dict[str, list[zipfile.ZipInfo]]:
    """Files by class (the folder they are in), classes sorted by name. A zip of one folder that
    holds the class folders (what zipping "my-data/" makes) is read from inside that folder."""
    parts = [info.filename.split("/") for info in members]
    while parts and all(len(p) >= 3 for p in parts) and len({p[0] for p in parts}) == 1:
        parts = [p[1:] for p in parts]
    loose = [info.filename for info, p in zip(members, parts) if len(p) < 2]
    if loose:
        raise IngestError(f"Files must be inside one folder per class (cats/1.png, dogs/1.png); these are not: "
                          f"{listed(loose)}.")
    by_class: dict[str, list[zipfile.ZipInfo]] = {}
    for info, p in sorted(zip(members, parts), key=lambda pair: pair[1]):
        by_class.setdefault(p[0], []).append(info)
    if not by_class:
        raise IngestError("The zip holds no files: an images dataset is one folder of images per class.")
    return by_class


def decode_image(archive: zipfile.ZipFile, info: zipfile.ZipInfo, options: Options) -> np.ndarray | None:
    """The image resized to size × size with the chosen channels, as uint8; None if not an image."""
    from PIL import Image, UnidentifiedImageError

    if not info.filename.lower().endswith(IMAGE_EXTENSIONS):
        return None
    try:
        data = archive.read(info)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError) as exc:
        # CRC mismatches, truncated data, encrypted entries.
        raise IngestError(f"The zip archive is damaged: {info.filename} cannot be read ({exc}).") from None
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in IMAGE_FORMATS:
                return None
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise IngestError(f"{info.filename} is {image.width} × {image.height} pixels; images may have at most "
                                  f"{MAX_IMAGE_PIXELS:,} pixels.", status=413)
            # Stretched to a square, not cropped: nothing of the picture is lost, as with the
            # built-in digits. RGBA/palette images are flattened by convert().
            image = image.convert("L" if options.channels == 1 else "RGB")
            image = image.resize((options.size, options.size), Image.Resampling.BILINEAR)
            pixels = np.asarray(image, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        return None
    return pixels.reshape(options.size, options.size, options.channels)


# --- tabular ------------------------------------------------------------------------------


def csv_rows(content: bytes, what: str) -> list[tuple[int, list[str]]]:
    """The non-blank rows of a UTF-8 CSV with their line numbers; `what` says what the file
    should be ("a tabular dataset is a CSV file with a header") in refusals."""
    if b"\0" in content:
        # Binary data (and a NUL PostgreSQL would refuse to keep in the class names).
        raise IngestError(f"The file holds NUL bytes, so it is not a CSV text file: {what}.")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IngestError(f"The file is not UTF-8 text (byte {exc.start + 1} cannot be read): {what}.") from None
    rows = [(number, row) for number, row in enumerate(csv.reader(io.StringIO(text)), start=1) if any(c.strip() for c in row)]
    if not rows:
        raise IngestError("The file is empty.")
    return rows


def ingest_tabular(content: bytes, options: Options) -> Ingested:
    rows = csv_rows(content, "a tabular dataset is a CSV file with a header")
    (_, header), body = rows[0], rows[1:]
    header = [name.strip() for name in header]
    if len(header) < 2:
        raise IngestError("The header names fewer than 2 columns: a tabular dataset has one or more numeric "
                          "feature columns and one label column, separated by commas.")
    label = options.label if options.label else header[-1]
    if label not in header:
        raise IngestError(f"No column {label!r}; the columns are: {', '.join(header)}.", field="label")
    label_index = header.index(label)
    if not body:
        raise IngestError("The file has a header but no rows.")
    features, labels, errors = [], [], []
    for number, row in body:
        if len(row) != len(header):
            errors.append(f"line {number} has {len(row)} columns, the header {len(header)}")
            continue
        values = []
        for column, cell in enumerate(row):
            if column == label_index:
                continue
            try:
                value = float(cell)
            except ValueError:
                errors.append(f"line {number}, column {header[column]!r}: {cell!r} is not a number")
                continue
            if not math.isfinite(value):
                errors.append(f"line {number}, column {header[column]!r}: {cell!r} is not a finite number")
                continue
            values.append(value)
        labels.append(row[label_index].strip())
        features.append(values)
        if len(errors) >= LISTED:
            break
    if errors:
        raise IngestError("The CSV cannot be read: " + "; ".join(errors[:LISTED]) + ".")
    class_names = sorted(set(labels), key=label_order)
    if len(class_names) > MAX_CLASSES:
        raise IngestError(f"The label column {label!r} has {len(class_names):,} different values; a label column names "
                          f"classes, at most {MAX_CLASSES}. Pick the column with label=.", field="label")
    check_classes({name: labels.count(name) for name in class_names}, "row", f"two or more values in column {label!r}")
    index = {name: i for i, name in enumerate(class_names)}
    x = np.array(features, dtype=np.float64)
    # Features on a common scale (mean 0, std 1), as a perceptron needs; the figures are kept
    # in meta so that inputs can be scaled the same way for predictions.
    mean, std = x.mean(axis=0), x.std(axis=0)
    std[std == 0] = 1.0
    x = ((x - mean) / std).astype(np.float32)
    y = np.array([index[name] for name in labels], dtype=np.int64)
    columns = [{"name": name, "mean": float(m), "std": float(s)}
               for name, m, s in zip((h for h in header if h != label), mean, std)]
    return Ingested("tabular", user_data.pack("tabular", x, y, class_names),
                    described(y, class_names, [x.shape[1]], label=label, columns=columns))


def label_order(name: str):
    # Numeric labels in numeric order (2 before 10), then the rest alphabetically.
    try:
        return (0, float(name), name)
    except ValueError:
        return (1, 0.0, name)


# --- ratings --------------------------------------------------------------------------------

RATINGS_COLUMNS = ("user", "item", "rating")
MIN_RATINGS = 10


def _ratings_header(header: list[str]) -> list[str]:
    return [name.strip().lower() for name in header]


def looks_like_ratings(content: bytes) -> bool:
    first = content[:4096].decode("utf-8-sig", errors="replace").splitlines()[:1]
    header = _ratings_header(next(csv.reader(first), [])) if first else []
    return header[:3] == list(RATINGS_COLUMNS) and header[3:] in ([], ["title"])


def ingest_ratings(content: bytes) -> Ingested:
    """user,item,rating[,title] rows → (user, item) indexes (users and items in order of first
    appearance) and the ratings, for the recommender."""
    what = "a ratings dataset is a CSV file with the header user,item,rating (and optionally title)"
    rows = csv_rows(content, what)
    (_, header), body = rows[0], rows[1:]
    names = _ratings_header(header)
    missing = [c for c in RATINGS_COLUMNS if c not in names]
    if missing:
        raise IngestError(f"No column {', '.join(missing)} in the header ({', '.join(header)}): {what}.")
    at = {name: names.index(name) for name in (*RATINGS_COLUMNS, "title") if name in names}
    users, items, titles = {}, {}, {}
    pairs, ratings, errors = [], [], []
    for number, row in body:
        if len(row) != len(header):
            errors.append(f"line {number} has {len(row)} columns, the header {len(header)}")
        else:
            user, item, cell = (row[at[c]].strip() for c in RATINGS_COLUMNS)
            try:
                rating = float(cell)
            except ValueError:
                rating = math.nan
            if not user or not item:
                errors.append(f"line {number}: an empty {'user' if not user else 'item'}")
            elif not math.isfinite(rating):
                errors.append(f"line {number}, column 'rating': {cell!r} is not a finite number")
            else:
                pairs.append((users.setdefault(user, len(users)), items.setdefault(item, len(items))))
                ratings.append(rating)
                if "title" in at and row[at["title"]].strip():
                    titles.setdefault(item, row[at["title"]].strip()[:200])
        if len(errors) >= LISTED:
            break
    if errors:
        raise IngestError("The CSV cannot be read: " + "; ".join(errors[:LISTED]) + ".")
    if len(ratings) < MIN_RATINGS or len(users) < 2 or len(items) < 2:
        raise IngestError(f"{len(ratings)} rating(s) by {len(users)} user(s) of {len(items)} item(s): a recommender "
                          f"needs at least {MIN_RATINGS} ratings, 2 users and 2 items.")
    x, y = np.array(pairs, dtype=np.int32), np.array(ratings, dtype=np.float32)
    train, test = user_data.ratings_split(len(y))
    item_names = list(items)
    meta = {"samples": len(y), "train_samples": len(train), "test_samples": len(test), "num_users": len(users),
            "num_items": len(items), "input_shape": [len(users), len(items)], "num_classes": 0,
            "rating_range": [float(y.min()), float(y.max())], "titled_items": len(titles)}
    return Ingested("ratings", user_data.pack("ratings", x, y, [], users=list(users), items=item_names,
                                              titles=[titles.get(item, "") for item in item_names]), meta)


# --- both ---------------------------------------------------------------------------------


def check_classes(counts: dict[str, int], sample: str, needs: str) -> None:
    if len(counts) < 2:
        only = f" ({next(iter(counts))})" if counts else ""
        raise IngestError(f"There is only one class{only}: a classifier needs at least 2 ({needs}).")
    if len(counts) > MAX_CLASSES:
        raise IngestError(f"There are {len(counts):,} classes; the limit is {MAX_CLASSES}.")
    few = [f"{name} ({count})" for name, count in counts.items() if count < 2]
    if few:
        raise IngestError(f"Every class needs at least 2 {sample}s (one to train on, one to test); these have fewer: "
                          f"{listed(few)}.")


def described(y: np.ndarray, class_names: list[str], input_shape: list[int], **extra) -> dict:
    train, test = user_data.split_sizes(y)
    counts = np.bincount(y, minlength=len(class_names))
    return {"classes": [{"name": name, "count": int(count)} for name, count in zip(class_names, counts)],
            "num_classes": len(class_names), "input_shape": input_shape, "samples": int(len(y)),
            "train_samples": train, "test_samples": test, **extra}
