"""POST/GET/DELETE /api/v1/datasets/: uploads of each kind, privacy, and every refusal keeping nothing."""
from __future__ import annotations

import hashlib
import zipfile

import numpy as np
import pytest

from playground.datasets.models import UserDataset
from tests.conftest import client_for
from tests.playground.datasets.factories import csv_bytes, image_bytes, ratings_bytes, two_class_zip, zip_bytes
from trainer import user_data

pytestmark = pytest.mark.django_db


def test_a_zip_of_two_image_folders_becomes_an_images_dataset(upload, alice, stored_files):
    response = upload("pets.zip", two_class_zip(per_class=3), name="pets", size=16)

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["name"] == "pets" and body["kind"] == "images" and body["version"] == 1
    assert body["dataset"] == f"user:{body['id']}"
    assert body["meta"]["classes"] == [{"name": "cats", "count": 3}, {"name": "dogs", "count": 3}]
    assert body["meta"]["input_shape"] == [16, 16, 1] and body["meta"]["num_classes"] == 2
    assert body["meta"]["train_samples"] + body["meta"]["test_samples"] == 6
    [stored] = stored_files()
    assert body["size"] == stored.stat().st_size
    assert body["checksum"] == hashlib.sha256(stored.read_bytes()).hexdigest()
    dataset = user_data.load(stored.read_bytes(), body["dataset"])
    assert dataset.input_shape == (16, 16, 1) and dataset.class_names == ["cats", "dogs"]
    assert 0.0 <= dataset.x_train.min() and dataset.x_train.max() <= 1.0


def test_a_zip_of_one_folder_holding_the_class_folders_is_read_from_inside_it(upload):
    response = upload("pets.zip", two_class_zip(root="my-pets/"))

    assert response.status_code == 201, response.json()
    assert [c["name"] for c in response.json()["meta"]["classes"]] == ["cats", "dogs"]


def test_mac_zip_litter_is_ignored(upload):
    files = {"a/1.png": image_bytes(10), "a/2.png": image_bytes(20), "b/1.png": image_bytes(210),
             "b/2.webp": image_bytes(220, fmt="WEBP"), "__MACOSX/a/._1.png": b"\0\5junk", "a/.DS_Store": b"junk"}

    response = upload("x.zip", zip_bytes(files), channels=3, size=8)

    assert response.status_code == 201, response.json()
    assert response.json()["meta"]["input_shape"] == [8, 8, 3]


def test_a_csv_becomes_a_tabular_dataset_labelled_by_its_last_column(upload):
    response = upload("plants.csv", csv_bytes(rows=10), name="plants")

    assert response.status_code == 201, response.json()
    meta = response.json()["meta"]
    assert response.json()["kind"] == "tabular"
    assert meta["label"] == "species" and meta["input_shape"] == [2]
    assert meta["classes"] == [{"name": "a", "count": 5}, {"name": "b", "count": 5}]
    assert [c["name"] for c in meta["columns"]] == ["height", "weight"]


def test_a_user_item_rating_csv_becomes_a_ratings_dataset(upload):
    response = upload("likes.csv", ratings_bytes(users=6, items=5), name="likes")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["kind"] == "ratings"
    assert {k: body["meta"][k] for k in ("samples", "num_users", "num_items", "input_shape", "titled_items")} == {
        "samples": 30, "num_users": 6, "num_items": 5, "input_shape": [6, 5], "titled_items": 5}
    assert body["meta"]["train_samples"] + body["meta"]["test_samples"] == 30


def test_a_csv_label_column_can_be_chosen(upload):
    text = b"kind,x,y\nu,1,2\nv,3,4\nu,1.5,2\nv,3.5,4\n"

    response = upload("t.csv", text, label="kind")

    assert response.status_code == 201, response.json()
    assert response.json()["meta"]["label"] == "kind"
    assert [c["name"] for c in response.json()["meta"]["columns"]] == ["x", "y"]


def test_uploading_the_same_name_again_makes_the_next_version(upload):
    first = upload("plants.csv", csv_bytes(), name="plants").json()
    second = upload("plants.csv", csv_bytes(rows=14), name="plants").json()

    assert (first["version"], second["version"]) == (1, 2) and first["id"] != second["id"]


def test_the_list_shows_only_ones_own_datasets_paginated(upload, bob):
    upload("plants.csv", csv_bytes(), name="mine")
    upload("plants.csv", csv_bytes(), name="bobs", client=client_for(bob))

    body = client_for(bob).get("/api/v1/datasets/").json()

    assert body["count"] == 1 and [d["name"] for d in body["results"]] == ["bobs"]
    assert set(body) == {"count", "next", "previous", "results"}


def test_another_users_dataset_answers_404_to_get_and_delete(upload, bob, stored_files):
    pk = upload("plants.csv", csv_bytes()).json()["id"]
    other = client_for(bob)

    assert other.get(f"/api/v1/datasets/{pk}/").status_code == 404
    assert other.delete(f"/api/v1/datasets/{pk}/").status_code == 404
    assert UserDataset.objects.filter(pk=pk).exists() and len(stored_files()) == 1


def test_deleting_a_dataset_removes_its_row_and_its_file(upload, api, stored_files, django_capture_on_commit_callbacks):
    pk = upload("plants.csv", csv_bytes()).json()["id"]
    assert api.get(f"/api/v1/datasets/{pk}/").status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete(f"/api/v1/datasets/{pk}/")

    assert response.status_code == 204
    assert not UserDataset.objects.filter(pk=pk).exists() and stored_files() == []


def test_anonymous_requests_are_refused(client):
    assert client.get("/api/v1/datasets/").status_code in (401, 403)


# --- refusals: each a clear message, and nothing kept --------------------------------------


def _zip_with_entries(count: int) -> bytes:
    return zip_bytes({f"a/{i}.png": b"x" for i in range(count)})


def _corrupt() -> bytes:
    # Stored, not deflated, so the PNG's bytes can be damaged in place: the CRC no longer matches.
    files = {"a/1.png": image_bytes(1), "a/2.png": image_bytes(2), "b/1.png": image_bytes(200), "b/2.png": image_bytes(201)}
    return zip_bytes(files, compression=zipfile.ZIP_STORED).replace(b"IHDR", b"IHDX", 1)


def _bomb() -> bytes:
    return zip_bytes({"a/1.png": b"\0" * (4 << 20), "a/2.png": image_bytes(1), "b/1.png": image_bytes(200),
                      "b/2.png": image_bytes(201)})


REFUSALS = [
    # (case, filename, content, fields, status, words the message must contain)
    ("not a zip", "pets.zip", b"this is not a zip", {}, 400, "not a zip archive"),
    ("a corrupt zip", "pets.zip", _corrupt(), {}, 400, "damaged"),
    ("a truncated zip", "pets.zip", two_class_zip()[:-30], {}, 400, "not a zip archive"),
    ("an entry with ..", "pets.zip", zip_bytes({"../evil.png": image_bytes(1), "a/1.png": image_bytes(2)}), {}, 400,
     "../evil.png"),
    ("an absolute entry", "pets.zip", zip_bytes({"/etc/evil.png": image_bytes(1)}), {}, 400, "/etc/evil.png"),
    ("a symlink", "pets.zip", zip_bytes({"a/1.png": image_bytes(1)}, links=("a/link.png",)), {}, 400, "a/link.png"),
    ("too many entries", "pets.zip", _zip_with_entries(6), {}, 413, "PLAYGROUND_DATASET_MAX_ENTRIES"),
    ("too big unpacked", "pets.zip", _bomb(), {}, 413, "PLAYGROUND_DATASET_MAX_UNCOMPRESSED_BYTES"),
    ("files that are not images", "pets.zip",
     zip_bytes({"a/1.png": image_bytes(1), "a/notes.txt": b"hi", "b/1.png": b"not really a png", "b/2.png": image_bytes(200)}),
     {}, 400, "a/notes.txt, b/1.png"),
    ("a class with one image", "pets.zip",
     zip_bytes({"a/1.png": image_bytes(1), "a/2.png": image_bytes(2), "b/1.png": image_bytes(200)}), {}, 400, "b (1)"),
    ("one class only", "pets.zip", zip_bytes({"a/1.png": image_bytes(1), "a/2.png": image_bytes(2)}), {}, 400,
     "only one class (a)"),
    ("loose files", "pets.zip", zip_bytes({"1.png": image_bytes(1), "a/1.png": image_bytes(2)}), {}, 400, "1.png"),
    ("a csv row with too few columns", "t.csv", b"x,y,label\n1,2,a\n3,b\n1,2,b\n", {}, 400,
     "line 3 has 2 columns, the header 3"),
    ("a non-numeric csv value", "t.csv", b"x,y,label\n1,2,a\n3,abc,b\n", {}, 400, "line 3, column 'y': 'abc'"),
    ("an infinite csv value", "t.csv", b"x,y,label\n1,2,a\n3,inf,b\n", {}, 400, "not a finite number"),
    ("a csv with one label", "t.csv", b"x,label\n1,a\n2,a\n", {}, 400, "only one class"),
    ("an unknown label column", "t.csv", csv_bytes(), {"label": "colour"}, 400, "No column 'colour'"),
    ("an empty file", "t.csv", b"", {}, 400, "empty"),
    ("a rating that is not a number", "r.csv", b"user,item,rating\nu1,m1,5\nu2,m1,great\n", {}, 400,
     "line 3, column 'rating': 'great' is not a finite number"),
    ("a rating row without an item", "r.csv", b"user,item,rating\nu1,,5\n", {}, 400, "line 2: an empty item"),
    ("too few ratings", "r.csv", b"user,item,rating\nu1,m1,5\nu2,m2,1\n", {}, 400,
     "2 rating(s) by 2 user(s) of 2 item(s): a recommender needs at least 10 ratings"),
    ("ratings asked of a csv without their columns", "t.csv", csv_bytes(), {"kind": "ratings"}, 400,
     "No column user, item, rating in the header (height, weight, species)"),
    ("a binary file named .csv", "t.csv", b"x,label\n1\0,a\n", {}, 400, "NUL bytes"),
    ("an empty zip", "pets.zip", b"", {}, 400, "empty"),
    ("an unknown extension", "pets.rar", b"Rar!", {}, 415, ".zip"),
    ("an image size out of range", "pets.zip", two_class_zip(), {"size": 2000}, 400, "128"),
]


@pytest.mark.parametrize("case, filename, content, fields, status, words", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_a_bad_upload_is_refused_with_a_clear_message_keeping_no_row_and_no_file(
        case, filename, content, fields, status, words, upload, stored_files, settings):
    settings.PLAYGROUND_DATASET_MAX_ENTRIES = 5
    settings.PLAYGROUND_DATASET_MAX_UNCOMPRESSED_BYTES = 2 << 20

    response = upload(filename, content, **fields)

    assert response.status_code == status, response.content
    assert words in str(response.json()), response.json()
    assert UserDataset.objects.count() == 0 and stored_files() == []


def test_a_zip_bomb_is_refused_by_its_ratio_naming_the_limit(upload, stored_files):
    response = upload("pets.zip", _bomb())

    assert response.status_code == 400
    assert "PLAYGROUND_DATASET_MAX_RATIO" in str(response.json()) and "zip bomb" in str(response.json())
    assert UserDataset.objects.count() == 0 and stored_files() == []


def test_a_file_over_the_upload_limit_is_refused_with_413(upload, settings, stored_files):
    settings.PLAYGROUND_DATASET_MAX_UPLOAD_BYTES = 100

    response = upload("plants.csv", csv_bytes())

    assert response.status_code == 413 and "limit is 100 bytes" in response.json()["detail"]
    assert UserDataset.objects.count() == 0 and stored_files() == []


def test_an_upload_over_the_users_storage_quota_is_refused_with_413_and_the_figures(upload, settings, stored_files):
    first = upload("plants.csv", csv_bytes(), name="first").json()
    settings.PLAYGROUND_USER_DATASET_QUOTA_BYTES = first["size"] + 10

    response = upload("plants.csv", csv_bytes(), name="second")

    assert response.status_code == 413
    detail = response.json()["detail"]
    assert "your quota is" in detail and "PLAYGROUND_USER_DATASET_QUOTA_BYTES" in detail
    assert list(UserDataset.objects.values_list("name", flat=True)) == ["first"] and len(stored_files()) == 1


def test_a_failure_while_saving_the_row_leaves_no_file(upload, stored_files, monkeypatch):
    def broken_save(self, *args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(UserDataset, "save", broken_save)

    with pytest.raises(RuntimeError):
        upload("plants.csv", csv_bytes())

    assert stored_files() == []


def test_the_stored_images_are_the_uploaded_pictures_resized(upload, stored_files):
    files = {"dark/1.png": image_bytes(0, size=(40, 40)), "dark/2.png": image_bytes(0, size=(40, 40)),
             "light/1.png": image_bytes(250, size=(40, 40)), "light/2.png": image_bytes(250, size=(40, 40))}

    assert upload("x.zip", zip_bytes(files, compression=zipfile.ZIP_STORED), size=8).status_code == 201

    with np.load(stored_files()[0]) as arrays:
        x, y = arrays["x"], arrays["y"]
    assert x.shape == (4, 8, 8, 1) and x.dtype == np.uint8
    # A dark image with a white top-left square, a light one with a white top-right square.
    assert x[y == 0][0][0, 0, 0] == 255 and x[y == 0][0][7, 7, 0] == 0
