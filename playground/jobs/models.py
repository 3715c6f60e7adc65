from __future__ import annotations

from django.conf import settings
from django.db import models

from trainer import artifacts as artifact_records
from trainer.artifacts import Artifact


class JobGroup(models.Model):
    """Jobs submitted together: an optimizer race (one recipe, one seed, one optimizer each), an
    engine race (one spec, trained in the browser and on a worker) or a sweep (one spec, one
    hyperparameter set to a different value in each job)."""

    KIND_RACE = "race"
    # The same job once per engine (the browser against a server worker), on one wall-clock chart.
    KIND_ENGINES = "engines"
    # One hyperparameter, named in `vary`, takes a different value in each job.
    KIND_SWEEP = "sweep"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="job_groups")
    kind = models.CharField(max_length=16, default=KIND_RACE)
    vary = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.pk}"


class Job(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="jobs")
    recipe = models.CharField(max_length=64)
    dataset = models.CharField(max_length=64)
    hyperparameters = models.JSONField(default=dict)
    precision = models.CharField(max_length=32, default="float32")
    strategy = models.CharField(max_length=32, default="default")
    # GPUs the job asks for, and the Celery queue that choice routed it to (playground/ops).
    gpus = models.PositiveSmallIntegerField(default=0)
    queue = models.CharField(max_length=64, default="training")
    # Where it trains: "server" (a Celery worker) or "browser" (the tab that claims it, with
    # TF.js; playground/jobs/browser.py). The tab's lease is kept as a SHA-256 digest.
    engine = models.CharField(max_length=16, default="server", db_index=True)
    browser_lease = models.CharField(max_length=64, blank=True)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    cancel_requested = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=255, blank=True)
    # The running worker's lease (playground/jobs/leases.py): refreshed while it trains; a
    # stale one means the worker died and the job is resumed elsewhere. attempts counts claims.
    heartbeat_at = models.DateTimeField(null=True, blank=True, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    # started_at is the first start; resumed_at the latest takeover after a worker loss.
    resumed_at = models.DateTimeField(null=True, blank=True)
    # When the job last went (back) into the queue: a requeued job's lost message is resent
    # a lease timeout after this, not after created_at.
    queued_at = models.DateTimeField(null=True, blank=True)
    # A job is given up only after PLAYGROUND_MAX_ATTEMPTS attempts in a row that added no
    # epoch (a poison job), not after that many worker losses: epochs_at_claim is the epochs
    # completed when the current attempt began.
    epochs_at_claim = models.PositiveIntegerField(default=0)
    stalled_attempts = models.PositiveIntegerField(default=0)
    # Things a finished job's owner should know although it succeeded, e.g. a test accuracy
    # at chance level: [{"code", "message"}].
    warnings = models.JSONField(default=list, blank=True)

    # Summaries folded from the event stream, so list/detail reads need no event scan.
    progress = models.JSONField(default=dict)
    metrics = models.JSONField(default=dict)
    best_epoch = models.PositiveIntegerField(null=True, blank=True)
    test_metrics = models.JSONField(null=True, blank=True)
    analysis = models.JSONField(null=True, blank=True)
    artifacts = models.JSONField(default=list)
    run_info = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    last_seq = models.PositiveIntegerField(default=0)
    # Bytes under the job's folder when it finished (the per-user disk quota adds them up);
    # null while it is queued or running, and for jobs finished before it was recorded.
    disk_bytes = models.BigIntegerField(null=True, blank=True)

    # Forks (trainer.finetune): start from the parent's checkpoint of `parent_epoch`
    # ("best", "latest" or an epoch number), optionally with all but the last layer frozen.
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="forks")
    parent_epoch = models.CharField(max_length=16, blank=True)
    freeze = models.CharField(max_length=16, default="none")
    group = models.ForeignKey(JobGroup, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Job {self.pk} ({self.recipe}/{self.dataset}, {self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def completed_epochs(self) -> int:
        """Epochs reported so far (each epoch event appends to every metric's list)."""
        return max((len(values) for values in self.metrics.values()), default=0)

    def artifact(self, kind: str, variant: str | None = None, *, model: str | None = None) -> Artifact | None:
        """The first exported artifact of `kind` (and `variant`, `model` when given), or None."""
        found = artifact_records.find(self.artifacts, kind, variant, model=model)
        return found[0] if found else None

    def spec_dict(self) -> dict:
        return {
            "recipe": self.recipe,
            "dataset": self.dataset,
            "hyperparameters": self.hyperparameters,
            "precision": self.precision,
            "strategy": self.strategy,
            "gpus": self.gpus,
        }


class JobEvent(models.Model):
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveIntegerField()
    type = models.CharField(max_length=16)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["job", "seq"]
        constraints = [models.UniqueConstraint(fields=["job", "seq"], name="unique_event_seq_per_job")]

    def __str__(self) -> str:
        return f"{self.job_id}#{self.seq} {self.type}"

    def message(self) -> dict:
        return {"seq": self.seq, "type": self.type, "job": self.job_id, "data": self.data}


class GangSlot(models.Model):
    """One worker's place in a multi_worker job's TensorFlow cluster (playground/jobs/gang.py).

    Unique per (job, rank) so two workers never claim one rank, and per (job, worker) so a
    worker never holds two ranks of a job: it would wait for itself."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="gang_slots")
    rank = models.PositiveSmallIntegerField()
    worker = models.CharField(max_length=255)
    # host:port of this member's TensorFlow gRPC server, as the other members reach it.
    address = models.CharField(max_length=255)
    joined_at = models.DateTimeField(auto_now_add=True)
    heartbeat_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["job", "rank"]
        constraints = [
            models.UniqueConstraint(fields=["job", "rank"], name="unique_gang_rank"),
            models.UniqueConstraint(fields=["job", "worker"], name="one_gang_rank_per_worker"),
        ]

    def __str__(self) -> str:
        return f"{self.job_id} rank {self.rank} on {self.worker}"
