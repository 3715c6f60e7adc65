"""What operators watch: the Celery workers that are online and what they can run."""
from __future__ import annotations

from django.db import models


class WorkerNode(models.Model):
    """One Celery worker (its hostname, e.g. celery@gpu-box-1), written by the worker itself at
    start-up and refreshed by its heartbeat; a worker whose last_seen is older than the lease
    timeout is offline."""

    hostname = models.CharField(max_length=255, unique=True)
    # The queues it consumes and the accelerators it found: [{"name": "/physical_device:GPU:0",
    # "type": "GPU", ...}]; gpus is the count, for routing (a job asking for n GPUs goes to a
    # queue that only workers with >= n GPUs consume).
    queues = models.JSONField(default=list)
    devices = models.JSONField(default=list)
    gpus = models.PositiveSmallIntegerField(default=0)
    pid = models.PositiveIntegerField(null=True, blank=True)
    current_job = models.ForeignKey("jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    started_at = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["hostname"]

    def __str__(self) -> str:
        return self.hostname
