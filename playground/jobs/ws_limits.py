"""Limits on WebSockets: open sockets per user, counted in the cache so that every web process
sees the same count (Redis when deployed), and "resume" frames per connection.

The count is incremented when a socket is let in and decremented when it ends. Its key expires
COUNT_TTL_S after the last connect or disconnect of that user: a process killed with sockets open
never decrements, and the expiry is what forgives those (an active user's leak lasts while they
keep connecting; a count that resets early only lets a few sockets too many in).
"""
from __future__ import annotations

import time
from collections import deque

from django.conf import settings
from django.core.cache import cache

COUNT_TTL_S = 3600


def _key(owner: str) -> str:
    return f"ws.open.{owner}"


def take_socket_slot(owner: str) -> bool:
    """Counts one more socket for `owner`; False (and nothing counted) when it is at the limit."""
    limit = settings.PLAYGROUND_WS_PER_USER
    if not limit:
        return True
    key = _key(owner)
    cache.add(key, 0, COUNT_TTL_S)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, COUNT_TTL_S)
        return True
    if count > limit:
        cache.decr(key)
        return False
    cache.touch(key, COUNT_TTL_S)
    return True


def release_socket_slot(owner: str) -> None:
    key = _key(owner)
    try:
        if cache.decr(key) < 0:  # the key expired and came back while this socket was open
            cache.delete(key)
        else:
            cache.touch(key, COUNT_TTL_S)
    except ValueError:  # already expired: nothing to give back
        pass


class ResumeBudget:
    """At most PLAYGROUND_WS_RESUMES_PER_MINUTE "resume" frames in any 60 s, per connection: each
    one replays stored events from the database."""

    WINDOW_S = 60.0

    def __init__(self) -> None:
        self.times: deque[float] = deque()

    def wait(self) -> float:
        """0 when a resume may run now (and counts it), else the seconds until one may."""
        limit = settings.PLAYGROUND_WS_RESUMES_PER_MINUTE
        if not limit:
            return 0.0
        now = time.monotonic()
        while self.times and self.times[0] <= now - self.WINDOW_S:
            self.times.popleft()
        if len(self.times) >= limit:
            return self.times[-limit] + self.WINDOW_S - now
        self.times.append(now)
        return 0.0
