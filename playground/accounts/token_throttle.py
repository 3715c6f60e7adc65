"""Wrong API tokens per client address, counted in the cache the way DRF's throttles count requests
(a list of recent times per key; Redis when deployed, so every web process sees the same count).
Only failures are counted; a client that has PLAYGROUND_TOKEN_FAILURE_LIMIT of them within
PLAYGROUND_TOKEN_FAILURE_WINDOW_S gets 429 for every token it sends until the oldest one ages out."""
from __future__ import annotations

from django.conf import settings
from rest_framework.exceptions import Throttled
from rest_framework.throttling import SimpleRateThrottle

from playground.accounts.throttling import SharedCacheThrottle


class WrongTokenThrottle(SharedCacheThrottle, SimpleRateThrottle):
    scope = "wrong_token"

    def get_rate(self):
        # Read per request, so settings overrides apply at once; None (limit 0) turns it off.
        return "configured" if settings.PLAYGROUND_TOKEN_FAILURE_LIMIT else None

    def parse_rate(self, rate):
        # Any window in seconds, where DRF's "n/period" knows only one s, m, h or d.
        if rate is None:
            return None, None
        return settings.PLAYGROUND_TOKEN_FAILURE_LIMIT, settings.PLAYGROUND_TOKEN_FAILURE_WINDOW_S

    def get_cache_key(self, request, view):
        # REMOTE_ADDR, not DRF's get_ident: uvicorn sets it from X-Forwarded-For for trusted
        # proxies only, while reading the header here would let a client name a new address per try.
        return self.cache_format % {"scope": self.scope, "ident": request.META.get("REMOTE_ADDR", "")}

    def throttle_success(self):
        return True  # a check, not a hit: record_failure() adds the hits

    def record_failure(self) -> None:
        if self.rate is None or self.key is None:
            return
        self.history.insert(0, self.now)
        self.cache.set(self.key, self.history, self.duration)

    def wait(self) -> float:
        # Until few enough failures are left in the window, even if concurrent requests added
        # more than the limit (where DRF's wait() gives up and answers None).
        return max(0.0, self.history[self.num_requests - 1] + self.duration - self.now)

    def throttled(self) -> Throttled:
        """The 429: DRF adds "Expected available in N seconds." and the Retry-After header."""
        return Throttled(self.wait(), detail=(
            f"Too many wrong or revoked API tokens from your address: {self.num_requests} within "
            f"{self.duration} s. Token requests from it are refused for now."))
