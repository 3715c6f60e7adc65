from __future__ import annotations

import pytest
from django.test import Client

from playground.accounts import quotas
from playground.jobs import services
from playground.jobs.models import Job, JobGroup
from tests.conftest import client_for
from trainer import datasets
from trainer.spec import validate_spec

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def limits(settings):
    settings.PLAYGROUND_QUOTA_CONCURRENT_JOBS = 3
    settings.PLAYGROUND_QUOTA_SAMPLE_EPOCHS = 100_000
    settings.PLAYGROUND_SUBMIT_RATE = ""


def queue(owner, n: int) -> list[Job]:
    return [services.create_job(owner, validate_spec({"recipe": "mlp"})) for _ in range(n)]


def submit(user, **body):
    return client_for(user).post("/api/v1/jobs/", {"recipe": "mlp", **body}, format="json")


def test_a_submission_over_the_concurrent_jobs_limit_is_a_429_that_says_what_to_do(alice):
    queue(alice, 3)

    response = submit(alice)

    assert response.status_code == 429
    assert response.json()["detail"] == ("You have 3 jobs queued or running; the limit is 3. "
                                         "Wait for one to finish or cancel one.")
    assert Job.objects.filter(owner=alice).count() == 3


def test_finished_jobs_and_other_users_jobs_do_not_count(alice, bob):
    jobs = queue(alice, 3)
    queue(bob, 3)
    services.request_cancel(jobs[0])

    assert submit(alice).status_code == 201
    assert submit(alice).status_code == 429


def test_staff_are_exempt_from_quotas(make_user):
    root = make_user("root", staff=True)
    queue(root, 3)

    assert submit(root, hyperparameters={"epochs": 500}).status_code == 201


def test_a_limit_of_zero_turns_the_concurrency_quota_off(alice, settings):
    settings.PLAYGROUND_QUOTA_CONCURRENT_JOBS = 0
    queue(alice, 3)

    assert submit(alice).status_code == 201


def test_too_many_epochs_for_the_dataset_is_a_400_at_the_epochs_field(alice):
    # digits: 1437 training samples; 100,000 / 1437 → at most 69 epochs.
    assert submit(alice, hyperparameters={"epochs": 69}).status_code == 201

    response = submit(alice, hyperparameters={"epochs": 70})

    assert response.status_code == 400
    [message] = response.json()["hyperparameters"]["epochs"]
    assert message == ("70 epochs × 1,437 digits training samples = 100,590, above the limit of 100,000 per job. "
                       "Use at most 69 epochs on digits.")


def test_fizzbuzz_counts_the_numbers_its_digits_give(alice):
    spec = validate_spec({"recipe": "fizzbuzz", "hyperparameters": {"num_digits": 16, "epochs": 2}})

    assert quotas.train_samples(spec) == 2**16 - 101
    assert "Use at most 1 epochs" in quotas.sample_epochs_error(alice, spec)


def test_every_registered_dataset_has_a_training_size():
    listed = set(quotas.TRAIN_SAMPLES) | {"fizzbuzz"}

    assert set(datasets.DATASETS) <= listed


@pytest.mark.parametrize("name", ["digits", "digits_0_4", "digits_5_9"])
def test_the_listed_sizes_of_offline_datasets_match_their_loaders(name):
    assert len(datasets.load(name).y_train) == quotas.TRAIN_SAMPLES[name]


def test_a_race_that_would_pass_the_limit_is_a_429_and_creates_nothing(alice):
    queue(alice, 1)

    response = client_for(alice).post("/api/v1/races/", {"recipe": "mlp", "optimizers": ["sgd", "adam", "rmsprop"]},
                                      format="json")

    assert response.status_code == 429
    assert response.json()["detail"] == ("You have 1 job queued or running and this adds 3; the limit is 3. "
                                         "Wait for one to finish or cancel one.")
    assert Job.objects.filter(owner=alice).count() == 1 and not JobGroup.objects.exists()


def test_a_race_with_too_many_epochs_is_a_400_at_the_epochs_field(alice):
    response = client_for(alice).post("/api/v1/races/", {"recipe": "mlp", "hyperparameters": {"epochs": 100},
                                                         "optimizers": ["sgd", "adam"]}, format="json")

    assert response.status_code == 400 and "Use at most 69 epochs" in response.json()["hyperparameters"]["epochs"][0]


def test_the_play_form_refuses_over_quota_with_the_same_message(alice):
    client = Client()
    client.force_login(alice)
    queue(alice, 3)

    response = client.post("/play/mlp/", {"dataset": "digits", "epochs": "5"})

    assert response.status_code == 429
    assert ("You have 3 jobs queued or running; the limit is 3. Wait for one to finish or cancel one."
            in response.content.decode())
    assert Job.objects.filter(owner=alice).count() == 3


def test_the_play_form_marks_the_epochs_field_when_the_job_is_too_big(alice):
    client = Client()
    client.force_login(alice)

    response = client.post("/play/mlp/", {"dataset": "digits", "epochs": "70"})

    assert response.status_code == 400
    assert "Use at most 69 epochs on digits." in response.content.decode()
    assert not Job.objects.exists()
