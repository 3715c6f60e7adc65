"""Share links: the owner of a job makes an unguessable URL (/s/<token>/) that shows the job
page, its events and its artifacts read-only to anyone who has it, signed in or not. Revoking
deletes the link, and with it every URL under it (404)."""
from __future__ import annotations

from django.http import Http404
from django.shortcuts import render
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from playground.accounts.models import ShareLink
from playground.demos.views import rerun_query
from playground.jobs import services
from playground.jobs.api import artifact_response, events_response
from playground.jobs.serializers import JobSerializer

ShareResponse = inline_serializer("ShareLink", {
    "url": serializers.URLField(help_text="Read-only job page for anyone with the link."),
    "created": serializers.DateTimeField(),
})


def _share_data(link: ShareLink, request) -> dict:
    return {"url": request.build_absolute_uri(link.get_absolute_url()), "created": link.created}


class JobShareView(APIView):
    """/api/v1/jobs/<id>/share/: the job's share link (one per job)."""

    def _job(self, request, pk: int):
        job = services.visible_jobs(request.user).filter(pk=pk).first()
        if job is None:
            raise Http404("No such job.")
        return job

    @extend_schema(request=None, responses={200: ShareResponse, 404: OpenApiTypes.OBJECT})
    def get(self, request, pk: int):
        """The job's share link; 404 when it has none."""
        link = ShareLink.objects.filter(job=self._job(request, pk)).first()
        if link is None:
            raise Http404("This job has no share link.")
        return Response(_share_data(link, request))

    @extend_schema(request=None, responses={200: ShareResponse, 201: ShareResponse})
    def post(self, request, pk: int):
        """Make a share link (201), or return the one the job already has (200)."""
        link, created = ShareLink.objects.get_or_create(job=self._job(request, pk),
                                                        defaults={"created_by": request.user})
        return Response(_share_data(link, request), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(request=None, responses={204: None, 404: OpenApiTypes.OBJECT})
    def delete(self, request, pk: int):
        """Revoke the share link: its URLs answer 404 from now on."""
        deleted, _ = ShareLink.objects.filter(job=self._job(request, pk)).delete()
        if not deleted:
            raise Http404("This job has no share link.")
        return Response(status=status.HTTP_204_NO_CONTENT)


def shared_job(token: str):
    link = ShareLink.objects.select_related("job", "job__owner").filter(token=token).first()
    if link is None:
        raise Http404("No such share link; it may have been revoked.")
    return link.job


def shared_urls(token: str) -> dict:
    """Where job.js reads a shared job from, in place of the owner's API and WebSocket."""
    base = f"/s/{token}/"
    return {"job": f"{base}job/", "ws": f"/ws/share/{token}/", "artifacts": f"{base}artifacts/", "cancel": None}


def shared_job_data(job, token: str, request=None) -> dict:
    """The job as JobSerializer shows it, with URLs under the share link and no owner name."""
    data = JobSerializer(job, context={"request": request} if request else {}).data
    data.pop("owner", None)
    prefix = f"/api/v1/jobs/{job.pk}/artifacts/"
    for artifact in data["artifacts"]:
        artifact["url"] = artifact["url"].replace(prefix, shared_urls(token)["artifacts"])
    data["ws_url"] = data["ws_url"].replace(f"/ws/jobs/{job.pk}/", shared_urls(token)["ws"])
    return data


def shared_job_page(request, token: str):
    """The live job page, read-only, for anyone with the link."""
    job = shared_job(token)
    context = {"job": job, "job_json": shared_job_data(job, token, request), "shared": True,
               "job_urls": shared_urls(token), "rerun_query": rerun_query(job)}
    response = render(request, "demos/job_detail.html", context)
    response["Referrer-Policy"] = "no-referrer"  # keep the token out of other sites' logs
    response["X-Robots-Tag"] = "noindex"
    return response


@extend_schema(exclude=True)  # companions of the shared page, not part of the REST API
class SharedView(APIView):
    authentication_classes: list = []  # the token in the URL is the credential
    permission_classes = [AllowAny]


class SharedJobView(SharedView):
    def get(self, request, token: str):
        """A shared job (as GET /api/v1/jobs/<id>/, without the owner's name)."""
        return Response(shared_job_data(shared_job(token), token, request))


class SharedEventsView(SharedView):
    def get(self, request, token: str):
        """A shared job's events, paged like /api/v1/jobs/<id>/events/."""
        return events_response(request, shared_job(token))


class SharedArtifactView(SharedView):
    def get(self, request, token: str, path: str):
        """A file of a shared job's exports."""
        return artifact_response(shared_job(token), path)
