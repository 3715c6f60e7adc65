"""Log-in lockouts (django-axes): per username and per client address, with a page that says what
happened and when to try again."""
from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.db.models import F
from django.test import Client

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


@pytest.fixture(autouse=True)
def three_failures(settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)


def log_in(client: Client, username: str, password: str):
    return client.post(LOGIN, {"username": username, "password": password})


def from_address(address: str) -> Client:
    return Client(REMOTE_ADDR=address)


def test_a_username_is_locked_out_at_the_failure_limit_with_a_429_that_says_when_to_retry(alice):
    client = from_address("10.0.0.1")
    first_two = [log_in(client, "alice", "wrong").status_code for _ in range(2)]

    locked = log_in(client, "alice", "wrong")

    assert first_two == [200, 200]
    assert locked.status_code == 429 and locked["Retry-After"] == "900"
    html = locked.content.decode()
    assert 'id="lockout"' in html and "Too many failed log-ins" in html
    assert "15\xa0minutes" in html and "Try again after" in html and "UTC" in html
    assert "didn't match" not in html


def test_a_locked_out_username_is_refused_even_with_the_right_password_from_elsewhere(alice):
    for _ in range(3):
        log_in(from_address("10.0.0.1"), "alice", "wrong")

    elsewhere = from_address("10.0.0.2")
    response = log_in(elsewhere, "alice", "pw-alice")

    assert response.status_code == 429
    assert "_auth_user_id" not in elsewhere.session


def test_an_address_is_locked_out_after_failures_on_several_usernames(alice, bob):
    client = from_address("10.0.0.3")
    for username in ("carol", "dave", "erin"):
        log_in(client, username, "wrong")

    same_address = log_in(client, "bob", "pw-bob")
    other_address = log_in(from_address("10.0.0.4"), "bob", "pw-bob")

    assert same_address.status_code == 429
    assert other_address.status_code == 302  # bob himself was not locked out


def test_the_lockout_ends_after_the_cool_off(alice):
    client = from_address("10.0.0.5")
    for _ in range(3):
        log_in(client, "alice", "wrong")

    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=16))
    response = log_in(client, "alice", "pw-alice")

    assert response.status_code == 302 and client.session["_auth_user_id"] == str(alice.pk)


def test_the_admin_log_in_is_locked_out_too_and_answers_with_the_same_page(make_user):
    make_user("root", staff=True)
    client = from_address("10.0.0.6")
    for _ in range(2):
        client.post("/admin/login/?next=/admin/", {"username": "root", "password": "wrong", "next": "/admin/"})

    locked = client.post("/admin/login/?next=/admin/", {"username": "root", "password": "wrong", "next": "/admin/"})

    assert locked.status_code == 429 and "Too many failed log-ins" in locked.content.decode()
    assert 'name="next" value="/admin/"' in locked.content.decode()


def test_failures_below_the_limit_do_not_lock_and_a_success_still_logs_in(alice):
    client = from_address("10.0.0.7")
    for _ in range(2):
        log_in(client, "alice", "wrong")

    response = log_in(client, "alice", "pw-alice")

    assert response.status_code == 302
