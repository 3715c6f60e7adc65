"""The /datasets/ page: your datasets, the upload form and delete, with the API's checks."""
from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from playground.datasets.models import UserDataset
from playground.datasets.services import create_dataset
from tests.playground.datasets.factories import csv_bytes, image_bytes, two_class_zip, zip_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def page(client, alice):
    client.force_login(alice)
    return client


def test_the_page_asks_anonymous_visitors_to_log_in(client):
    response = client.get("/datasets/")

    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_page_lists_ones_own_datasets_with_classes_and_counts(page, alice, bob):
    create_dataset(alice, "pets", "pets.zip", two_class_zip(per_class=3))
    create_dataset(bob, "bobs-secret", "b.csv", csv_bytes())

    html = page.get("/datasets/").content.decode()

    assert "pets" in html and "cats (3), dogs (3)" in html and "images" in html
    assert "bobs-secret" not in html


def test_uploading_from_the_page_stores_the_dataset_and_says_how_to_use_it(page):
    response = page.post("/datasets/", {"name": "plants", "file": SimpleUploadedFile("plants.csv", csv_bytes()),
                                        "size": 28, "channels": 1}, follow=True)

    dataset = UserDataset.objects.get()
    assert dataset.name == "plants" and dataset.kind == "tabular"
    assert f"user:{dataset.pk}" in response.content.decode()


def test_a_refused_upload_shows_the_reason_and_keeps_nothing(page, stored_files):
    one_class = zip_bytes({"a/1.png": image_bytes(1), "a/2.png": image_bytes(2)})

    response = page.post("/datasets/", {"name": "pets", "file": SimpleUploadedFile("pets.zip", one_class)})

    assert response.status_code == 400
    assert "There is only one class (a)" in response.content.decode()
    assert not UserDataset.objects.exists() and stored_files() == []


def test_the_delete_button_removes_the_dataset_and_its_file(page, alice, stored_files,
                                                            django_capture_on_commit_callbacks):
    dataset = create_dataset(alice, "plants", "plants.csv", csv_bytes())

    with django_capture_on_commit_callbacks(execute=True):
        response = page.post(f"/datasets/{dataset.pk}/delete/")

    assert response.status_code == 302
    assert not UserDataset.objects.exists() and stored_files() == []


def test_another_users_dataset_cannot_be_deleted_from_the_page(page, bob):
    dataset = create_dataset(bob, "plants", "plants.csv", csv_bytes())

    assert page.post(f"/datasets/{dataset.pk}/delete/").status_code == 404
    assert UserDataset.objects.filter(pk=dataset.pk).exists()


def test_an_images_dataset_shows_a_row_of_thumbnails_per_class(page, alice):
    from io import BytesIO

    import numpy as np
    from PIL import Image

    pets = create_dataset(alice, "pets", "pets.zip", two_class_zip(per_class=3))
    table = create_dataset(alice, "plants", "plants.csv", csv_bytes())

    html = page.get("/datasets/").content.decode()
    preview = page.get(f"/datasets/{pets.pk}/preview.png")

    assert f'src="/datasets/{pets.pk}/preview.png"' in html and f"/datasets/{table.pk}/preview.png" not in html
    assert preview.status_code == 200 and preview["Content-Type"] == "image/png"
    grid = np.asarray(Image.open(BytesIO(preview.content)))
    size = pets.meta["input_shape"][0]
    assert grid.shape == (2 * size + 2, 8 * size + 7 * 2)
    # Three images in each class's row, then black where a class has no more.
    assert grid[:size, : 3 * size].any() and grid[size + 2:, : 3 * size].any() and not grid[:, 3 * (size + 2):].any()
    assert page.get(f"/datasets/{table.pk}/preview.png").status_code == 404
