from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

pytestmark = pytest.mark.django_db


def test_signing_up_creates_the_user_and_logs_them_in():
    client = Client()
    response = client.post("/accounts/signup/", {"username": "carol", "password1": "a-long-pass-123",
                                                 "password2": "a-long-pass-123"})

    assert response.status_code == 302 and response["Location"] == "/"
    assert get_user_model().objects.filter(username="carol").exists()
    assert "carol" in client.get("/").content.decode()


def test_sign_up_with_mismatched_passwords_is_a_400_that_says_so():
    response = Client().post("/accounts/signup/", {"username": "carol", "password1": "a-long-pass-123",
                                                   "password2": "another-pass-456"})

    assert response.status_code == 400
    assert "didn’t match" in response.content.decode()
    assert not get_user_model().objects.filter(username="carol").exists()


def test_sign_up_refuses_a_taken_username(alice):
    response = Client().post("/accounts/signup/", {"username": "alice", "password1": "a-long-pass-123",
                                                   "password2": "a-long-pass-123"})

    assert response.status_code == 400
    assert "already exists" in response.content.decode()


def test_logging_in_and_out_with_the_site_pages(alice):
    client = Client()
    assert 'href="/accounts/signup/"' in client.get("/accounts/login/").content.decode()

    response = client.post("/accounts/login/", {"username": "alice", "password": "pw-alice"})
    assert response.status_code == 302
    home = client.get("/").content.decode()
    assert "alice" in home and 'href="/accounts/tokens/"' in home

    assert client.get("/accounts/logout/").status_code == 405  # logging out takes a POST (CSRF-safe)
    assert client.post("/accounts/logout/").status_code == 302
    assert 'href="/accounts/login/"' in client.get("/").content.decode()


def test_a_wrong_password_shows_an_error_on_the_login_page(alice):
    response = Client().post("/accounts/login/", {"username": "alice", "password": "nope"})

    assert response.status_code == 200
    assert "didn't match" in response.content.decode()


@pytest.mark.parametrize(("username", "password", "reason"), [
    ("carol", "password", "This password is too common."),
    ("carol", "12345678", "This password is entirely numeric."),
    ("carol-the-coder", "carol-the-coder", "The password is too similar to the username."),
])
def test_sign_up_refuses_weak_passwords_and_says_why(username, password, reason):
    response = Client().post("/accounts/signup/", {"username": username, "password1": password, "password2": password})

    assert response.status_code == 400
    assert reason in response.content.decode()
    assert not get_user_model().objects.filter(username=username).exists()


def test_the_demo_user_keeps_its_short_password_because_the_command_sets_it_directly(capsys):
    from django.core.management import call_command

    call_command("ensure_demo_user", "--username", "demo", "--password", "demo")
    client = Client()
    response = client.post("/accounts/login/", {"username": "demo", "password": "demo"})

    assert response.status_code == 302 and client.session["_auth_user_id"]
