"""Uploaded datasets: storing one (validated by ingest.py, within the user's quota), deleting
one, and what jobs need of them (ownership and kind at submission, shape for sizing, the arrays
for the worker). Files go through Django's default storage only, so they can live in S3."""
from __future__ import annotations

import contextlib
import hashlib

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Max, Sum

from playground.datasets import ingest
from playground.datasets.models import UserDataset
from trainer import user_data
from trainer.recipes import get_recipe
from trainer.sizing import format_bytes, format_over
from trainer.spec import JobSpec


def own_datasets(user):
    """A user's datasets; nobody else's, staff included (uploads are private)."""
    return UserDataset.objects.filter(owner=user)


def choices_for(user, recipe: dict) -> dict[str, str]:
    """The user's datasets a recipe (a catalog entry) trains on, as form choices: "user:<id>"
    → "name v2 (images, 120 samples)"; newest first."""
    if not getattr(user, "is_authenticated", False) or not recipe.get("user_data"):
        return {}
    return {f"{user_data.PREFIX}{d.pk}": f"{d.name} v{d.version} (yours: {d.kind}, {d.meta.get('samples', '?')} samples)"
            for d in own_datasets(user).filter(kind__in=recipe["user_data"])}


def limits() -> ingest.Limits:
    return ingest.Limits(max_upload_bytes=settings.PLAYGROUND_DATASET_MAX_UPLOAD_BYTES,
                         max_entries=settings.PLAYGROUND_DATASET_MAX_ENTRIES,
                         max_uncompressed_bytes=settings.PLAYGROUND_DATASET_MAX_UNCOMPRESSED_BYTES,
                         max_ratio=settings.PLAYGROUND_DATASET_MAX_RATIO)


def create_dataset(owner, name: str, filename: str, content: bytes, kind: str | None = None,
                   options: ingest.Options | None = None) -> UserDataset:
    """Validates and stores an upload as `owner`'s dataset `name` (the next version of that
    name). Raises ingest.IngestError, keeping no row and no file."""
    ingested = ingest.ingest(filename, content, kind, options or ingest.Options(), limits())
    dataset = UserDataset(owner=owner, name=name, kind=ingested.kind, size=len(ingested.data),
                          checksum=hashlib.sha256(ingested.data).hexdigest(), meta=ingested.meta)
    try:
        with transaction.atomic():
            reserve_storage(owner, dataset.size)
            latest = own_datasets(owner).filter(name=name).aggregate(v=Max("version"))["v"]
            dataset.version = (latest or 0) + 1
            dataset.file.save("dataset.npz", ContentFile(ingested.data), save=False)
            dataset.save()
    except BaseException as exc:
        # The row rolled back; the file must not outlive it.
        if dataset.file.name:
            with contextlib.suppress(Exception):  # the storage may be what failed
                dataset.file.storage.delete(dataset.file.name)
        if storage_failure(exc):
            raise ingest.IngestError(f"The file storage could not keep the upload ({exc}); nothing was kept. "
                                     "Try again shortly.", status=503) from exc
        raise
    return dataset


def storage_failure(exc: BaseException) -> bool:
    """Whether `exc` is the storage failing (a full disk, an S3 endpoint that is down) rather
    than a bug."""
    if isinstance(exc, OSError):
        return True
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        return False
    return isinstance(exc, (BotoCoreError, ClientError))


def reserve_storage(owner, adding: int) -> None:
    """Raises a 413 IngestError unless `owner`'s datasets plus `adding` bytes fit their quota.
    Inside the transaction that stores the dataset: the user's row is locked, so two uploads
    cannot both take the last bytes."""
    quota = settings.PLAYGROUND_USER_DATASET_QUOTA_BYTES
    if owner.is_staff or not quota:
        return
    get_user_model().objects.select_for_update().filter(pk=owner.pk).first()
    used = own_datasets(owner).aggregate(total=Sum("size"))["total"] or 0
    if used + adding > quota:
        total, allowed = format_over(used + adding, quota)
        raise ingest.IngestError(
            f"Your datasets keep {format_bytes(used)} and this one needs {format_bytes(adding)}, {total} in all; "
            f"your quota is {allowed} (PLAYGROUND_USER_DATASET_QUOTA_BYTES). Delete a dataset you no longer need.",
            status=413)


def delete_dataset(dataset: UserDataset) -> None:
    """Deletes the row, then (once that is committed) its file."""
    name, storage = dataset.file.name, dataset.file.storage
    with transaction.atomic():
        dataset.delete()
        transaction.on_commit(lambda: storage.delete(name))


# --- jobs on uploaded datasets ------------------------------------------------------------


def dataset_of(spec: JobSpec) -> UserDataset | None:
    """The upload a spec names ("user:<id>"), whoever owns it; None for a registered dataset
    or an upload that is gone."""
    pk = user_data.dataset_id(spec.dataset)
    return UserDataset.objects.filter(pk=pk).first() if pk is not None else None


def job_dataset_error(owner, spec: JobSpec) -> str | None:
    """Why `owner` may not train `spec` on the upload it names (None when they may, or when it
    names a registered dataset): not theirs or gone, a kind the recipe cannot use, or a way of
    training that cannot load uploads yet (multi_worker ranks get their options as JSON)."""
    pk = user_data.dataset_id(spec.dataset)
    if pk is None:
        return None
    dataset = own_datasets(owner).filter(pk=pk).first()
    if dataset is None:
        return f"You have no dataset {pk} (user:{pk}); see GET /api/v1/datasets/ for yours."
    accepted = get_recipe(spec.recipe).user_data
    if dataset.kind not in accepted:
        return (f"Dataset {pk} ({dataset.name}) is a {dataset.kind} dataset; recipe {spec.recipe} trains on "
                f"{' or '.join(accepted)} datasets.")
    if spec.strategy.startswith("multi_worker"):
        return "Uploaded datasets train on one worker for now; use the default or a mirrored strategy."
    return None


def shape_of(spec: JobSpec) -> tuple[tuple[int, ...], int] | None:
    """`(input_shape, num_classes)` of the upload a spec names, from its meta; None otherwise."""
    dataset = dataset_of(spec)
    if dataset is None:
        return None
    return tuple(dataset.meta["input_shape"]), dataset.meta["num_classes"]


def train_samples_of(spec: JobSpec) -> int | None:
    """Training samples per epoch of the upload a spec names (before the validation split, as
    the registered datasets count them); None otherwise."""
    dataset = dataset_of(spec)
    return dataset.meta.get("train_samples") if dataset is not None else None


def train_dataset(spec: JobSpec):
    """The `trainer.datasets.Dataset` of the upload a spec names, read through the storage and
    checked against its checksum; None for a registered dataset (train() loads those itself).

    Raises:
        trainer.datasets.DatasetError: the upload was deleted, or its file is gone or altered.
    """
    from trainer.datasets import DatasetError

    pk = user_data.dataset_id(spec.dataset)
    if pk is None:
        return None
    dataset = UserDataset.objects.filter(pk=pk).first()
    if dataset is None:
        raise DatasetError(f"Dataset {spec.dataset} was deleted after the job was submitted; upload it again.")
    try:
        with dataset.file.open("rb") as stream:
            content = stream.read()
    except OSError as exc:
        raise DatasetError(f"The file of dataset {spec.dataset} ({dataset.name}) cannot be read: {exc}.") from exc
    if hashlib.sha256(content).hexdigest() != dataset.checksum:
        raise DatasetError(f"The file of dataset {spec.dataset} ({dataset.name}) does not match its checksum; "
                           "upload it again.")
    return user_data.load(content, spec.dataset)
