"""`manage.py requeue_stale_jobs`: requeue running jobs whose worker stopped heartbeating (they
resume from their last checkpoint) or fail them after PLAYGROUND_MAX_ATTEMPTS attempts
in a row without a new epoch.

Workers already do this at startup and every PLAYGROUND_WATCHDOG_S; the command is for a deployment
with no worker left alive, or cron."""
from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from playground.jobs.leases import requeue_stale_jobs


class Command(BaseCommand):
    help = "Requeue (or fail after too many attempts) running jobs whose worker stopped heartbeating."

    def handle(self, *args, **options) -> None:
        self.stdout.write(json.dumps(requeue_stale_jobs()))
