"""WebSocket authentication: an `Authorization: Token <key>` header (non-browser clients) or the
session cookie (browsers). Only cookie-authenticated connections need the Origin check: a token
is never sent automatically by a browser, so it cannot be used cross-site.

The scope records which credential let the socket in (``credential``: "token", "session" or
None) and, for a named API token, the channel-layer group its sockets join
(``credential_group``), so that revoking the token closes them (playground/jobs/consumers.py).
"""
from __future__ import annotations

from urllib.parse import urlsplit

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http.request import validate_host

DEFAULT_PORTS = {"http": 80, "https": 443}


@database_sync_to_async
def _token_scope(key: str) -> dict:
    # The same lookup as the REST API's: named ApiTokens, then legacy DRF tokens.
    from playground.accounts.authentication import credentials_for_key

    user, token = credentials_for_key(key)
    return {"user": user or AnonymousUser(), "credential": "token" if user else None,
            "credential_group": token.socket_group if token is not None else None}


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def _token_from_headers(scope) -> str | None:
    value = _header(scope, b"authorization")
    if value is not None:
        kind, _, key = value.partition(" ")
        if kind.lower() == "token" and key.strip():
            return key.strip()
    return None


def _origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL, the port filled in when it is the default."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a port that is not a number, or out of range
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.scheme, parts.hostname, port or DEFAULT_PORTS[parts.scheme]


def _is_secure(scope) -> bool:
    # As Django's request.is_secure(): behind a TLS proxy (PLAYGROUND_HTTPS) the socket itself
    # is plain ws, and X-Forwarded-Proto says what the browser used.
    if settings.SECURE_PROXY_SSL_HEADER:
        meta_name, secure_value = settings.SECURE_PROXY_SSL_HEADER
        name = meta_name.removeprefix("HTTP_").lower().replace("_", "-").encode()
        value = _header(scope, name)
        if value is not None:
            return value.split(",", 1)[0].strip() == secure_value
    return scope.get("scheme") == "wss"


def _bracketed(hostname: str) -> str:
    return f"[{hostname}]" if ":" in hostname else hostname  # IPv6, as ALLOWED_HOSTS writes it


def _allowed_hosts() -> list[str]:
    if settings.DEBUG and not settings.ALLOWED_HOSTS:
        return [".localhost", "127.0.0.1", "[::1]"]  # Django's own default in DEBUG
    return settings.ALLOWED_HOSTS


def is_same_origin(scope) -> bool:
    """Whether the page that opened this socket is this site: the Origin's scheme, host and port
    are the request's (ws → http, wss → https, default ports), and its host is an allowed one.
    channels' AllowedHostsOriginValidator compares hosts only, so a page on another port of the
    same host (http://localhost:9999) streamed this site's session."""
    origin = _origin(_header(scope, b"origin") or "")
    if origin is None or not validate_host(_bracketed(origin[1]), _allowed_hosts()):
        return False
    host = _header(scope, b"host")
    if host is None:
        # Browsers, the only clients that send cookies on their own, always send Host (so do
        # uvicorn's HTTP/1.1 parsers); without one, a host check is all there is to do.
        return True
    request = _origin(f"{'https' if _is_secure(scope) else 'http'}://{host}")
    return request == origin


class SameOriginCookies:
    """Refuses (HTTP 403 at the handshake, like channels' origin validators) a cookie-
    authenticated socket that a page of another origin opened."""

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        if not is_same_origin(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.inner(scope, receive, send)


class TokenOrSessionAuth:
    def __init__(self, inner):
        self.inner = inner
        self.session_app = SameOriginCookies(AuthMiddlewareStack(inner))

    async def __call__(self, scope, receive, send):
        key = _token_from_headers(scope)
        if key is not None:
            return await self.inner(dict(scope, **await _token_scope(key)), receive, send)
        if _header(scope, b"cookie") is None:
            # No credentials at all: let the consumer refuse with its clear 4401 close code.
            return await self.inner(dict(scope, user=AnonymousUser(), credential=None), receive, send)
        return await self.session_app(dict(scope, credential="session"), receive, send)
