"""Forks through POST /api/v1/jobs/ with `parent`: validation, then a real fine-tune run."""
from __future__ import annotations

import numpy as np
import pytest

from playground.jobs import services
from playground.jobs.models import Job
from tests.conftest import client_for
from trainer.checkpoint import checkpoint_path
from trainer.spec import validate_spec

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")]

TINY = {"epochs": 2, "batch_size": 64}


def weight_keys(stored) -> list[str]:
    """The model weights' names in a checkpoint, in order (optimizer state and metadata left out)."""
    return sorted((k for k in stored.files if k.startswith("arr_")), key=lambda k: int(k[4:]))


@pytest.fixture
def parent(alice) -> Job:
    job = services.create_job(alice, validate_spec({"recipe": "lenet", "dataset": "digits_0_4",
                                                     "hyperparameters": TINY}))
    services.run_job(job.pk, "w1")
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    return job


def fork(client, parent_field, recipe="lenet", dataset="digits_5_9", **hyperparameters):
    return client.post("/api/v1/jobs/", {"recipe": recipe, "dataset": dataset, "parent": parent_field,
                                         "hyperparameters": {"epochs": 1, **hyperparameters}}, format="json")


def test_a_fork_from_epoch_1_with_frozen_convolutions_trains_from_the_parent_checkpoint(alice, parent):
    response = fork(client_for(alice), {"job": parent.pk, "epoch": 1, "freeze": "all_but_last"},
                    learning_rate=0.01)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["parent"], body["parent_epoch"], body["freeze"]) == (parent.pk, "1", "all_but_last")

    services.run_job(body["id"], "w1")

    child = Job.objects.get(pk=body["id"])
    assert child.status == "succeeded", child.error
    start = checkpoint_path(services.job_workdir(parent.pk), 1)
    end = checkpoint_path(services.job_workdir(child.pk), 1)
    with np.load(start) as before, np.load(end) as after:
        same = [np.array_equal(before[k], after[k]) for k in weight_keys(before)]
    assert all(same[:-2]) and not any(same[-2:])
    assert any("frozen layers" in e.data["message"] for e in child.events.filter(type="log"))


@pytest.mark.parametrize("parent_field, fields, message", [
    ({"job": 999999}, {}, "No such job"),
    ({"job": None, "epoch": 1}, {}, "No such job"),
    ("PARENT", {"epoch": 7}, "no checkpoint for epoch 7"),
    ("PARENT", {"epoch": 0}, "whole number"),
    ("PARENT", {"freeze": "everything"}, "Unknown freeze"),
    ("PARENT", {"recipe": "mlp", "dataset": "digits"}, "same recipe"),
    ("PARENT", {"dataset": "mnist"}, "do not fit"),
    ("PARENT", {"activation": "tanh"}, "activation"),
])
def test_an_unusable_parent_is_a_400_naming_the_parent_field(alice, parent, parent_field, fields, message):
    extra = {k: fields.pop(k) for k in ("recipe", "dataset") if k in fields}
    hp = {k: fields.pop(k) for k in ("activation",) if k in fields}
    parent_value = {"job": parent.pk, **fields} if parent_field == "PARENT" else parent_field

    response = fork(client_for(alice), parent_value, **extra, **hp)

    assert response.status_code == 400
    assert message in " ".join(response.json()["parent"])
    assert Job.objects.count() == 1


def test_another_users_job_cannot_be_forked_and_is_not_revealed(bob, parent):
    response = fork(client_for(bob), {"job": parent.pk})

    assert response.status_code == 400
    assert response.json()["parent"] == [f"No such job: {parent.pk}."]
