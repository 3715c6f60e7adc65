"""Forks meet checkpoint retention (PLAYGROUND_CHECKPOINT_KEEP_*) and the cars-vs-horses head."""
from __future__ import annotations

import pytest

from playground.jobs import services
from playground.jobs.models import Job
from tests.conftest import client_for
from trainer.checkpoint import checkpoint_path, saved_epochs
from trainer.spec import validate_spec

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")]


def test_a_fork_from_a_pruned_epoch_is_a_400_listing_the_epochs_kept(alice, settings):
    settings.PLAYGROUND_CHECKPOINT_KEEP_EVERY, settings.PLAYGROUND_CHECKPOINT_KEEP_LAST = 2, 1
    parent = services.create_job(alice, validate_spec({"recipe": "lenet", "dataset": "digits_0_4",
                                                        "hyperparameters": {"epochs": 5, "batch_size": 64}}))
    services.run_job(parent.pk, "w1")
    parent.refresh_from_db()
    assert parent.status == "succeeded", parent.error
    kept = saved_epochs(services.job_workdir(parent.pk))
    assert {2, 4, 5} <= set(kept) and len(kept) <= 4  # every 2nd, the last, and the best
    pruned = min(set(range(1, 6)) - set(kept))

    response = client_for(alice).post("/api/v1/jobs/", {
        "recipe": "lenet", "dataset": "digits_5_9", "parent": {"job": parent.pk, "epoch": pruned},
    }, format="json")

    assert response.status_code == 400
    message = " ".join(response.json()["parent"])
    assert f"no checkpoint for epoch {pruned}" in message
    assert f"choose one of epochs {', '.join(map(str, kept))}" in message


def test_a_cifar10_job_can_be_forked_onto_cars_vs_horses(alice):
    parent = services.create_job(alice, validate_spec({"recipe": "cifar10"}))
    best = checkpoint_path(services.job_workdir(parent.pk), "best")
    best.parent.mkdir(parents=True)
    best.write_bytes(b"")  # validation only checks that it exists

    response = client_for(alice).post("/api/v1/jobs/", {
        "recipe": "cifar10", "dataset": "cifar10_cars_horses",
        "parent": {"job": parent.pk, "freeze": "all_but_last"},
    }, format="json")

    assert response.status_code == 201, response.json()
    assert Job.objects.get(pk=response.json()["id"]).parent_id == parent.pk
