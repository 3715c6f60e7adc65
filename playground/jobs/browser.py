"""Jobs that train in the browser (docs/browser-training.md): the tab claims a queued browser job
and gets a lease, the model and the data; its events go through the one `events.publish` path
(the worker's JobReporter folds them), its checkpoints become the job's, and its final weights
are evaluated and exported here exactly like a worker's run. A tab that goes quiet for
PLAYGROUND_BROWSER_TIMEOUT_S leaves the job `running` with `browser_stopped`, and `continue`
hands it to a worker, which resumes from the last checkpoint the tab uploaded."""
from __future__ import annotations

import hashlib
import json
import logging
import math
import secrets
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.http import FileResponse, Http404, HttpResponse
from django.urls import path
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView

from playground.datasets.services import train_dataset
from playground.jobs import events, files, services
from playground.jobs.models import Job
from trainer import browser as engine
from trainer.checkpoint import ResumeState
from trainer.datasets import DatasetError
from trainer.spec import validate_spec

log = logging.getLogger(__name__)
Status = Job.Status
ENGINES = ("server", "browser")
BROWSER_QUEUE = "browser"  # no Celery worker consumes it: nothing is ever sent there
LEASE_HEADER = "HTTP_X_BROWSER_LEASE"
MAX_EVENTS = 50
MAX_LOGS = 16
MAX_PROBE_UNITS = 64  # trainer.probe.MAX_UNITS
EVENT_FIELDS = {
    "batch": {"epoch": int, "epochs": int, "step": int, "steps": int, "logs": dict, "samples_per_s": float},
    "epoch": {"epoch": int, "epochs": int, "logs": dict, "best_epoch": int, "duration_s": float,
              "samples_per_s": float},
    "log": {"message": str},
    # The outputs of every Dense layer on the issued probe inputs (trainer.probe), as a worker's.
    "sample": {"epoch": int, "probe": list},
}


def engine_errors(spec, engine_name: str) -> list[str]:
    """Why `spec` cannot train on `engine_name` ([] when it can)."""
    if engine_name not in ENGINES:
        return [f"engine must be server or browser, not {engine_name!r}."]
    return engine.engine_errors(spec) if engine_name == "browser" else []


def browser_stopped(job: Job) -> dict | None:
    """`{epoch, at}` for a running browser job whose tab went quiet; else None."""
    # A job whose lease is spent is finishing on the server (its weights arrived): not stopped.
    if job.engine != "browser" or job.status != Status.RUNNING or job.heartbeat_at is None or not job.browser_lease:
        return None
    if timezone.now() - job.heartbeat_at < timedelta(seconds=settings.PLAYGROUND_BROWSER_TIMEOUT_S):
        return None
    return {"epoch": job.completed_epochs, "at": job.heartbeat_at}


def _digest(lease: str) -> str:
    return hashlib.sha256(lease.encode()).hexdigest()


class NotABrowserJob(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "not_a_browser_job"


def _owned_job(request, pk: int) -> Job:
    # Another user's job is a 404, never a 403; staff watch browser jobs but do not train them.
    job = Job.objects.filter(pk=pk, owner=request.user).first()
    if job is None:
        raise Http404("No such job.")
    if job.engine != "browser":
        raise NotABrowserJob(f"Job {job.pk} trains on a server, not in a browser.")
    return job


def _leased_job(request, pk: int) -> tuple[Job | None, Response | None]:
    """The job if the request carries its lease and it is still running; else the refusal."""
    job = _owned_job(request, pk)
    if job.status != Status.RUNNING:
        return None, _refused(f"Job {job.pk} is {job.status}; it takes nothing more.")
    lease = request.META.get(LEASE_HEADER, "")
    if not job.browser_lease:
        return None, _refused(f"Job {job.pk} is finishing: its weights arrived; it takes nothing more.")
    if not lease or not secrets.compare_digest(_digest(lease), job.browser_lease):
        return None, _refused("Only the tab that claimed this job may send for it (the X-Browser-Lease "
                              "header from its claim).", status.HTTP_403_FORBIDDEN)
    return job, None


def _refused(detail: str, code: int = status.HTTP_409_CONFLICT) -> Response:
    return Response({"detail": detail}, status=code)


class EventsThrottle(UserRateThrottle):
    scope = "browser_events"

    def get_rate(self):
        return settings.PLAYGROUND_BROWSER_EVENTS_RATE or None


class ClaimView(APIView):
    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT,
                                            409: OpenApiTypes.OBJECT})
    def post(self, request, pk: int):
        """Claim a queued browser job for this tab: its lease, model, data and training settings."""
        job = _owned_job(request, pk)
        lease = secrets.token_urlsafe(32)
        now = timezone.now()
        claimed = Job.objects.filter(pk=pk, status=Status.QUEUED, engine="browser").update(
            status=Status.RUNNING, worker=f"browser of {request.user.get_username()}", heartbeat_at=now,
            started_at=now, attempts=job.attempts + 1, browser_lease=_digest(lease))
        if not claimed:
            return _refused(f"Job {job.pk} is {job.status}, not a queued browser job: another tab claimed it, "
                            "or it finished.")
        events.publish(job.pk, "status", {"status": Status.RUNNING, "worker": f"browser of {request.user.get_username()}",
                                          "attempt": job.attempts + 1})
        spec = validate_spec(job.spec_dict())
        workdir = services.job_workdir(job.pk)
        try:
            facts = engine.prepare(spec, workdir, settings.PLAYGROUND_DATA_DIR, dataset=train_dataset(spec),
                                   base_models=services.base_model_options(job).get("base_models"))
            files.push(job.pk, prune=True)  # every export stored before the job says it succeeded
        except Exception as exc:  # DatasetError offline, or a bug: the job says which
            log.exception("job %s: preparing the browser's model and data failed", job.pk)
            reason = str(exc) if isinstance(exc, DatasetError) else services.crash_reason(exc, "before the first epoch")
            services.fail_job(job.pk, reason)
            return _refused(reason)
        hp = job.hyperparameters
        base = f"/api/v1/jobs/{job.pk}/browser"
        return Response({
            "lease": lease,
            "model_url": f"{base}/model/model.json",
            # A head on a frozen base: the tab turns the images into the base's outputs first.
            **({"base_url": f"{base}/model/base/model.json"} if facts.get("base") else {}),
            # train, validation, test; and probe, inputs whose Dense outputs go in sample events.
            "data": {split: f"{base}/data/{split}.bin" for split in facts["data"]},
            "training": {
                **{k: hp[k] for k in ("optimizer", "learning_rate", "batch_size", "epochs", "patience", "seed",
                                      "validation_split")},
                "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"],
                "batch_interval_s": 0.25, "heartbeat_s": settings.PLAYGROUND_BROWSER_HEARTBEAT_S,
                "checkpoint_every": 1,
            },
            "initial_epoch": 0,
            **{k: facts[k] for k in ("class_names", "input_shape", "num_classes", "samples")},
            "events_url": f"{base}/events/",
        })


class ModelFileView(APIView):
    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, 409: OpenApiTypes.OBJECT})
    def get(self, request, pk: int, path: str):
        """The issued model: model.json and its weight shards (initial weights); base/... its
        frozen base, where the job trains a head on one."""
        job = _owned_job(request, pk)
        files = engine.model_files(services.job_workdir(job.pk))
        if path not in files:
            raise Http404("No such model file.")
        content_type = "application/json" if path.endswith(".json") else "application/octet-stream"
        return FileResponse(open(files[path], "rb"), content_type=content_type)


class DataView(APIView):
    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, 409: OpenApiTypes.OBJECT})
    def get(self, request, pk: int, path: str):
        """One split of the job's data as a tensor bundle (x float32, y int32), with an ETag."""
        job = _owned_job(request, pk)
        split = path.removesuffix(".bin")
        facts_file = services.job_workdir(job.pk) / engine.FOLDER / "job.json"
        if not facts_file.exists():
            raise Http404("Claim the job first.")
        data = json.loads(facts_file.read_text())["data"]
        if not path.endswith(".bin") or split not in data:
            raise Http404("No such split.")
        bundle = Path(data[split])
        stat = bundle.stat()
        etag = f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"'
        if request.META.get("HTTP_IF_NONE_MATCH") == etag:
            return HttpResponse(status=304, headers={"ETag": etag})
        response = FileResponse(open(bundle, "rb"), content_type="application/octet-stream")
        response["ETag"] = etag
        response["Cache-Control"] = "private, max-age=3600"
        return response


class EventsView(APIView):
    throttle_classes = [EventsThrottle]

    @extend_schema(request=OpenApiTypes.OBJECT, responses={200: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT,
                                                           403: OpenApiTypes.OBJECT, 409: OpenApiTypes.OBJECT})
    def post(self, request, pk: int):
        """The tab's events (batch, epoch, log) and heartbeat; answers whether to cancel."""
        job, refusal = _leased_job(request, pk)
        if refusal:
            return refusal
        body = request.data
        items = body.get("events") if isinstance(body, dict) else None
        if not isinstance(items, list) or len(items) > MAX_EVENTS:
            return Response({"events": [f"Expected a list of at most {MAX_EVENTS} events."]}, status=400)
        last = job.completed_epochs
        probe_rows = _probe_rows(job) if any(isinstance(i, dict) and i.get("type") == "sample" for i in items) else 0
        for index, item in enumerate(items):
            error = _event_error(item, last, job.hyperparameters.get("epochs"), probe_rows)
            if error:
                code, message = error
                return Response({"events": {str(index): [message]}} if code == 400 else {"detail": message},
                                status=code)
            if item["type"] == "epoch":
                last = item["data"]["epoch"]
        from playground.jobs.reporter import JobReporter

        reporter = JobReporter(job.pk)
        for item in items:
            data = item["data"] if item["type"] != "log" else {"message": item["data"]["message"]}
            reporter.on_event(item["type"], data)
        Job.objects.filter(pk=job.pk, status=Status.RUNNING).update(heartbeat_at=timezone.now())
        job.refresh_from_db(fields=["cancel_requested"])
        return Response({"cancel": job.cancel_requested, "last_epoch": last})


def _probe_rows(job: Job) -> int:
    """Rows of the probe issued to the job's tab (0: none)."""
    facts_file = services.job_workdir(job.pk) / engine.FOLDER / "job.json"
    return json.loads(facts_file.read_text())["samples"].get("probe", 0) if facts_file.exists() else 0


def _probe_error(probe: list, rows: int) -> str | None:
    if not rows:
        return "sample event: this job has no probe inputs."
    units = 0
    for layer in probe:
        if (not isinstance(layer, dict) or set(layer) != {"layer", "units", "values"} or not isinstance(layer["layer"], str)
                or len(layer["layer"]) > 64 or not isinstance(layer["units"], int) or isinstance(layer["units"], bool)
                or layer["units"] < 1 or not isinstance(layer["values"], list)):
            return 'sample event: probe items are {"layer": name, "units": n, "values": [...]}.'
        units += layer["units"]
        if units > MAX_PROBE_UNITS:
            return f"sample event: a probe carries at most {MAX_PROBE_UNITS} units."
        if len(layer["values"]) != layer["units"] * rows or not all(map(_finite, layer["values"])):
            return f"sample event: {layer['layer']} needs {layer['units']} × {rows} finite values."
    return None


def _event_error(item, last_epoch: int, epochs: int | None, probe_rows: int = 0) -> tuple[int, str] | None:
    """(status, message) for an event that cannot be stored, else None."""
    if not isinstance(item, dict) or item.get("type") not in EVENT_FIELDS or not isinstance(item.get("data"), dict):
        return 400, 'Expected {"type": "batch" | "epoch" | "log" | "sample", "data": {...}}.'
    kind, data = item["type"], item["data"]
    fields = EVENT_FIELDS[kind]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        return 400, f"{kind} event: unknown field(s) {', '.join(unknown)}."
    for name, expected in fields.items():
        if name not in data:
            return 400, f"{kind} event: {name} is missing."
        value = data[name]
        if expected is int and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            return 400, f"{kind} event: {name} must be a whole number ≥ 0."
        if expected is float and not _finite(value):
            return 400, f"{kind} event: {name} must be a finite number."
        if expected is str and (not isinstance(value, str) or len(value) > 2000):
            return 400, f"{kind} event: {name} must be text of at most 2000 characters."
        if expected is list and not isinstance(value, list):
            return 400, f"{kind} event: {name} must be a list."
        if expected is dict:
            if not isinstance(value, dict) or len(value) > MAX_LOGS or not all(isinstance(k, str) and len(k) <= 64 and _finite(v)
                                                 for k, v in value.items()):
                return 400, f"{kind} event: logs must map at most {MAX_LOGS} names to finite numbers."
    if kind == "sample":
        if data["epoch"] < 1 or data["epoch"] > last_epoch:
            return 400, f"sample event for epoch {data['epoch']}: the job has {last_epoch} epoch(s)."
        if error := _probe_error(data["probe"], probe_rows):
            return 400, error
    if kind in ("batch", "epoch"):
        if epochs is not None and (data["epochs"] != epochs or data["epoch"] > epochs):
            return 400, f"{kind} event: epoch {data['epoch']} of {data['epochs']}; the job trains {epochs} epochs."
        if data["epoch"] != last_epoch + 1:
            return 409, (f"{kind} event for epoch {data['epoch']} out of order: the job has {last_epoch} "
                         f"epoch(s); the next is {last_epoch + 1}.")
    return None


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _weights(request, job: Job):
    try:
        return engine.read_weights(services.job_workdir(job.pk), request.body), None
    except engine.BundleError as exc:
        return None, Response({"weights": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)


class CheckpointView(APIView):
    @extend_schema(request={"application/octet-stream": OpenApiTypes.BINARY},
                   responses={204: None, 400: OpenApiTypes.OBJECT, 403: OpenApiTypes.OBJECT, 409: OpenApiTypes.OBJECT})
    def put(self, request, pk: int):
        """The weights after epoch ?epoch=k (a tensor bundle): the job's latest checkpoint."""
        job, refusal = _leased_job(request, pk)
        if refusal:
            return refusal
        try:
            epoch = int(request.query_params.get("epoch", ""))
        except ValueError:
            return Response({"epoch": ["Expected ?epoch=<the epoch these weights ended>."]}, status=400)
        if not 1 <= epoch <= job.completed_epochs:
            return _refused(f"Epoch {epoch} has not been reported; the job has {job.completed_epochs} epoch(s).")
        weights, refusal = _weights(request, job)
        if refusal:
            return refusal
        history = {name: values[:epoch] for name, values in job.metrics.items()}
        best = job.best_epoch or epoch
        val = history.get("val_loss", [])
        engine.save_checkpoint(services.job_workdir(job.pk), weights, ResumeState(
            completed_epochs=epoch, best_epoch=min(best, epoch),
            best_value=val[best - 1] if best <= len(val) else None, history=history,
            last_epoch_event=_last_epoch_event(job, epoch), seed=job.hyperparameters.get("seed")))
        try:
            # Where a worker that continues the job finds it (files.py: no shared disk).
            files.push(job.pk, "checkpoints", prune=True)
        except files.StorageUnavailable as exc:
            return Response({"detail": f"The checkpoint could not be stored: {exc}."}, status=503)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _last_epoch_event(job: Job, epoch: int) -> dict | None:
    event = job.events.filter(type="epoch", data__epoch=epoch).order_by("-seq").first()
    return event.data if event else None


class FinishView(APIView):
    @extend_schema(request={"application/octet-stream": OpenApiTypes.BINARY},
                   responses={202: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT, 403: OpenApiTypes.OBJECT,
                              409: OpenApiTypes.OBJECT})
    def put(self, request, pk: int):
        """The final weights (a tensor bundle): tested, exported, and the job succeeds."""
        job, refusal = _leased_job(request, pk)
        if refusal:
            return refusal
        if job.completed_epochs < 1:
            return _refused("No epoch has been reported; send the epoch events first.")
        weights, refusal = _weights(request, job)
        if refusal:
            return refusal
        # The lease is spent: a second finish, or late events, are refused from here on.
        if not Job.objects.filter(pk=job.pk, browser_lease=job.browser_lease).update(browser_lease=""):
            return _refused("This job is already finishing.")
        from playground.jobs.reporter import JobReporter
        from playground.jobs.serializers import JobSerializer

        try:
            spec = validate_spec(job.spec_dict())
            result = engine.finish(spec, weights, JobReporter(job.pk), services.job_workdir(job.pk),
                                   settings.PLAYGROUND_DATA_DIR, history=job.metrics, dataset=train_dataset(spec),
                                   max_tfjs_bytes=settings.PLAYGROUND_MAX_TFJS_BYTES or None,
                                   base_models=services.base_model_options(job).get("base_models"))
            files.push(job.pk, prune=True)  # every export stored before the job says it succeeded
        except Exception as exc:
            log.exception("job %s: finishing the browser's weights failed", job.pk)
            services.fail_job(job.pk, services.crash_reason(exc, f"after epoch {job.completed_epochs}"))
            job.refresh_from_db()
            return Response({"detail": job.error}, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
        services.succeed_job(job.pk, {**result, "best_epoch": job.best_epoch, "epochs_run": job.completed_epochs})
        job.refresh_from_db()
        return Response(JobSerializer(job, context={"request": request}).data, status=status.HTTP_202_ACCEPTED)


class StoppedView(APIView):
    @extend_schema(request=None, responses={202: OpenApiTypes.OBJECT, 403: OpenApiTypes.OBJECT,
                                            409: OpenApiTypes.OBJECT})
    def post(self, request, pk: int):
        """The tab stopped training after a cancel: the job is cancelled."""
        job, refusal = _leased_job(request, pk)
        if refusal:
            return refusal
        Job.objects.filter(pk=job.pk).update(browser_lease="")
        services.cancel_running_job(job.pk)
        return Response({"status": Status.CANCELLED}, status=status.HTTP_202_ACCEPTED)


class ContinueView(APIView):
    @extend_schema(request=None, responses={202: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT,
                                            409: OpenApiTypes.OBJECT})
    def post(self, request, pk: int):
        """A browser job whose tab went away continues on a server worker from its last checkpoint."""
        from playground.jobs.serializers import JobSerializer
        from playground.ops.registry import queue_for

        job = services.visible_jobs(request.user).filter(pk=pk).first()
        if job is None:
            raise Http404("No such job.")
        stopped = browser_stopped(job)
        if stopped is None:
            return _refused(f"Job {job.pk} is not a browser job whose tab stopped (it is {job.engine}, {job.status}); "
                            f"a tab counts as stopped after {settings.PLAYGROUND_BROWSER_TIMEOUT_S} s without a word.")
        # Still running with a stale heartbeat: the worker takes it over like a dead worker's
        # (leases.acquire), so it resumes from the last checkpoint the tab uploaded.
        moved = Job.objects.filter(pk=job.pk, status=Status.RUNNING, engine="browser",
                                   heartbeat_at=job.heartbeat_at).update(
            engine="server", queue=queue_for(job.gpus), browser_lease="", queued_at=timezone.now())
        if not moved:
            return _refused(f"Job {job.pk} changed meanwhile; reload it.")
        events.publish(job.pk, "log", {"message": f"The browser stopped at epoch {stopped['epoch']}; continuing on a "
                                                  "server worker from the last epoch the tab uploaded."})
        services.enqueue(job.pk, queue_for(job.gpus))
        job.refresh_from_db()
        return Response(JobSerializer(job, context={"request": request}).data, status=status.HTTP_202_ACCEPTED)


def urlpatterns() -> list:
    base = "api/v1/jobs/<int:pk>/browser/"
    return [
        path(f"{base}claim/", ClaimView.as_view(), name="browser-claim"),
        path(f"{base}model/<path:path>", ModelFileView.as_view(), name="browser-model"),
        path(f"{base}data/<path:path>", DataView.as_view(), name="browser-data"),
        path(f"{base}events/", EventsView.as_view(), name="browser-events"),
        path(f"{base}checkpoint/", CheckpointView.as_view(), name="browser-checkpoint"),
        path(f"{base}finish/", FinishView.as_view(), name="browser-finish"),
        path(f"{base}stopped/", StoppedView.as_view(), name="browser-stopped"),
        path("api/v1/jobs/<int:pk>/continue/", ContinueView.as_view(), name="job-continue"),
    ]

