"""The ASGI lifespan: what the web process does before it serves anything."""
from __future__ import annotations

import subprocess
import sys

from tests.support.processes import ROOT

STARTUP = """
import asyncio, sys
from playground.asgi import application

async def main():
    sent = []
    messages = iter([{"type": "lifespan.startup"}])

    async def receive():
        return next(messages)

    async def send(message):
        sent.append(message["type"])
        raise SystemExit(0 if sent == ["lifespan.startup.complete"] and "tf_keras" in sys.modules else 1)

    assert "tensorflow" not in sys.modules
    await application({"type": "lifespan"}, receive, send)

asyncio.run(main())
"""


def test_the_web_process_has_imported_tensorflow_before_it_reports_started():
    # A request's thread and the embedded worker's thread importing TensorFlow at the same
    # moment failed a browser job with "No module named 'tensorflow.compat'"; once imported
    # before startup completes, neither imports it again.
    env = {"PLAYGROUND_EMBEDDED_WORKER": "0", "DJANGO_SETTINGS_MODULE": "playground.settings",
           "PATH": "/usr/bin:/bin", "DJANGO_SECRET_KEY": "test"}
    completed = subprocess.run([sys.executable, "-c", STARTUP], cwd=ROOT, env=env, capture_output=True, text=True,
                               timeout=120)

    assert completed.returncode == 0, completed.stderr[-3000:]
