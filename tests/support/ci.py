"""Missing test prerequisites: a skip on a developer's machine, a failure in CI (CI=true), where
Redis, PostgreSQL, Chromium, node and the ../shared data copies are part of the contract."""
from __future__ import annotations

import os

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str):
    if IN_CI:
        pytest.fail(reason)
    pytest.skip(reason)
