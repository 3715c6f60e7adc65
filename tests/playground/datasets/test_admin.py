"""Uploads in the admin: staff see every user's, read-only; deleting there removes the file too."""
from __future__ import annotations

import pytest
from django.test import Client

from playground.datasets.models import UserDataset
from playground.datasets.services import create_dataset
from tests.playground.datasets.factories import csv_bytes

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff(make_user):
    user = make_user("root", staff=True)
    user.is_superuser = True
    user.save()
    page = Client()
    page.force_login(user)
    return page


def test_staff_see_every_upload_and_cannot_add_one_past_the_checks(staff, alice, bob):
    mine, theirs = create_dataset(alice, "plants", "p.csv", csv_bytes()), create_dataset(bob, "trees", "t.csv", csv_bytes())

    listing = staff.get("/admin/datasets/userdataset/").content.decode()

    assert "plants" in listing and "trees" in listing
    assert staff.get(f"/admin/datasets/userdataset/{theirs.pk}/change/").status_code == 200
    assert staff.get("/admin/datasets/userdataset/add/").status_code == 403
    assert mine.pk != theirs.pk


def test_deleting_in_the_admin_removes_the_stored_file_too(staff, alice, stored_files):
    one, two = create_dataset(alice, "a", "a.csv", csv_bytes()), create_dataset(alice, "b", "b.csv", csv_bytes())
    assert len(stored_files()) == 2

    response = staff.post(f"/admin/datasets/userdataset/{one.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    staff.post("/admin/datasets/userdataset/", {"action": "delete_with_files", "_selected_action": [two.pk]})

    assert UserDataset.objects.count() == 0 and stored_files() == []


def test_a_user_who_is_not_staff_gets_the_login_page(alice):
    page = Client()
    page.force_login(alice)

    assert page.get("/admin/datasets/userdataset/").status_code == 302
