"""WebSocket authentication: an `Authorization: Token <key>` header (non-browser clients) or the
session cookie (browsers). Only cookie-authenticated connections need the Origin check: a token
is never sent automatically by a browser, so it cannot be used cross-site."""
from __future__ import annotations

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.security.websocket import AllowedHostsOriginValidator
from django.contrib.auth.models import AnonymousUser


@database_sync_to_async
def _user_for_token(key: str):
    # The same lookup as the REST API's: named ApiTokens, then legacy DRF tokens.
    from playground.accounts.authentication import user_for_key

    return user_for_key(key) or AnonymousUser()


def _token_from_headers(scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            kind, _, key = value.decode("latin-1").partition(" ")
            if kind.lower() == "token" and key.strip():
                return key.strip()
    return None


class TokenOrSessionAuth:
    def __init__(self, inner):
        self.inner = inner
        self.session_app = AllowedHostsOriginValidator(AuthMiddlewareStack(inner))

    async def __call__(self, scope, receive, send):
        key = _token_from_headers(scope)
        if key is not None:
            return await self.inner(dict(scope, user=await _user_for_token(key)), receive, send)
        if not any(name == b"cookie" for name, _ in scope.get("headers", [])):
            # No credentials at all: let the consumer refuse with its clear 4401 close code.
            return await self.inner(dict(scope, user=AnonymousUser()), receive, send)
        return await self.session_app(scope, receive, send)
