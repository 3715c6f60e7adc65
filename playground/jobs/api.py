from __future__ import annotations

from pathlib import Path

from django.http import FileResponse, Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from playground.jobs import services
from playground.jobs.serializers import JobCreateSerializer, JobEventSerializer, JobSerializer
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


class JobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    serializer_class = JobSerializer

    def get_queryset(self):
        # Another user's job is simply not in the queryset: 404, never 403.
        return services.visible_jobs(self.request.user)

    def get_serializer_class(self):
        return JobCreateSerializer if self.action == "create" else JobSerializer

    @extend_schema(request=JobCreateSerializer, responses={201: JobSerializer})
    def create(self, request, *args, **kwargs):
        """Submit a training job; 400 names every invalid field."""
        serializer = JobCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        job = services.create_job(request.user, serializer.validated_data["spec"])
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
        job = self.get_object()
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

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request, pk: int, path: str):
        job = services.visible_jobs(request.user).filter(pk=pk).first()
        if job is None:
            raise Http404("No such job.")
        known = {file for artifact in job.artifacts for file in artifact.get("files", [artifact.get("path")])}
        if path not in known:
            raise Http404("No such artifact.")
        root = services.job_workdir(job.pk).resolve()
        target = (root / path).resolve()
        if not target.is_relative_to(root) or not target.is_file():
            raise Http404("No such artifact.")
        return FileResponse(open(target, "rb"), content_type=_content_type(target))


def _content_type(path: Path) -> str:
    return "application/json" if path.suffix == ".json" else "application/octet-stream"
