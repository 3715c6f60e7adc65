"""The request body limit, enforced on the bytes actually received, in front of Django.

Django's ASGI handler reads a whole body into a temporary file before any middleware runs, so
a check inside Django comes too late: a 300 MB `Transfer-Encoding: chunked` POST (no
Content-Length to look at) was read and spooled to disk in full, authenticated or not.
`BodyLimit` wraps `receive` for HTTP scopes instead:

* a Content-Length over the limit is refused before a byte of the body is read (uvicorn sends
  no `100 Continue`, so a client that asked for one never sends it);
* otherwise it counts the `http.request` bytes; the message that takes the total over the limit
  is not passed on: the client gets the 413, and the app gets `http.disconnect`, on which
  Django closes (deletes) its spool file and returns without building a request. Django thus
  holds at most the limit, and no middleware, view or parser ever sees the request.

The 413 says `Connection: close`, so uvicorn stops reading the rest of the body instead of
draining it. The limit is DATA_UPLOAD_MAX_MEMORY_SIZE; PLAYGROUND_BODY_LIMITS gives path
prefixes their own (e.g. an upload route), the longest matching prefix winning.
"""
from __future__ import annotations

import fnmatch
import io

from django.conf import settings
from django.core.handlers.asgi import ASGIRequest

from playground.errors import error_response


def limit_for(path: str) -> int | None:
    """Bytes a body to `path` may have; None = unlimited (as Django reads None). A prefix may
    hold `*` for one path segment ("/api/v1/jobs/*/browser/finish/")."""
    prefixes = [prefix for prefix in settings.PLAYGROUND_BODY_LIMITS
                if path.startswith(prefix) or ("*" in prefix and fnmatch.fnmatchcase(path, prefix + "*"))]
    if prefixes:
        return settings.PLAYGROUND_BODY_LIMITS[max(prefixes, key=len)]
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def declared_length(scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # Django answers a malformed Content-Length itself
    return None


class BodyLimit:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        limit = limit_for(scope["path"]) if scope["type"] == "http" else None
        if limit is None:
            return await self.app(scope, receive, send)
        length = declared_length(scope)
        if length is not None and length > limit:
            return await send_refusal(scope, send, f"The request body is {length} bytes; the limit is {limit} bytes.")
        await self.app(scope, *Guard(scope, receive, send, limit).channels())


class Guard:
    """One request's receive/send pair: counts body bytes and answers 413 past the limit."""

    def __init__(self, scope, receive, send, limit: int):
        self.scope, self.receive, self.send, self.limit = scope, receive, send, limit
        self.received = 0
        self.response_started = False
        self.refused = False

    def channels(self):
        return self.guarded_receive, self.guarded_send

    async def guarded_receive(self):
        if self.refused:
            return {"type": "http.disconnect"}
        message = await self.receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                self.refused = True
                # A response already under way (not Django's way: it reads the body first)
                # cannot become a 413; the app still stops reading.
                if not self.response_started:
                    await send_refusal(self.scope, self.send, f"The request body is over the limit of {self.limit} bytes.")
                return {"type": "http.disconnect"}
        return message

    async def guarded_send(self, message):
        if self.refused:
            return  # the client has its 413; whatever the app says after it goes nowhere
        if message["type"] == "http.response.start":
            self.response_started = True
        await self.send(message)


async def send_refusal(scope, send, detail: str) -> None:
    # The same JSON or page as every other refusal (playground/errors.py), from a request that
    # has headers but no body: nothing here touches the database.
    response = error_response(ASGIRequest(scope, io.BytesIO()), 413, detail)
    headers = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in response.items()]
    await send({"type": "http.response.start", "status": 413, "headers": [*headers, (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": response.content})
