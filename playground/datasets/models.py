from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


def stored_name(dataset: UserDataset, filename: str) -> str:
    # A random name per version: a file is never overwritten, and names leak nothing.
    return f"datasets/{dataset.owner_id}/{uuid.uuid4().hex}.npz"


class UserDataset(models.Model):
    """An uploaded dataset, validated and converted to arrays (trainer/user_data.py's .npz),
    stored through Django's storage. Private to its owner; jobs name it "user:<id>"."""

    class Kind(models.TextChoices):
        IMAGES = "images"
        TABULAR = "tabular"
        RATINGS = "ratings"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="datasets")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    file = models.FileField(upload_to=stored_name, max_length=255)
    # Of the stored file: what the disk quota counts, and what a worker can verify.
    size = models.BigIntegerField()
    checksum = models.CharField(max_length=64, help_text="SHA-256 of the stored file")
    # Uploading again under the same name makes the next version; jobs keep naming the one they used.
    version = models.PositiveIntegerField(default=1)
    # classes [{name, count}], input_shape, num_classes, samples, train_samples, test_samples,
    # the upload's {filename, bytes, sha256}, and per kind: size/channels or columns/label.
    meta = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["owner", "name", "version"], name="dataset_version_unique")]

    def __str__(self) -> str:
        return f"{self.name} v{self.version} ({self.kind}, {self.owner})"
