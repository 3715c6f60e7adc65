"""PLAYGROUND_CPU_REPLICAS: each worker process splits its CPU into logical devices at start-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# A worker process as Celery starts it: Django set up, then worker_process_init, then jobs.
WORKER_START = """
import json, django
django.setup()
from celery import signals
import playground.celery
signals.worker_process_init.send(sender="test-worker")
import tensorflow as tf
print(json.dumps([d.name for d in tf.config.list_logical_devices("CPU")]))
"""


def start_worker_process(cpu_replicas: str) -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "DJANGO_SETTINGS_MODULE": "playground.settings",
           "PLAYGROUND_CPU_REPLICAS": cpu_replicas, "TF_CPP_MIN_LOG_LEVEL": "2"}
    completed = subprocess.run([sys.executable, "-c", WORKER_START], cwd=REPO, env=env,
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_a_worker_process_gets_the_configured_logical_cpus():
    devices = start_worker_process("2")

    assert [name.rsplit("/", 1)[-1] for name in devices] == ["device:CPU:0", "device:CPU:1"]


def test_without_the_setting_a_worker_keeps_one_cpu_device():
    assert len(start_worker_process("")) == 1
