"""How the site fails: JSON for /api/ clients, plain pages for people, never internals.

* An unavailable Redis is a 503 with the reason and Retry-After (`FaultsMiddleware`), for the
  API and the form pages alike: as the broker (`services.create_job` has already withdrawn the
  job) or as the cache behind submission throttling.
* A body over DATA_UPLOAD_MAX_MEMORY_SIZE is a 413 from `playground.body_limit`, in front of
  Django (which spools a whole body before any middleware runs), in the shape `error_response` gives.
* `server_error` / `page_not_found` (urls.handler500 / handler404) answer JSON under /api/
  and render templates/500.html / 404.html elsewhere; DEBUG is off unless DJANGO_DEBUG says so.
"""
from __future__ import annotations

import logging

from django.http import JsonResponse
from django.shortcuts import render
from django.views import defaults
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import ConnectionError as RedisConnectionError

from playground.jobs.services import QueueUnavailable, broker_address

log = logging.getLogger(__name__)
RETRY_AFTER_S = 5


def wants_json(request) -> bool:
    return request.path.startswith("/api/")


class FaultsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, (QueueUnavailable, BrokerError, RedisConnectionError)):
            log.warning("%s %s: %s", request.method, request.path, exception)
            detail = str(exception) if isinstance(exception, QueueUnavailable) else (
                f"The job queue is unavailable ({broker_address()} refused the connection); "
                "nothing was saved, try again shortly.")
            response = error_response(request, 503, detail)
            response["Retry-After"] = str(RETRY_AFTER_S)
            return response
        return None


def error_response(request, status: int, detail: str):
    if wants_json(request):
        return JsonResponse({"detail": detail}, status=status)
    return render(request, "error.html", {"status": status, "detail": detail}, status=status)


def server_error(request):
    if wants_json(request):
        return JsonResponse({"detail": "Internal server error; it has been logged."}, status=500)
    return defaults.server_error(request)


def page_not_found(request, exception):
    if wants_json(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)
