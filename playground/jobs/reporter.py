"""The Django side of trainer's Reporter protocol: every training event is persisted and
folded into the job row, then broadcast (playground.jobs.events.publish)."""
from __future__ import annotations

import logging
import time

from django.conf import settings
from django.urls import reverse

from playground.jobs import events
from playground.jobs.models import Job

log = logging.getLogger(__name__)


def artifact_url(job_id: int, path: str) -> str:
    return reverse("job-artifact", kwargs={"pk": job_id, "path": path})


def _fold(type: str, data: dict, job_id: int):
    def fold(job: Job) -> list[str]:
        if type == "batch":
            job.progress = {**job.progress, **{k: data.get(k) for k in ("epoch", "epochs", "step", "steps")}}
            job.progress["samples_per_s"] = data.get("samples_per_s")
            return ["progress"]
        if type == "epoch":
            job.progress = {**job.progress, "epoch": data.get("epoch"), "epochs": data.get("epochs")}
            metrics = dict(job.metrics)
            for name, value in (data.get("logs") or {}).items():
                metrics[name] = [*metrics.get(name, []), value]
            job.metrics = metrics
            job.best_epoch = data.get("best_epoch", job.best_epoch)
            return ["progress", "metrics", "best_epoch"]
        if type == "artifact":
            job.artifacts = [*job.artifacts, data]
            return ["artifacts"]
        return []

    return fold


class JobReporter:
    """Reporter for one job. Errors are logged and swallowed: reporting never breaks training."""

    def __init__(self, job_id: int, cancel_poll_s: float | None = None, lease=None):
        self.job_id = job_id
        self.cancel_poll_s = settings.PLAYGROUND_CANCEL_POLL_S if cancel_poll_s is None else cancel_poll_s
        self._checked_at = 0.0
        self._stop = False
        self.epoch = 0  # the epoch in progress, from batch events
        self.completed_epochs = 0
        # The worker's lease (playground/jobs/leases.py): when another worker took the job
        # over, this one stops at its next batch and finishes nothing.
        self.lease = lease
        self.lease_lost = False

    def on_event(self, type: str, data: dict) -> None:
        try:
            if type == "artifact" and "path" in data:
                data = {**data, "url": artifact_url(self.job_id, data["path"])}
            if type == "batch":
                self.epoch = data.get("epoch", self.epoch)
            elif type == "epoch":
                self.completed_epochs = data.get("epoch", self.completed_epochs)
            events.publish(self.job_id, type, data, fold=_fold(type, data, self.job_id))
        except Exception:
            log.exception("job %s: could not record %s event", self.job_id, type)

    def where(self) -> str:
        """Where training is, for a failure reason: "in epoch 3", "after epoch 5" (evaluating or
        exporting), or "before the first epoch" (loading data, building the model)."""
        if self.epoch > self.completed_epochs:
            return f"in epoch {self.epoch}"
        if self.completed_epochs:
            return f"after epoch {self.completed_epochs}"
        return "before the first epoch"

    def should_stop(self) -> bool:
        now = time.monotonic()
        if not self._stop and now - self._checked_at >= self.cancel_poll_s:
            self._checked_at = now
            try:
                self._stop = Job.objects.filter(pk=self.job_id, cancel_requested=True).exists()
            except Exception:
                log.exception("job %s: could not read the cancel flag", self.job_id)
        if self.lease is not None and self.lease.lost.is_set():
            self.lease_lost = self._stop = True
        return self._stop
