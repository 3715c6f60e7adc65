from __future__ import annotations

from celery import shared_task

from playground.jobs import gang, services


@shared_task(bind=True, acks_late=True, ignore_result=True)
def run_job(self, job_id: int) -> None:
    # acks_late + the conditional claim in services: a redelivered message is a no-op.
    services.run_job(job_id, worker=self.request.hostname or "unknown")


@shared_task(bind=True, acks_late=True, ignore_result=True)
def run_gang_member(self, job_id: int) -> None:
    # One of a multi_worker:<n> job's n messages: join its gang and train as one rank.
    gang.run_member(job_id, worker=self.request.hostname or "unknown")
