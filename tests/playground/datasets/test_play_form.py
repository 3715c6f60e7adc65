"""The play form offers a user's own datasets that fit the recipe, and trains on one."""
from __future__ import annotations

import pytest

from playground.datasets.services import create_dataset
from playground.jobs import services
from playground.jobs.models import Job
from tests.playground.datasets.factories import csv_bytes, two_class_zip

pytestmark = pytest.mark.django_db


@pytest.fixture
def page(client, alice, monkeypatch):
    monkeypatch.setattr(services, "enqueue", lambda *args, **kwargs: None)
    client.force_login(alice)
    return client


def dataset_choices(page, recipe: str) -> dict[str, str]:
    field = page.get(f"/play/{recipe}/").context["top"]["dataset"]
    return {value: label for value, label, _ in field.options}


def test_the_dataset_menu_lists_ones_own_uploads_of_kinds_the_recipe_takes(page, alice, bob):
    table = create_dataset(alice, "plants", "plants.csv", csv_bytes())
    pets = create_dataset(alice, "pets", "pets.zip", two_class_zip())
    create_dataset(bob, "bobs", "b.csv", csv_bytes())

    mlp, lenet, gan = (dataset_choices(page, recipe) for recipe in ("mlp", "lenet", "dcgan"))

    assert mlp[f"user:{table.pk}"].startswith("plants v1 (yours: tabular") and f"user:{pets.pk}" in mlp
    assert [value for value in lenet if value.startswith("user:")] == [f"user:{pets.pk}"]
    assert not [value for value in gan if value.startswith("user:")]
    assert "digits" in mlp and len([value for value in mlp if value.startswith("user:")]) == 2


def test_the_form_trains_on_an_upload_and_refuses_another_users_at_the_field(page, alice, bob):
    mine = create_dataset(alice, "plants", "plants.csv", csv_bytes())
    theirs = create_dataset(bob, "plants", "plants.csv", csv_bytes())

    refused = page.post("/play/mlp/", {"dataset": f"user:{theirs.pk}", "epochs": "1"})
    trained = page.post("/play/mlp/", {"dataset": f"user:{mine.pk}", "epochs": "1"})

    assert refused.status_code == 400
    assert refused.context["top"]["dataset"].errors == [
        f"You have no dataset {theirs.pk} (user:{theirs.pk}); see GET /api/v1/datasets/ for yours."]
    assert trained.status_code == 302
    assert list(Job.objects.values_list("dataset", flat=True)) == [f"user:{mine.pk}"]
