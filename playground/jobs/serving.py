"""The web side of `trainer.serving`: a Job as the recipes' serving hooks see it (`job_view`),
and POST /api/v1/jobs/<id>/<action>/ for every extra action a recipe declares
(`Recipe.actions`), one route each (URL name "job-<action>")."""
from __future__ import annotations

import dataclasses
import logging

from django.urls import path, reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response
from rest_framework.views import APIView

from playground.jobs import files, services
from trainer.artifacts import Artifact
from trainer.recipes import actions
from trainer.serving import ActionRefused, JobView, article, either

log = logging.getLogger(__name__)


def job_view(job) -> JobView:
    """`job` for a serving hook: its facts, typed artifacts, workdir and action URLs. The hooks
    read the exports from the workdir, so with S3 storage they are brought here first."""
    if job.status == job.Status.SUCCEEDED:
        files.pull_artifacts(job)
    return JobView(
        pk=job.pk, recipe=job.recipe, dataset=job.dataset, status=job.status,
        artifacts=[Artifact.from_dict(a) for a in job.artifacts], test_metrics=dict(job.test_metrics or {}),
        workdir=services.job_workdir(job.pk), action_url=lambda name: reverse(f"job-{name}", args=[job.pk]),
        snapshot=snapshot_of(job), last_seq=job.last_seq,
    )


def snapshot_of(job) -> dict | None:
    """A running job's latest TF.js snapshot, its artifact's URL set; None when it has none."""
    from trainer import snapshot

    if job.status != job.Status.RUNNING:
        return None
    latest = snapshot.latest(snapshot_here(job.pk))
    if latest is None:
        return None
    artifact = Artifact.from_dict(latest["artifact"])
    url = reverse("job-snapshot", args=[job.pk, artifact.path])
    return {**latest, "artifact": dataclasses.replace(artifact, url=url)}


def snapshot_here(job_id: int):
    """The job's folder with its latest snapshot in it: with S3 storage, the snapshot's files
    new since the last call, and always the newest latest.json (the worker rewrites it)."""
    from trainer import snapshot

    try:
        files.pull(job_id, f"{snapshot.FOLDER}/{snapshot.LATEST}", refresh=True)
        files.pull(job_id, snapshot.FOLDER)
    except files.StorageUnavailable as exc:
        # The job's page and API answer still; at worst without a snapshot, or an older one.
        log.warning("job %s: its snapshot could not be fetched: %s", job_id, exc)
    return services.job_workdir(job_id)


def action_view(name: str):
    """Returns the APIView of the action called `name`."""
    action, recipes = actions()[name]
    request_serializer = action.resolve("request")
    needed = f"{article(recipes[0])} {either(recipes)}"

    class ActionView(APIView):
        @extend_schema(request=request_serializer, operation_id=f"jobs_{name}_create", description=action.summary,
                       responses={200: action.resolve("response"), 400: OpenApiTypes.OBJECT,
                                  409: OpenApiTypes.OBJECT, 413: OpenApiTypes.OBJECT})
        def post(self, request, pk: int):
            # Another user's job is not visible: 404, never 403.
            job = get_object_or_404(services.visible_jobs(request.user), pk=pk)
            if job.recipe not in recipes:
                return _refused(f"Job {job.pk} trained {job.recipe}; {name} needs {needed} job.")
            if job.status != job.Status.SUCCEEDED:
                return _refused(f"Job {job.pk} is {job.status}; {name} needs a succeeded {job.recipe} job.")
            served = job_view(job)
            try:
                context = action.resolve("request_context")(served) if action.request_context else {}
                body = request_serializer(data=request.data, context=context)
                body.is_valid(raise_exception=True)
                return Response(action.resolve("handler")(served, body.validated_data))
            except ActionRefused as exc:
                return _refused(str(exc), exc.status)

    ActionView.__name__ = ActionView.__qualname__ = f"{name.title()}ActionView"
    ActionView.__doc__ = action.summary
    return ActionView.as_view()


def _refused(detail: str, code: int = status.HTTP_409_CONFLICT) -> Response:
    return Response({"detail": detail}, status=code)


def urlpatterns() -> list:
    return [path(f"api/v1/jobs/<int:pk>/{name}/", action_view(name), name=f"job-{name}") for name in actions()]
