"""`Authorization: Token <key>` for REST and WebSocket clients, backed by named, revocable
ApiTokens. Keys made by DRF's `drf_create_token` (the authtoken table) keep working, so
scripts written against the documented contract do not break."""
from __future__ import annotations

import contextlib
import logging
from datetime import timedelta

from django.utils import timezone
from redis.exceptions import RedisError
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication, get_authorization_header

from playground.accounts.models import ApiToken, digest
from playground.accounts.token_throttle import WrongTokenThrottle

log = logging.getLogger(__name__)
# What a cache backend raises when its server is gone (Django's RedisCache: redis-py's errors).
CACHE_ERRORS = (RedisError, OSError)

# last_used is a hint for the tokens page, not an audit log: one write a minute per token at most.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def credentials_for_key(key: str) -> tuple:
    """(user, ApiToken) for a named token, (user, None) for a legacy DRF key, (None, None) when
    the key is unknown or revoked or its user inactive."""
    token = ApiToken.objects.select_related("user").filter(key_hash=digest(key)).first()
    if token is not None:
        now = timezone.now()
        if token.last_used is None or now - token.last_used > LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used=now)
        user = token.user
    else:
        from rest_framework.authtoken.models import Token

        legacy = Token.objects.select_related("user").filter(key=key).first()
        user = legacy.user if legacy is not None else None
    if user is None or not user.is_active:
        return None, None
    return user, token


def user_for_key(key: str):
    """The active user a token key belongs to, or None (unknown, revoked or inactive user)."""
    return credentials_for_key(key)[0]


class ApiTokenAuthentication(TokenAuthentication):
    model = ApiToken

    def authenticate(self, request):
        auth = get_authorization_header(request).split()
        if not auth or auth[0].lower() != self.keyword.lower().encode():
            return None  # no token offered: nothing to count
        throttle = WrongTokenThrottle()
        try:
            if not throttle.allow_request(request, None):
                raise throttle.throttled()
        except CACHE_ERRORS as exc:
            # The count lives in the cache (Redis): with Redis down, every token request must not
            # fail with it; reading jobs and their events only needs the database.
            log.warning("wrong-token throttle skipped, the cache is unavailable: %s", exc)
            throttle = None
        try:
            return super().authenticate(request)
        except exceptions.AuthenticationFailed:
            if throttle is not None:
                with contextlib.suppress(*CACHE_ERRORS):
                    throttle.record_failure()
            raise

    def authenticate_credentials(self, key):
        user = user_for_key(key)
        if user is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        return user, None
