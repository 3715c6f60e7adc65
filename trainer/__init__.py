"""The TensorFlow side of the playground: recipes, datasets, training and export.

Imports no Django and no Celery. TensorFlow itself is imported lazily by the modules that
train or export, so the web process can validate job specs without loading it.
"""

from __future__ import annotations

import os

# The TF.js converter understands Keras 2 models only, so TensorFlow must pick tf_keras as
# `tf.keras`. This has to happen before TensorFlow is first imported; it is the one place.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
# tensorflowjs imports tensorflow_decision_forests, whose welcome banner imports IPython
# whenever stdout is not a terminal (pytest capture, Celery's redirected stdout) and crashes.
os.environ.setdefault("TFDF_DISABLE_WELCOME_MESSAGE", "1")


def import_tensorflow() -> None:
    """Imports TensorFlow and tf_keras completely, in this thread.

    Their imports are not thread-safe: a browser job's claim in a web thread and the embedded
    worker's first job in its own thread, importing at the same moment, failed the job with
    "No module named 'tensorflow.compat'" (`make run`, "Race my browser against the server").
    A process that serves requests and trains calls this once before it does either.
    """
    import tensorflow  # noqa: F401
    import tf_keras  # noqa: F401
