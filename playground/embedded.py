"""The embedded worker: a real Celery worker (solo pool, in-memory broker) in a thread of the
web process, so `make run` needs no Redis and runs the same task code as a deployment."""
from __future__ import annotations

import logging
import socket
import threading

from celery.app.trace import setup_worker_optimizations

from playground.celery import app
from playground.jobs.leases import start_watchdog
from playground.ops import registry

log = logging.getLogger(__name__)


class EmbeddedWorker:
    def __init__(self):
        self.controller = None
        self.watchdog = None
        self.hostname = f"embedded@{socket.gethostname()}"
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, name="embedded-celery-worker", daemon=True)

    def _make_controller(self, queues: list[str]):
        return app.WorkController(
            hostname=self.hostname,
            pool_cls="solo",
            concurrency=1,
            queues=queues,
            prefetch_multiplier=1,
            without_heartbeat=True,
            without_mingle=True,
            without_gossip=True,
            loglevel="INFO",
        )

    def _run(self) -> None:
        try:
            # Built in this thread, not on the server's event loop: Celery's Django fixup
            # touches the database in its init signals, which Django refuses in async code.
            try:
                # Its devices and queues, as a separate worker finds them at celeryd_after_setup;
                # WorkController sends no worker_ready, so it registers itself here.
                devices = registry.probe_devices()
                queues = registry.queues_for_worker(registry.gpu_count(devices), ["training"])
                self.controller = self._make_controller(queues)
                # What `celery worker` does at start: without it tasks see socket.gethostname()
                # as request.hostname, not this worker's name, and leases and the registry's
                # current_job would name a worker that does not exist.
                setup_worker_optimizations(app, self.hostname)
            finally:
                self.ready.set()
            registry.worker_started(self.hostname, queues, devices)
            # Likewise the stale-job watchdog: a job left running when `make run` was stopped
            # is resumed once its lease runs out.
            self.watchdog = start_watchdog()
            self.controller.start()
        except Exception:
            log.exception("the embedded worker stopped")

    def start(self) -> None:
        self.thread.start()
        log.info("embedded Celery worker starting (in-memory broker)")

    def stop(self) -> None:
        # A running job sees no cancel flag here; warm shutdown waits for it to finish.
        self.ready.wait(timeout=registry.PROBE_TIMEOUT_S)
        if self.watchdog is not None:
            self.watchdog.stop.set()
        if self.controller is not None:
            self.controller.stop(in_sighandler=False)
        self.thread.join(timeout=10)
