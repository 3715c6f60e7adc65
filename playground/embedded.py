"""The embedded worker: a real Celery worker (solo pool, in-memory broker) in a thread of the
web process, so `make run` needs no Redis and runs the same task code as a deployment."""
from __future__ import annotations

import logging
import socket
import threading

from playground.celery import app

log = logging.getLogger(__name__)


class EmbeddedWorker:
    def __init__(self):
        self.controller = None
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, name="embedded-celery-worker", daemon=True)

    def _make_controller(self):
        return app.WorkController(
            hostname=f"embedded@{socket.gethostname()}",
            pool_cls="solo",
            concurrency=1,
            queues=["training"],
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
                self.controller = self._make_controller()
            finally:
                self.ready.set()
            self.controller.start()
        except Exception:
            log.exception("the embedded worker stopped")

    def start(self) -> None:
        self.thread.start()
        log.info("embedded Celery worker started (queue 'training', in-memory broker)")

    def stop(self) -> None:
        # A running job sees no cancel flag here; warm shutdown waits for it to finish.
        self.ready.wait(timeout=10)
        if self.controller is not None:
            self.controller.stop(in_sighandler=False)
        self.thread.join(timeout=10)
