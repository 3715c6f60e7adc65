"""MirroredStrategy on two logical CPU devices, in a subprocess (see mirrored_helper.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from trainer.devices import list_devices, replica_batch_size
from trainer.spec import SpecError, parse_strategy, validate_spec

REPO = Path(__file__).resolve().parents[2]
HELPER = Path(__file__).with_name("mirrored_helper.py")


@pytest.fixture(scope="module")
def mirrored_runs() -> dict:
    """Given a process whose CPU is split into two logical devices, when it trains mirrored jobs."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    completed = subprocess.run([sys.executable, str(HELPER), "2"], cwd=REPO, env=env,
                               capture_output=True, text=True, timeout=240)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_a_mirrored_job_reports_its_two_replicas(mirrored_runs):
    run = mirrored_runs["mirrored"]

    assert mirrored_runs["logical_cpus"] == 2
    assert run["replicas"] == 2
    assert [device.rsplit("/", 1)[-1] for device in run["devices"]] == ["device:CPU:0",
                                                                        "device:CPU:1"]


def test_a_mirrored_job_converges(mirrored_runs):
    history = mirrored_runs["mirrored"]["history"]

    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert mirrored_runs["mirrored"]["test_metrics"]["accuracy"] > 0.7
    assert mirrored_runs["mirrored"]["epochs_run"] == 4


def test_the_global_batch_is_split_across_replicas_and_logged(mirrored_runs):
    run = mirrored_runs["mirrored"]

    assert run["per_replica_batch_size"] == 16
    assert any("global batch size 32, 16 per replica" in message for message in run["logs"])


def test_a_job_can_ask_for_fewer_devices_than_the_worker_has(mirrored_runs):
    run = mirrored_runs["mirrored_1"]

    assert run["replicas"] == 1 and run["per_replica_batch_size"] == 32
    assert run["devices"][0].endswith("device:CPU:0")


def test_a_job_asking_for_more_devices_than_the_worker_has_fails_clearly(mirrored_runs):
    error = mirrored_runs["mirrored_3"]["error"]

    assert "asks for 3 logical CPU devices but this worker has 2" in error


def test_the_spec_accepts_a_device_count_for_mirrored():
    spec = validate_spec({"recipe": "mlp", "strategy": "mirrored:2"})

    assert spec.strategy == "mirrored:2"
    assert parse_strategy(spec.strategy) == ("mirrored", 2)
    assert parse_strategy("mirrored") == ("mirrored", None)
    assert parse_strategy("default") == ("default", None)


@pytest.mark.parametrize("strategy", ["mirrored:0", "mirrored:two", "mirrored:", "default:2"])
def test_the_spec_rejects_a_bad_device_count(strategy):
    with pytest.raises(SpecError) as raised:
        validate_spec({"recipe": "mlp", "strategy": strategy})

    assert set(raised.value.errors) == {"strategy"}
    assert "mirrored:<n>" in raised.value.errors["strategy"][0]


def test_the_per_replica_batch_is_the_global_batch_divided_by_the_replicas():
    assert replica_batch_size(64, 4) == 16
    assert replica_batch_size(64, 1) == 64
    assert replica_batch_size(3, 4) == 1


def test_configuring_devices_after_tensorflow_started_says_it_came_too_late(mirrored_runs):
    error = mirrored_runs["late_configure"]

    assert "Cannot split the CPU into 3 logical devices" in error
    assert "already initialised with 2" in error


def test_a_worker_lists_the_devices_it_can_advertise():
    devices = list_devices()

    assert devices["cpus"] and all("CPU" in name for name in devices["cpus"])
    assert len(devices["gpu_models"]) == len(devices["gpus"])
