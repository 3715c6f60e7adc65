from __future__ import annotations

from channels.db import database_sync_to_async

from playground.accounts.models import ShareLink
from playground.accounts.share import shared_job_data
from playground.jobs.consumers import CLOSE_NOT_FOUND, JobConsumer


@database_sync_to_async
def _shared_link(token: str) -> ShareLink | None:
    return ShareLink.objects.filter(token=token).only("pk", "job_id").first()


class SharedJobConsumer(JobConsumer):
    """/ws/share/<token>/?after=<seq>: the job consumer for a share link; no login needed.
    Revoking the link closes the connections open with it (4401), as later ones get 4404."""

    async def check_access(self) -> int | None:
        self.token = self.scope["url_route"]["kwargs"]["token"]
        self.link = await _shared_link(self.token)
        if self.link is None:
            return CLOSE_NOT_FOUND
        self.job_id = self.link.job_id
        return None

    def extra_credential_groups(self) -> tuple[str, ...]:
        return (self.link.socket_group,)

    def job_data(self, job) -> dict:
        return shared_job_data(job, self.token)
