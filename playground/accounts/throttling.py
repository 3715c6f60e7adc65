from __future__ import annotations

from django.conf import settings
from rest_framework.exceptions import Throttled
from rest_framework.throttling import UserRateThrottle


class SubmitRateThrottle(UserRateThrottle):
    """Job and race submissions per user (per IP when anonymous), at PLAYGROUND_SUBMIT_RATE
    ("30/min"; empty turns it off). Read per request so settings overrides apply at once."""

    scope = "submit"

    def get_rate(self):
        return settings.PLAYGROUND_SUBMIT_RATE or None


def submission_throttled(wait: float | None) -> Throttled:
    """The 429 a throttled submission answers (DRF adds Retry-After and the wait to the detail)."""
    return Throttled(wait, detail=f"Too many submissions: the limit is {settings.PLAYGROUND_SUBMIT_RATE} per user.")
