"""Devices a worker trains on: logical CPU replicas, the strategy for a job, what was used.

Logical devices can only be configured before TensorFlow initialises its runtime, so a worker
calls `configure_devices` once at start-up (the Celery `worker_process_init` signal, the
embedded worker's thread start), before any job imports a model. Importing this module does
not import TensorFlow.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from typing import Any

from trainer.errors import TrainingFailed

__all__ = ["configure_devices", "list_devices", "make_strategy", "replica_batch_size",
           "resolve_precision_for_devices"]

logger = logging.getLogger(__name__)


def configure_devices(cpu_replicas: int) -> int:
    """Splits the first CPU into `cpu_replicas` logical devices (for MirroredStrategy on CPU).

    Args:
        cpu_replicas: logical CPU devices wanted; 0 or 1 leaves TensorFlow's default (one CPU).

    Returns:
        The number of logical CPU devices TensorFlow now has.

    Raises:
        RuntimeError: TensorFlow had already initialised its devices with another layout (the
            call came too late: something ran a TF op first).
    """
    import tensorflow as tf

    if cpu_replicas > 1:
        cpus = tf.config.list_physical_devices("CPU")
        try:
            tf.config.set_logical_device_configuration(
                cpus[0], [tf.config.LogicalDeviceConfiguration()] * cpu_replicas)
        except RuntimeError as error:
            have = len(tf.config.list_logical_devices("CPU"))
            if have != cpu_replicas:
                raise RuntimeError(
                    f"Cannot split the CPU into {cpu_replicas} logical devices: TensorFlow is "
                    f"already initialised with {have}. Call configure_devices() at worker "
                    f"start-up, before any TensorFlow op runs.") from error
    return len(tf.config.list_logical_devices("CPU"))


def list_devices() -> dict[str, Any]:
    """Returns what this process can train on, for workers to advertise.

    Returns:
        `{"gpus": [logical GPU names], "cpus": [logical CPU names], "gpu_models": [names]}`.
    """
    import tensorflow as tf

    gpu_models = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        gpu_models.append(details.get("device_name", gpu.name))
    return {
        "gpus": [d.name for d in tf.config.list_logical_devices("GPU")],
        "cpus": [d.name for d in tf.config.list_logical_devices("CPU")],
        "gpu_models": gpu_models,
    }


def make_strategy(name: str, replicas: int | None = None):
    """Returns `(strategy, device_names)` for a spec's strategy.

    "mirrored" replicates the model over the worker's GPUs (all, or the first `replicas`);
    on a worker without GPUs it uses its logical CPU devices (see `configure_devices`), which
    is how the tests and the CPU benchmark exercise it.

    "multi_worker" joins the cluster described by the `TF_CONFIG` environment variable
    (trainer.multi_worker starts one process per worker with it); each worker contributes
    its GPUs, or one CPU device.

    Args:
        name: "default", "mirrored" or "multi_worker".
        replicas: how many devices a mirrored job asks for (None: all of them); for
            multi_worker, how many workers the cluster must have.

    Raises:
        TrainingFailed: the job asks for more devices than this worker has, or TF_CONFIG
            does not describe a cluster of the requested size.
    """
    import tensorflow as tf

    if name == "multi_worker":
        strategy = _multi_worker_strategy(os.environ.get("TF_CONFIG", ""))
        workers = strategy.cluster_resolver.cluster_spec().num_tasks("worker")
        if replicas is not None and workers != replicas:
            raise TrainingFailed(f"The job asks for {replicas} workers but TF_CONFIG describes "
                                 f"a cluster of {workers}.")
        return strategy, list(strategy.extended.worker_devices)
    if name != "mirrored":
        # The default strategy places ops on the first GPU if there is one.
        gpus = tf.config.list_logical_devices("GPU")
        device = gpus[0].name if gpus else tf.config.list_logical_devices("CPU")[0].name
        return tf.distribute.get_strategy(), [device]

    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    available = gpus or [d.name for d in tf.config.list_logical_devices("CPU")]
    kind = "GPU" if gpus else "logical CPU device"
    if replicas is not None and replicas > len(available):
        raise TrainingFailed(
            f"The job asks for {replicas} {kind}s but this worker has {len(available)}; "
            f"ask for at most {len(available)} or send it to a worker with more.")
    chosen = available[:replicas] if replicas else available
    # Without GPUs NCCL is unavailable; the default cross-device ops pick a CPU reduction.
    strategy = tf.distribute.MirroredStrategy(devices=chosen)
    return strategy, list(strategy.extended.worker_devices)


@functools.cache
def _multi_worker_strategy(tf_config: str):
    # One per process and cluster: TensorFlow accepts the collective-ops setup only once,
    # before its runtime starts, so trainer.multi_worker creates it first thing and
    # train()'s make_strategy() call then gets the same object.
    import tensorflow as tf

    if not json.loads(tf_config or "{}").get("cluster"):
        raise TrainingFailed("multi_worker needs TF_CONFIG describing the cluster; run the job "
                             "through the playground's workers, which set it.")
    # AUTO picks ring all-reduce over gRPC on CPU and NCCL between GPUs.
    options = tf.distribute.experimental.CommunicationOptions(
        implementation=tf.distribute.experimental.CommunicationImplementation.AUTO)
    return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)


def replica_batch_size(global_batch_size: int, replicas: int) -> int:
    """Returns the samples each replica gets per step: `batch_size` is the GLOBAL batch.

    Keras splits every global batch evenly across the replicas, so a job keeps the same
    optimisation maths (steps per epoch, learning rate) whatever the number of devices.
    """
    return max(1, global_batch_size // max(1, replicas))


def resolve_precision_for_devices(policy: str) -> tuple[str, str | None]:
    """Returns `(policy actually used, reason for a change or None)`.

    mixed_float16 is accepted by the web process, which cannot see the worker's hardware; a
    worker without a GPU runs the job in float32 instead (TensorFlow's CPU kernels emulate
    float16: slower than float32, and nothing is gained) and says so in the job log.
    """
    if policy != "mixed_float16":
        return policy, None
    import tensorflow as tf

    if tf.config.list_logical_devices("GPU"):
        return policy, None
    return "float32", ("mixed_float16 needs a GPU; this worker has none, so the job runs in "
                       "float32 (use mixed_bfloat16 for reduced precision on CPU).")
