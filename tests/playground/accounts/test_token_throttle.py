"""Wrong API tokens are counted per client address; past the limit the address gets 429 with
Retry-After until the window has moved on."""
from __future__ import annotations

import time

import pytest
from rest_framework.test import APIClient

from playground.accounts.token_throttle import WrongTokenThrottle
from tests.conftest import token_for

pytestmark = pytest.mark.django_db

JOBS = "/api/v1/jobs/"


@pytest.fixture(autouse=True)
def three_per_minute(settings):
    settings.PLAYGROUND_TOKEN_FAILURE_LIMIT = 3
    settings.PLAYGROUND_TOKEN_FAILURE_WINDOW_S = 60


def bearer(key: str, address: str = "10.0.1.1") -> APIClient:
    client = APIClient(REMOTE_ADDR=address)
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_wrong_tokens_past_the_limit_get_429_with_retry_after_and_a_clear_message():
    wrong = [bearer("not-a-token").get(JOBS).status_code for _ in range(3)]

    throttled = bearer("still-not-a-token").get(JOBS)

    assert wrong == [401, 401, 401]
    assert throttled.status_code == 429
    assert 1 <= int(throttled["Retry-After"]) <= 60
    detail = throttled.json()["detail"]
    assert detail.startswith("Too many wrong or revoked API tokens from your address: 3 within 60 s.")
    assert "Expected available in" in detail


def test_a_throttled_address_is_refused_even_with_a_valid_token_while_other_addresses_are_not(alice):
    key = token_for(alice)
    for _ in range(3):
        bearer("not-a-token").get(JOBS)

    assert bearer(key).get(JOBS).status_code == 429  # guessing gets no answer at all
    assert bearer(key, address="10.0.1.2").get(JOBS).status_code == 200


def test_valid_tokens_are_never_counted(alice):
    key = token_for(alice)

    statuses = [bearer(key).get(JOBS).status_code for _ in range(5)]

    assert statuses == [200] * 5


def test_the_address_may_try_again_once_the_window_has_passed(alice, monkeypatch):
    key = token_for(alice)
    for _ in range(3):
        bearer("not-a-token").get(JOBS)
    later = time.time() + 61

    monkeypatch.setattr(WrongTokenThrottle, "timer", staticmethod(lambda: later))

    assert bearer(key).get(JOBS).status_code == 200


def test_a_limit_of_0_turns_the_throttle_off(settings):
    settings.PLAYGROUND_TOKEN_FAILURE_LIMIT = 0

    statuses = {bearer("not-a-token").get(JOBS).status_code for _ in range(5)}

    assert statuses == {401}


def test_requests_without_a_token_are_not_throttled(alice):
    for _ in range(3):
        bearer("not-a-token").get(JOBS)

    assert APIClient(REMOTE_ADDR="10.0.1.1").get(JOBS).status_code == 401  # not 429: no token offered


def test_with_the_cache_down_tokens_still_authenticate_and_wrong_ones_get_401(alice, monkeypatch):
    # Redis (the cache) restarting must not take the API down with it: the count is skipped.
    from redis.exceptions import ConnectionError as RedisConnectionError

    def down(*args, **kwargs):
        raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(WrongTokenThrottle, "cache", type("Down", (), {"get": down, "set": down})())

    assert bearer(token_for(alice)).get(JOBS).status_code == 200
    assert bearer("not-a-token").get(JOBS).status_code == 401
