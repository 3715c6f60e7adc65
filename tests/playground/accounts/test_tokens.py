from __future__ import annotations

import re

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.management import call_command
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from playground.accounts.models import ApiToken
from playground.asgi import application
from playground.jobs import services
from trainer.spec import validate_spec

pytestmark = pytest.mark.django_db


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def bearer(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def create_token(client: Client, name: str) -> str:
    response = client.post("/accounts/tokens/", {"name": name})
    assert response.status_code == 200
    return re.search(r'<code id="new-key">(\w+)</code>', response.content.decode()).group(1)


def test_a_token_made_on_the_tokens_page_authenticates_the_api_and_is_listed(alice):
    client = logged_in(alice)
    key = create_token(client, "laptop")

    assert bearer(key).get("/api/v1/jobs/").status_code == 200
    page = client.get("/accounts/tokens/").content.decode()
    assert 'data-name="laptop"' in page and f"{key[:8]}…" in page
    assert key not in page  # shown once, at creation only


def test_only_a_digest_of_the_key_is_stored(alice):
    token, key = ApiToken.issue(alice, "ci")

    assert len(key) == 40 and token.prefix == key[:8]
    assert not ApiToken.objects.filter(key_hash=key).exists()
    assert key not in str(list(ApiToken.objects.values()))


def test_a_user_has_several_tokens_and_revoking_one_leaves_the_others(alice):
    client = logged_in(alice)
    laptop, ci = create_token(client, "laptop"), create_token(client, "ci")
    revoked = ApiToken.objects.get(user=alice, name="laptop")

    response = client.post(f"/accounts/tokens/{revoked.pk}/revoke/")

    assert response.status_code == 302
    gone = bearer(laptop).get("/api/v1/jobs/")
    assert gone.status_code == 401 and gone.json()["detail"] == "Invalid or revoked token."
    assert bearer(ci).get("/api/v1/jobs/").status_code == 200
    assert "Revoked “laptop”" in client.get("/accounts/tokens/").content.decode()


def test_a_token_name_is_unique_per_user(alice, bob):
    client = logged_in(alice)
    create_token(client, "laptop")

    again = client.post("/accounts/tokens/", {"name": "laptop"})

    assert again.status_code == 400 and "already have a token named" in again.content.decode()
    create_token(logged_in(bob), "laptop")  # another user may use the same name


def test_nobody_can_revoke_another_users_token(alice, bob):
    token, key = ApiToken.issue(alice, "laptop")

    assert logged_in(bob).post(f"/accounts/tokens/{token.pk}/revoke/").status_code == 404
    assert logged_in(alice).get(f"/accounts/tokens/{token.pk}/revoke/").status_code == 405
    assert bearer(key).get("/api/v1/jobs/").status_code == 200


def test_the_tokens_page_needs_a_login():
    response = Client().get("/accounts/tokens/")

    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_a_token_of_an_inactive_user_is_refused(alice):
    _, key = ApiToken.issue(alice, "laptop")
    alice.is_active = False
    alice.save()

    assert bearer(key).get("/api/v1/jobs/").status_code == 401


def test_using_a_token_records_when_it_was_last_used(alice):
    token, key = ApiToken.issue(alice, "laptop")
    assert token.last_used is None

    bearer(key).get("/api/v1/jobs/")

    token.refresh_from_db()
    assert token.last_used is not None


def test_keys_made_by_drf_create_token_keep_working(alice):
    call_command("drf_create_token", "alice")
    key = Token.objects.get(user=alice).key

    assert bearer(key).get("/api/v1/jobs/").status_code == 200


def test_ensure_demo_user_prints_a_working_key_and_a_new_one_replaces_it(capsys):
    call_command("ensure_demo_user", "--username", "demo", "--password", "demo")
    first = capsys.readouterr().out.strip()
    call_command("ensure_demo_user", "--username", "demo", "--password", "demo")
    second = capsys.readouterr().out.strip()

    assert re.fullmatch(r"[0-9a-f]{40}", second) and first != second
    assert bearer(second).get("/api/v1/jobs/").status_code == 200
    assert bearer(first).get("/api/v1/jobs/").status_code == 401


@pytest.mark.django_db(transaction=True)
async def test_the_websocket_accepts_a_named_token_and_refuses_it_once_revoked(alice):
    job = await database_sync_to_async(services.create_job)(alice, validate_spec({"recipe": "mlp"}))
    token, key = await database_sync_to_async(ApiToken.issue)(alice, "notebook")

    def connect():
        return WebsocketCommunicator(application, f"/ws/jobs/{job.pk}/",
                                     headers=[(b"authorization", f"Token {key}".encode())])

    ws = connect()
    await ws.connect()
    assert (await ws.receive_json_from())["type"] == "snapshot"
    await ws.disconnect()

    await database_sync_to_async(token.delete)()
    ws = connect()
    await ws.connect()
    assert (await ws.receive_output())["code"] == 4401


def test_the_demo_users_token_has_a_name_a_person_reads_and_replaces_one_named_the_old_way(capsys):
    from django.contrib.auth import get_user_model

    call_command("ensure_demo_user", "--username", "demo", "--password", "demo")
    user = get_user_model().objects.get(username="demo")
    ApiToken.issue(user, "ensure_demo_user")  # what an older version named it

    call_command("ensure_demo_user", "--username", "demo", "--password", "demo")

    assert list(user.api_tokens.values_list("name", flat=True)) == ["printed by make run"]
