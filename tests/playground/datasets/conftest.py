from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile


@pytest.fixture
def stored_files(media_root):
    """The files under the storage's folder, at the time of the call."""
    return lambda: sorted(p for p in Path(media_root).rglob("*") if p.is_file())


@pytest.fixture
def upload(api):
    """POSTs a file to /api/v1/datasets/ as alice; extra form fields as keyword arguments."""
    def post(filename: str, content: bytes, client=None, **fields):
        data = {"name": fields.pop("name", "mine"), "file": SimpleUploadedFile(filename, content), **fields}
        return (client or api).post("/api/v1/datasets/", data, format="multipart")

    return post
