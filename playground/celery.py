from __future__ import annotations

import logging
import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "playground.settings")

app = Celery("playground")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.worker_process_init.connect
def configure_training_devices(**kwargs) -> None:
    """Splits the CPU into PLAYGROUND_CPU_REPLICAS logical devices in each worker process.

    Sent in every pool process (prefork child, or the solo pool's one), before any job, which
    is the last moment TensorFlow accepts a device layout.
    """
    from django.conf import settings

    if settings.PLAYGROUND_CPU_REPLICAS > 1:
        from trainer.devices import configure_devices

        try:
            configure_devices(settings.PLAYGROUND_CPU_REPLICAS)
        except RuntimeError:
            # The embedded worker shares the web process, whose inference may have started
            # TensorFlow already; its jobs then run on one CPU device rather than not at all.
            logging.getLogger(__name__).exception("PLAYGROUND_CPU_REPLICAS not applied")


@signals.worker_ready.connect
def watch_for_stale_jobs(**kwargs) -> None:
    """Requeues jobs whose worker died (no heartbeat), now and every lease timeout: Celery
    beat is not part of this deployment, so every worker keeps watch (playground/jobs/leases.py)."""
    from playground.jobs.leases import start_watchdog

    start_watchdog()
