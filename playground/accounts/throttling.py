from __future__ import annotations

import functools

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.signals import setting_changed
from django.dispatch import receiver
from rest_framework.exceptions import Throttled
from rest_framework.throttling import UserRateThrottle


@functools.cache
def shared_cache():
    """The default cache as one client for the whole process, for counters read on every
    request. `django.core.cache.cache` is a new client per request under ASGI (its connections
    live in a per-context Local), so each throttled request connected to Redis afresh: a third
    of a submission's time on the server (benchmarks/submit_rate.py). DRF's throttles take their
    cache from the `cache` attribute, as its docs show with `caches['alternate']`."""
    return caches.create_connection(DEFAULT_CACHE_ALIAS)


@receiver(setting_changed)
def _forget_shared_cache(*, setting, **kwargs):
    if setting == "CACHES":
        shared_cache.cache_clear()


class SharedCacheThrottle:
    """Mixin: a DRF throttle that counts in `shared_cache()`."""

    @property
    def cache(self):
        return shared_cache()


class SubmitRateThrottle(SharedCacheThrottle, UserRateThrottle):
    """Job and race submissions per user (per IP when anonymous), at PLAYGROUND_SUBMIT_RATE
    ("30/min"; empty turns it off). Read per request so settings overrides apply at once."""

    scope = "submit"

    def get_rate(self):
        return settings.PLAYGROUND_SUBMIT_RATE or None


def submission_throttled(wait: float | None) -> Throttled:
    """The 429 a throttled submission answers (DRF adds Retry-After and the wait to the detail)."""
    return Throttled(wait, detail=f"Too many submissions: the limit is {settings.PLAYGROUND_SUBMIT_RATE} per user.")
