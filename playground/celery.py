from __future__ import annotations

import logging
import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "playground.settings")

app = Celery("playground")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


_inherited_pools: list = []


@signals.worker_process_init.connect
def forget_inherited_database_connections(**kwargs) -> None:
    """A prefork pool child drops, without closing, the database connections and pools it
    inherited from the worker's parent process (connected before this handler runs Celery's
    Django fixup, which would close them).

    Those sockets are the parent's: closing the inherited psycopg pool sent PostgreSQL a
    Terminate on each, and the parent's watchdog and registry heartbeat then failed with
    "server closed the connection unexpectedly" every time a child was replaced. The child
    opens its own on first use; psycopg's objects do not close a connection when garbage
    collected in another process, and the pools are kept so their finalizers never run here.
    """
    from django.db import connections

    for connection in connections.all(initialized_only=True):
        connection.connection = None
        pools = getattr(type(connection), "_connection_pools", None)
        if pools:
            _inherited_pools.extend(pools.values())
            pools.clear()


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


_devices: list[dict] = []


@signals.celeryd_after_setup.connect
def choose_queues(sender, instance, **kwargs) -> None:
    """Finds this worker's devices and adds gpu-1 … gpu-k to the queues -Q chose
    (PLAYGROUND_WORKER_QUEUES replaces them), before it consumes anything."""
    from playground.ops.registry import probe_devices, select_worker_queues

    _devices[:] = probe_devices()
    select_worker_queues(instance.app, _devices)


@signals.worker_ready.connect
def register_worker(sender, **kwargs) -> None:
    """Advertises the worker (hostname, queues, devices) in the registry, with a heartbeat."""
    from playground.ops.registry import worker_started

    worker_started(sender.hostname, list(sender.app.amqp.queues.consume_from), _devices)


@signals.worker_shutdown.connect
def unregister_worker(sender, **kwargs) -> None:
    from playground.ops.registry import worker_stopped

    try:
        worker_stopped(sender.hostname)
    except Exception:  # the database may be what is going away; the row then goes stale
        logging.getLogger(__name__).exception("could not unregister worker %s", sender.hostname)


@signals.worker_ready.connect
def watch_for_stale_jobs(**kwargs) -> None:
    """Requeues jobs whose worker died (no heartbeat), now and every lease timeout: Celery
    beat is not part of this deployment, so every worker keeps watch (playground/jobs/leases.py)."""
    from playground.jobs.leases import start_watchdog

    start_watchdog()
