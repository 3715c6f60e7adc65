from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from django.http import FileResponse, Http404, JsonResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from playground.accounts.throttling import SubmitRateThrottle, submission_throttled
from playground.jobs import files, serving, services
from playground.jobs.models import Job
from playground.jobs.serializers import JobCreateSerializer, JobEventSerializer, JobSerializer
from trainer import inference
from trainer.recipes import recipe_catalog

EVENTS_PAGE_MAX = 1000


class RecipeListView(APIView):
    @extend_schema(
        responses=inline_serializer(
            "Recipe",
            {
                "name": serializers.CharField(),
                "title": serializers.CharField(),
                "task": serializers.CharField(),
                "description": serializers.CharField(),
                "datasets": serializers.ListField(child=serializers.CharField()),
                "default_dataset": serializers.CharField(),
                "hyperparameters": serializers.DictField(child=serializers.DictField()),
            },
            many=True,
        )
    )
    def get(self, request):
        """Every recipe with its datasets and hyperparameter schema."""
        return Response(recipe_catalog())


def _after(request) -> int:
    raw = request.query_params.get("after", "0")
    try:
        after = int(raw)
    except ValueError:
        raise serializers.ValidationError({"after": [f"Expected an integer sequence number, got {raw!r}."]}) from None
    if after < 0:
        raise serializers.ValidationError({"after": ["Must be 0 or more."]})
    return after


MAX_PREDICT_BATCH = 256


class PredictRequestSerializer(serializers.Serializer):
    """Validated against the model's input shape, passed in the context as `sample_shape`."""

    inputs = serializers.JSONField(
        help_text="One sample shaped like the model's input (e.g. [8, 8, 1] for digits, [28, 28, 1] for "
        "MNIST; a trailing channel axis of 1 may be left out) or a batch of up to "
        f"{MAX_PREDICT_BATCH} of them; pixel values in [0, 1]."
    )

    def validate_inputs(self, value) -> np.ndarray:
        sample_shape = self.context["sample_shape"]
        expected = (f" Expected one sample of shape {list(sample_shape)} or a batch "
                    f"[n, {', '.join(map(str, sample_shape))}] (n ≤ {MAX_PREDICT_BATCH}) of numbers in [0, 1].")
        try:
            _nested_shape(value, depth=0)
        except ValueError as exc:
            raise serializers.ValidationError(f"{exc}{expected}") from None
        array = np.asarray(value, dtype=np.float32)
        if array.min() < 0 or array.max() > 1:
            raise serializers.ValidationError(
                f"Values must be between 0 and 1; found {float(array.min()):g} to {float(array.max()):g}.{expected}"
            )
        batch = _as_batch(array, sample_shape)
        if batch is None:
            raise serializers.ValidationError(f"Got shape {list(array.shape)}.{expected}")
        return batch


def _nested_shape(value, depth: int) -> tuple[int, ...]:
    """The shape of a rectangular nested list of finite numbers; ValueError saying what is wrong otherwise."""
    if isinstance(value, list):
        if depth > 4:
            raise ValueError("Nested too deeply: a batch of images has at most 4 axes.")
        if not value:
            raise ValueError("Found an empty list.")
        shapes = {_nested_shape(item, depth + 1) for item in value}
        if len(shapes) > 1:
            raise ValueError("Found rows of different lengths; inputs must be a rectangular array.")
        return (len(value), *shapes.pop())
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"Found {value!r}, which is not a number.")
    return ()


def _as_batch(array: np.ndarray, sample_shape: tuple[int, ...]) -> np.ndarray | None:
    """`array` as (n, *sample_shape) if it is one sample or a batch (a channel axis of 1 optional), else None."""
    accepted = [sample_shape]
    if len(sample_shape) > 1 and sample_shape[-1] == 1:
        accepted.append(sample_shape[:-1])
    for shape in accepted:
        if array.shape == shape:
            return array.reshape((1, *sample_shape))
        if array.shape[1:] == shape and 1 <= array.shape[0] <= MAX_PREDICT_BATCH:
            return array.reshape((-1, *sample_shape))
    return None


PredictResponse = inline_serializer(
    "PredictResponse",
    {
        "predictions": inline_serializer(
            "Prediction",
            {"class": serializers.IntegerField(), "probabilities": serializers.ListField(child=serializers.FloatField())},
            many=True,
        ),
        "model": serializers.CharField(help_text='Which artifact answered: "keras h5".'),
        "input_shape": serializers.ListField(child=serializers.IntegerField()),
        "latency_ms": serializers.FloatField(help_text="The forward pass on the server, loading excluded."),
    },
)


class JobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    serializer_class = JobSerializer
    queryset = Job.objects.none()  # for the schema's path parameter types; get_queryset decides

    def get_queryset(self):
        # Another user's job is simply not in the queryset: 404, never 403.
        return services.visible_jobs(self.request.user)

    def get_serializer_class(self):
        return JobCreateSerializer if self.action == "create" else JobSerializer

    def get_throttles(self):
        return [SubmitRateThrottle()] if self.action == "create" else super().get_throttles()

    def throttled(self, request, wait):
        raise submission_throttled(wait)

    @extend_schema(request=JobCreateSerializer, responses={201: JobSerializer, 429: OpenApiTypes.OBJECT})
    def create(self, request, *args, **kwargs):
        """Submit a training job; 400 names every invalid field, 429 over the user's quota or rate."""
        serializer = JobCreateSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        spec = serializer.validated_data["spec"]
        try:
            job = services.submit_job(request.user, spec, engine=serializer.validated_data["engine"],
                                      **serializer.validated_data.get("job_fields", {}))
        except services.SubmissionRefused as exc:
            return refusal_response(exc)
        return Response(JobSerializer(job, context={"request": request}).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={202: JobSerializer, 409: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel: a queued job at once, a running one after its current batch."""
        try:
            job = services.request_cancel(self.get_object())
        except services.JobConflict as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(JobSerializer(job, context={"request": request}).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={201: JobSerializer, 409: OpenApiTypes.OBJECT, 429: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        """Run a failed or cancelled job again: answers the new job (same owner and spec); 409 otherwise."""
        try:
            retry = services.retry_job(self.get_object(), checked_by=request.user)
        except services.SubmissionRefused as exc:
            # No fields in the request to name: one message.
            return Response({"detail": " ".join(exc.messages())}, status=exc.status)
        except services.JobConflict as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(JobSerializer(retry, context={"request": request}).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={202: JobSerializer, 403: OpenApiTypes.OBJECT, 409: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"])
    def requeue(self, request, pk=None):
        """Staff: put a running job whose worker is stuck or gone back in the queue; it resumes
        from its last checkpoint on the next worker. 409 unless it is running."""
        job = self.get_object()
        if not request.user.is_staff:
            return Response({"detail": "Only staff can requeue jobs."}, status=status.HTTP_403_FORBIDDEN)
        try:
            job = services.requeue_job(job, by=request.user.get_username())
        except services.JobConflict as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(JobSerializer(job, context={"request": request}).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=PredictRequestSerializer, responses={200: PredictResponse, 400: OpenApiTypes.OBJECT,
                                                                409: OpenApiTypes.OBJECT, 413: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"])
    def predict(self, request, pk=None):
        """Class probabilities from the job's Keras model for one sample or a batch; 409 unless it succeeded,
        413 for a model too big for the server to load."""
        job = self.get_object()
        model = job.artifact("keras")
        if job.status != job.Status.SUCCEEDED or model is None:
            reason = f"is {job.status}" if job.status != job.Status.SUCCEEDED else "has no Keras model"
            return Response(
                {"detail": f"Job {job.pk} {reason}; predictions need a succeeded job with a Keras model."},
                status=status.HTTP_409_CONFLICT,
            )
        path = files.pull(job.pk, model.path)  # a worker wrote it; with S3 storage it is fetched once
        try:
            sample_shape = inference.input_shape(path)  # the first predict loads TensorFlow and the model
        except inference.ModelTooLarge as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        body = PredictRequestSerializer(data=request.data, context={"sample_shape": sample_shape})
        body.is_valid(raise_exception=True)
        result = inference.predict(path, body.validated_data["inputs"])
        predictions = [
            {"class": k, "probabilities": [float(p) for p in probabilities]}
            for k, probabilities in zip(result.classes, result.probabilities)
        ]
        return Response({"predictions": predictions, "model": "keras h5", "input_shape": list(sample_shape),
                         "latency_ms": round(result.latency_ms, 3)})

    @extend_schema(
        parameters=[
            OpenApiParameter("after", int, description="Only events with seq greater than this (default 0)."),
            OpenApiParameter("limit", int, description=f"At most this many events (default and max {EVENTS_PAGE_MAX})."),
        ],
        responses=inline_serializer(
            "JobEventPage",
            {
                "results": JobEventSerializer(many=True),
                "last_seq": serializers.IntegerField(),
                "next": serializers.CharField(allow_null=True),
            },
        ),
    )
    @action(detail=True, methods=["get"])
    def events(self, request, pk=None):
        """The job's stored events in seq order; page with ?after=<last seq you have>."""
        return events_response(request, self.get_object())


def events_response(request, job: Job) -> Response:
    """A page of the job's events after ?after=, for its owner and for its share link."""
    after = _after(request)
    try:
        limit = max(1, min(int(request.query_params.get("limit", EVENTS_PAGE_MAX)), EVENTS_PAGE_MAX))
    except ValueError:
        raise serializers.ValidationError({"limit": ["Expected an integer."]}) from None
    page = list(job.events.filter(seq__gt=after).order_by("seq")[: limit + 1])
    more = len(page) > limit
    page = page[:limit]
    next_url = None
    if more:
        next_url = request.build_absolute_uri(f"{request.path}?after={page[-1].seq}&limit={limit}")
    return Response(
        {"results": JobEventSerializer(page, many=True).data, "last_seq": job.last_seq, "next": next_url}
    )


class JobArtifactView(APIView):
    """A file of a job's exports (model.h5, tfjs/<variant>/model.json and its shards)."""

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, 503: OpenApiTypes.OBJECT})
    def get(self, request, pk: int, path: str):
        job = services.visible_jobs(request.user).filter(pk=pk).first()
        if job is None:
            raise Http404("No such job.")
        return artifact_response(job, path)


class JobSnapshotView(APIView):
    """A file of a running job's latest TF.js snapshot (trainer.snapshot), for the try pages."""

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, 409: OpenApiTypes.OBJECT})
    def get(self, request, pk: int, path: str):
        from trainer import snapshot

        job = services.visible_jobs(request.user).filter(pk=pk).first()
        if job is None:
            raise Http404("No such job.")
        root = serving.snapshot_here(job.pk)
        if snapshot.latest(root) is None:
            return Response({"detail": f"Job {job.pk} has no snapshot (it is {job.status}); snapshots are taken "
                                       "while a classifier trains, and its exports are under artifacts/."},
                            status=status.HTTP_409_CONFLICT)
        if path not in snapshot.served_files(root):
            raise Http404("No such snapshot file; a newer snapshot may have replaced it.")
        target = (root / path).resolve()
        if not target.is_relative_to(root.resolve()) or not target.is_file():
            raise Http404("No such snapshot file.")
        return FileResponse(open(target, "rb"), content_type=_content_type(target))


def artifact_response(job: Job, path: str) -> FileResponse:
    """One of the files the job's artifacts list, and only those: 404 for anything else,
    including a listed name that resolves outside the job's folder (.., a symlink). Streamed
    from the storage: this machine's disk, or the bucket (files.py)."""
    known = {file for artifact in job.artifacts for file in artifact.get("files", [artifact.get("path")])}
    if path not in known:
        raise Http404("No such artifact.")
    root = services.job_workdir(job.pk).resolve()
    target = (root / path).resolve()
    if not target.is_relative_to(root) or (target.is_symlink() or (target.exists() and not target.is_file())):
        raise Http404("No such artifact.")
    try:
        found = files.open_stored(job.pk, target.relative_to(root).as_posix())
    except files.StorageUnavailable as exc:
        return JsonResponse({"detail": f"{exc}; try again shortly."}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
    if found is None:
        raise Http404("No such artifact.")
    stream, size = found
    response = FileResponse(stream, content_type=_content_type(target))
    response["Content-Length"] = str(size)
    return response


def _content_type(path: Path) -> str:
    return "application/json" if path.suffix == ".json" else "application/octet-stream"


def refusal_response(exc) -> Response:
    """A SubmissionRefused as the API answers it: 400 by field, or the quota's detail and status."""
    if exc.errors:
        return Response(exc.errors, status=status.HTTP_400_BAD_REQUEST)
    return Response({"detail": exc.detail}, status=exc.status)
