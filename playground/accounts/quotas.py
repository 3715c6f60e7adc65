"""Per-user limits on submissions: how many jobs may be queued or running at once, and how much
training one job may ask for (epochs × training samples). Staff are exempt. Shared by the API,
races and the play form so all three refuse with the same words."""
from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from playground.jobs.models import Job
from trainer.spec import JobSpec

# Training samples per epoch for each registered dataset (trainer.datasets.DATASETS); a test
# checks that every registered dataset is listed here.
TRAIN_SAMPLES = {
    "digits": 1437,
    "digits_0_4": 721,
    "digits_5_9": 716,
    "mnist": 60_000,
    "fashion_mnist": 60_000,
    "cifar10": 50_000,
    "cifar10_cars_horses": 10_000,
    "multi30k_de_en": 29_000,
    "movielens_100k": 80_000,
}


class QuotaExceeded(Exception):
    """Too many jobs queued or running; the message says how many and what to do."""


def train_samples(spec: JobSpec) -> int | None:
    if spec.dataset == "fizzbuzz":
        # Trains on the numbers 101 .. 2^num_digits - 1.
        return 2 ** spec.hyperparameters["num_digits"] - 101
    return TRAIN_SAMPLES.get(spec.dataset)


def sample_epochs_error(user, spec: JobSpec) -> str | None:
    """Why `spec` asks for more training than one job may have, or None when it fits."""
    cap = settings.PLAYGROUND_QUOTA_SAMPLE_EPOCHS
    samples = train_samples(spec)
    epochs = spec.hyperparameters.get("epochs")
    if user.is_staff or not cap or samples is None or epochs is None or epochs * samples <= cap:
        return None
    return (f"{epochs} epochs × {samples:,} {spec.dataset} training samples = {epochs * samples:,}, above the "
            f"limit of {cap:,} per job. Use at most {max(cap // samples, 1)} epochs on {spec.dataset}.")


def reserve_job_slots(user, count: int = 1) -> None:
    """Raises QuotaExceeded unless `user` may queue `count` more jobs. Call it inside the
    transaction that creates them: it locks the user's row, so two simultaneous submissions
    cannot both take the last slot."""
    limit = settings.PLAYGROUND_QUOTA_CONCURRENT_JOBS
    if user.is_staff or not limit:
        return
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("reserve_job_slots() must run inside transaction.atomic()")
    get_user_model().objects.select_for_update().filter(pk=user.pk).first()
    active = Job.objects.filter(owner=user, status__in=[Job.Status.QUEUED, Job.Status.RUNNING]).count()
    if active + count > limit:
        adding = "" if count == 1 else f" and this adds {count}"
        raise QuotaExceeded(
            f"You have {active} job{'s' if active != 1 else ''} queued or running{adding}; the limit is {limit}. "
            "Wait for one to finish or cancel one."
        )
