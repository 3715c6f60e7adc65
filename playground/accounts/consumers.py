from __future__ import annotations

from channels.db import database_sync_to_async

from playground.accounts.models import ShareLink
from playground.accounts.share import shared_job_data
from playground.jobs.consumers import CLOSE_NOT_FOUND, JobConsumer


@database_sync_to_async
def _shared_job_id(token: str) -> int | None:
    return ShareLink.objects.filter(token=token).values_list("job_id", flat=True).first()


class SharedJobConsumer(JobConsumer):
    """/ws/share/<token>/?after=<seq>: the job consumer for a share link; no login needed.
    A link revoked later does not cut connections already open (they saw the job anyway)."""

    async def check_access(self) -> int | None:
        self.token = self.scope["url_route"]["kwargs"]["token"]
        self.job_id = await _shared_job_id(self.token)
        return CLOSE_NOT_FOUND if self.job_id is None else None

    def job_data(self, job) -> dict:
        return shared_job_data(job, self.token)
