from __future__ import annotations

import logging

from celery import Task, shared_task

from playground.jobs import gang, services

log = logging.getLogger(__name__)


class JobTask(Task):
    """A task about one job (args: job_id). If its handler itself raises, the job still ends
    `failed` with the error, instead of `running` until the watchdog takes it for a dead worker."""

    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        job_id, worker = args[0], self.request.hostname or "unknown"
        try:
            if services.fail_crashed_job(job_id, worker, exc):
                log.error("job %s failed by the task backstop after %s: %s", job_id, type(exc).__name__, exc)
        except Exception:  # the database itself may be what failed; the watchdog is the last resort
            log.exception("job %s: the task backstop could not fail the job", job_id)


@shared_task(bind=True, base=JobTask, acks_late=True, ignore_result=True)
def run_job(self, job_id: int) -> None:
    # acks_late + the conditional claim in services: a redelivered message is a no-op.
    services.run_job(job_id, worker=self.request.hostname or "unknown")


@shared_task(bind=True, base=JobTask, acks_late=True, ignore_result=True)
def run_gang_member(self, job_id: int) -> None:
    # One of a multi_worker:<n> job's n messages: join its gang and train as one rank.
    gang.run_member(job_id, worker=self.request.hostname or "unknown")
