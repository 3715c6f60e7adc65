"""The body limit in front of Django (playground/body_limit.py), driven in-process over ASGI:
a chunked body is cut off at the limit as its messages arrive, a Content-Length over it is
refused unread, and the refusal has the site's JSON or page shape."""
from __future__ import annotations

import json

import pytest

from playground.asgi import application
from playground.body_limit import BodyLimit

MB = 1024 * 1024


class Client:
    """One HTTP request over ASGI: hands out `chunks` as http.request messages and records
    how many the server took and what it sent back."""

    def __init__(self, chunks: list[bytes]):
        self.chunks = chunks
        self.taken = 0
        self.sent: list[dict] = []

    async def receive(self):
        if self.taken == len(self.chunks):
            raise AssertionError("the server read past the end of the body")
        self.taken += 1
        return {"type": "http.request", "body": self.chunks[self.taken - 1], "more_body": self.taken < len(self.chunks)}

    async def send(self, message):
        self.sent.append(message)

    @property
    def status(self) -> int:
        return next(m["status"] for m in self.sent if m["type"] == "http.response.start")

    @property
    def headers(self) -> dict[bytes, bytes]:
        return dict(next(m["headers"] for m in self.sent if m["type"] == "http.response.start"))

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")


class ReadingApp:
    """Reads the body the way Django's ASGIHandler.read_body does, then answers 200."""

    def __init__(self):
        self.seen = 0
        self.disconnected = False
        self.answered = False

    async def __call__(self, scope, receive, send):
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.disconnected = True
                return
            self.seen += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        self.answered = True
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"read %d" % self.seen})


def http_scope(path: str, headers: list[tuple[bytes, bytes]] = ()) -> dict:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
            "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
            "headers": [(b"host", b"127.0.0.1"), *headers], "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8000)}


def chunked(megabytes: int) -> list[bytes]:
    return [b"x" * MB] * megabytes


async def test_a_chunked_body_past_the_limit_gets_413_and_the_app_sees_no_byte_over_it(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 6 * MB
    app, client = ReadingApp(), Client(chunked(50))

    await BodyLimit(app)(http_scope("/api/v1/jobs/"), client.receive, client.send)

    assert client.status == 413
    assert json.loads(client.body) == {"detail": f"The request body is over the limit of {6 * MB} bytes."}
    assert client.headers[b"connection"] == b"close"
    assert client.taken == 7, "the 7th MB crosses the limit; nothing after it is read"
    assert app.seen == 6 * MB and app.disconnected and not app.answered


async def test_through_django_a_chunked_post_over_the_limit_never_reaches_a_view(settings):
    # Unauthenticated: a view would have answered 401.
    client = Client(chunked(50))

    await application(http_scope("/api/v1/jobs/", [(b"content-type", b"application/json")]), client.receive, client.send)

    assert client.status == 413
    assert json.loads(client.body)["detail"] == (
        f"The request body is over the limit of {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.")
    assert client.taken == settings.DATA_UPLOAD_MAX_MEMORY_SIZE // MB + 1


async def test_a_form_post_over_the_limit_gets_the_413_page():
    client = Client(chunked(10))

    await application(http_scope("/play/mlp/", [(b"content-type", b"application/x-www-form-urlencoded")]),
                      client.receive, client.send)

    page = client.body.decode()
    assert client.status == 413 and client.headers[b"content-type"].startswith(b"text/html")
    assert "Request refused" in page and "The request body is over the limit of" in page


async def test_a_content_length_over_the_limit_is_refused_before_a_byte_is_read(settings):
    length = 10_000_000
    client = Client([])  # receive() would fail the test

    await application(http_scope("/api/v1/jobs/", [(b"content-length", str(length).encode())]), client.receive, client.send)

    assert client.status == 413 and client.taken == 0
    assert json.loads(client.body) == {
        "detail": f"The request body is {length} bytes; the limit is {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."}


async def test_a_body_within_the_limit_reaches_the_app_whole(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 6 * MB
    app, client = ReadingApp(), Client(chunked(6))

    await BodyLimit(app)(http_scope("/api/v1/jobs/"), client.receive, client.send)

    assert client.status == 200 and client.body == b"read %d" % (6 * MB)


@pytest.mark.parametrize("path, status", [("/api/v1/uploads/", 200), ("/api/v1/uploads-elsewhere/", 413),
                                          ("/api/v1/jobs/", 413)])
async def test_a_path_prefix_can_have_a_larger_limit_of_its_own(settings, path, status):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1 * MB
    settings.PLAYGROUND_BODY_LIMITS = {"/api/v1/": 2 * MB, "/api/v1/uploads/": 20 * MB}
    client = Client(chunked(10))

    await BodyLimit(ReadingApp())(http_scope(path), client.receive, client.send)

    assert client.status == status
