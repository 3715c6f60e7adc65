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
    assert [name for name, info in datasets.DATASETS.items() if info.train_samples is None] == []


@pytest.mark.parametrize("name, hp", [("digits", {}), ("digits_0_4", {}), ("digits_5_9", {}),
                                      ("fizzbuzz", {"num_digits": 12})])
def test_the_registered_sizes_of_offline_datasets_match_their_loaders(name, hp):
    assert len(datasets.load(name, **hp).y_train) == datasets.DATASETS[name].samples_per_epoch(hp)


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


# ---- model size and disk -------------------------------------------------------------------------

# The issue's job: one epoch took 80 s, 4.5 GB of worker memory and 6.1 GB of disk.
HUGE_MLP = {"hidden_layers": [4096] * 8, "batch_size": 4096, "epochs": 1}


def test_the_issues_huge_mlp_is_a_400_that_names_the_parameters_and_the_limit(alice):
    response = submit(alice, hyperparameters=HUGE_MLP)

    assert response.status_code == 400
    errors = response.json()["hyperparameters"]
    assert errors[0] == "The model has 117,776,394 parameters; the limit is 20,000,000. Use fewer or smaller layers."
    assert any(e.startswith("Its TF.js model would be 471 MB of float32 weights; browsers are given at most 100 MB")
               for e in errors)
    assert any(e.startswith("The job would keep up to 6.5 GB on disk (3 checkpoints of 1.4 GB") for e in errors)
    assert not Job.objects.exists()


def test_staff_are_exempt_from_the_model_size_limits(make_user):
    root = make_user("root", staff=True)

    assert submit(root, hyperparameters=HUGE_MLP).status_code == 201


def test_too_much_activation_memory_is_refused_with_the_batch_size_that_fits(alice, settings):
    settings.PLAYGROUND_MAX_ACTIVATION_BYTES = 10_000_000
    # (64 flattened + 4096 + 10) floats × 4 bytes × 3 for the backward pass = 50,040 bytes a sample.
    response = submit(alice, hyperparameters={"hidden_layers": [4096], "batch_size": 4096})

    assert response.status_code == 400
    assert response.json()["hyperparameters"] == [
        "A batch of 4,096 needs about 205 MB of activation memory; the limit is 10 MB. Use a batch_size of at most 199."]
    assert submit(alice, hyperparameters={"hidden_layers": [4096], "batch_size": 199}).status_code == 201


def test_a_model_too_big_for_a_browser_is_refused_up_front(alice, settings):
    settings.PLAYGROUND_MAX_TFJS_BYTES = 1_000_000

    response = submit(alice, hyperparameters={"hidden_layers": [512, 512]})  # 301,066 parameters

    assert response.status_code == 400
    assert response.json()["hyperparameters"] == [
        "Its TF.js model would be 1.2 MB of float32 weights; browsers are given at most 1 MB. "
        "Use fewer or smaller layers."]


def test_a_job_that_would_keep_too_much_on_disk_says_how_many_checkpoints(alice, settings):
    settings.PLAYGROUND_MAX_JOB_DISK_BYTES = 25_000_000
    settings.PLAYGROUND_CHECKPOINT_KEEP_EVERY, settings.PLAYGROUND_CHECKPOINT_KEEP_LAST = 5, 3

    response = submit(alice, hyperparameters={"hidden_layers": [512, 512], "epochs": 60})

    assert response.status_code == 400
    # 60 epochs keep 11 multiples of 5, the last 3, the best, and latest + best + the newest.
    assert response.json()["hyperparameters"] == [
        "The job would keep up to 71 MB on disk (18 checkpoints of 3.6 MB and 5.7 MB of exports); "
        "the limit is 25 MB per job. Use fewer epochs or a smaller model."]
    assert submit(alice, hyperparameters={"hidden_layers": [512, 512], "epochs": 2}).status_code == 201  # 20 MB


def test_a_race_of_too_big_models_is_a_400_and_creates_nothing(alice):
    response = client_for(alice).post("/api/v1/races/", {"recipe": "mlp", "hyperparameters": HUGE_MLP,
                                                         "optimizers": ["sgd", "adam"]}, format="json")

    assert response.status_code == 400
    assert "The model has 117,776,394 parameters; the limit is 20,000,000." in response.json()["hyperparameters"][0]
    assert not Job.objects.exists() and not JobGroup.objects.exists()


def test_retrying_a_job_too_big_for_todays_limits_is_a_400(alice):
    job = Job.objects.create(owner=alice, recipe="mlp", dataset="digits", hyperparameters=HUGE_MLP,
                             status=Job.Status.FAILED)

    response = client_for(alice).post(f"/api/v1/jobs/{job.pk}/retry/")

    assert response.status_code == 400
    assert response.json()["detail"].startswith("The model has 117,776,394 parameters; the limit is 20,000,000.")
    assert Job.objects.count() == 1


def test_the_play_form_shows_the_model_size_error(alice):
    client = Client()
    client.force_login(alice)

    response = client.post("/play/mlp/", {"dataset": "digits", "epochs": "1", "batch_size": "4096",
                                          "hidden_layers": ", ".join(["4096"] * 8)})

    assert response.status_code == 400
    assert "The model has 117,776,394 parameters; the limit is 20,000,000." in response.content.decode()
    assert not Job.objects.exists()


def default_job_disk() -> int:
    return quotas.disk_estimate(validate_spec({"recipe": "mlp"}))


def finished(owner, disk_bytes) -> Job:
    return Job.objects.create(owner=owner, recipe="mlp", dataset="digits", status=Job.Status.SUCCEEDED,
                              disk_bytes=disk_bytes)


def test_a_job_over_the_users_disk_quota_is_a_400_with_the_figures(alice, bob, settings):
    settings.PLAYGROUND_USER_DISK_QUOTA_BYTES = 1_000_000_000
    finished(bob, 999_000_000)  # another user's jobs do not count
    finished(alice, 1_000_000_000 - default_job_disk())

    assert submit(alice).status_code == 201  # exactly full now, counting the queued job's estimate

    response = submit(alice)

    assert response.status_code == 400
    assert response.json()["detail"] == (
        "Your jobs keep 1 GB on disk and this job needs up to 2.4 MB, 1.002 GB in all; your quota is 1 GB. Jobs "
        "cannot be deleted from the API yet: ask an administrator to remove old ones, or submit a smaller job "
        "(fewer epochs or a smaller model).")
    assert Job.objects.filter(owner=alice).count() == 2


def test_jobs_finished_before_disk_bytes_was_recorded_are_measured_on_disk(alice, settings):
    settings.PLAYGROUND_USER_DISK_QUOTA_BYTES = 5_000_000
    old = finished(alice, None)
    services.job_workdir(old.pk).mkdir(parents=True)
    (services.job_workdir(old.pk) / "model.h5").write_bytes(b"\0" * 4_000_000)

    response = submit(alice)

    assert response.status_code == 400 and response.json()["detail"].startswith("Your jobs keep 4 MB on disk and")
    settings.PLAYGROUND_USER_DISK_QUOTA_BYTES = 10_000_000
    assert submit(alice).status_code == 201
    old.refresh_from_db()
    assert old.disk_bytes == 4_000_000  # recorded with the submission that committed


def test_staff_are_exempt_from_the_disk_quota(make_user, settings):
    settings.PLAYGROUND_USER_DISK_QUOTA_BYTES = 1_000
    root = make_user("root", staff=True)
    finished(root, 10**12)

    assert submit(root).status_code == 201


def test_a_finished_job_records_the_bytes_its_folder_holds(alice):
    [job] = queue(alice, 1)
    Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING)
    folder = services.job_workdir(job.pk) / "checkpoints"
    folder.mkdir(parents=True)
    (folder / "latest.weights.npz").write_bytes(b"\0" * 1234)
    (services.job_workdir(job.pk) / "model.h5").write_bytes(b"\0" * 100)

    services.fail_job(job.pk, "loss became NaN at epoch 3")

    job.refresh_from_db()
    assert job.status == Job.Status.FAILED and job.disk_bytes == 1334


def test_a_dataset_sizing_has_no_shape_for_is_not_limited_rather_than_an_error(alice):
    from trainer.recipes import RECIPES
    from trainer.spec import JobSpec

    spec = JobSpec(recipe="mlp", dataset="user:7", hyperparameters=RECIPES["mlp"].defaults())

    assert quotas.model_size_errors(alice, spec) == [] and quotas.disk_estimate(spec) == 0
