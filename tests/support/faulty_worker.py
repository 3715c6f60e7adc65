"""A real Celery worker (`celery -A playground worker ...`, prefork pool) with faults injected
into the trainer, for the crash-path tests: `python -m tests.support.faulty_worker <celery
worker args>`. A job picks its fault by its batch_size (see FAULTS), so one worker serves all.

Only trainer and service functions are wrapped, before the pool forks; nothing imports
TensorFlow in the parent (TensorFlow's threads do not survive a fork).
"""
from __future__ import annotations

import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "playground.settings")

FAULTS = {17: "loader", 19: "fit", 23: "export", 29: "handler"}
_current = {"fault": None}


class InjectedFault(RuntimeError):
    pass


def _install() -> None:
    import django

    django.setup()
    from playground.jobs import services
    from trainer import callback, datasets, export, run

    real_train = run.train

    def train(spec, reporter, workdir, *args, **kwargs):
        _current["fault"] = FAULTS.get(spec.hyperparameters.get("batch_size"))
        return real_train(spec, reporter, workdir, *args, **kwargs)

    run.train = train

    real_load = datasets.load

    def load(name, data_dir=None, **options):
        if _current["fault"] == "loader":
            raise InjectedFault(f"injected fault while loading {name}")
        return real_load(name, data_dir, **options)

    datasets.load = load

    real_callback_class = callback.job_callback_class

    def callback_class():
        cls = real_callback_class()

        class Faulty(cls):
            def on_train_batch_end(self, batch, logs=None):
                super().on_train_batch_end(batch, logs)  # reports epoch 2's first batch
                if _current["fault"] in ("fit", "handler") and self.epoch == 2:
                    raise InjectedFault("injected fault in fit")

        return Faulty

    callback.job_callback_class = callback_class

    real_export = export.export_model

    def export_model(*args, **kwargs):
        if _current["fault"] == "export":
            raise InjectedFault("injected fault in export")
        return real_export(*args, **kwargs)

    export.export_model = export_model

    # Downloads go to a loopback address where nothing listens (no test touches the network):
    # the real fetch code fails as it does offline.
    mirror = os.environ.get("FAULTY_WORKER_MIRROR")
    if mirror:
        import dataclasses

        for name, info in list(datasets.DATASETS.items()):
            if info.mirrors:
                datasets.DATASETS[name] = dataclasses.replace(info, mirrors=(mirror,))

    real_fail = services.fail_job
    failed_once: set[int] = set()

    def fail_job(job_id, reason, lease=None):
        # A bug in the failure handling itself, once: the task's backstop must still end it.
        if _current["fault"] == "handler" and job_id not in failed_once:
            failed_once.add(job_id)
            raise InjectedFault("injected fault in the failure handler")
        return real_fail(job_id, reason, lease)

    services.fail_job = fail_job


if __name__ == "__main__":
    _install()
    from celery.bin.celery import main

    sys.argv = ["celery", "-A", "playground", "worker", *sys.argv[1:]]
    sys.exit(main())
