"""`manage.py create_token <username> [--name NAME]`: a digest-only ApiToken, its key printed once."""
from __future__ import annotations

import io
import re

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from playground.accounts.models import ApiToken, digest

pytestmark = pytest.mark.django_db


def create_token(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("create_token", *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def test_it_prints_a_key_that_works_and_stores_only_its_digest(alice):
    key, note = create_token("alice", "--name", "ci")

    assert re.fullmatch(r"[0-9a-f]{40}", key)
    token = ApiToken.objects.get(user=alice, name="ci")
    assert token.key_hash == digest(key) and token.prefix == key[:8]
    assert key not in str(list(ApiToken.objects.values()))
    assert "'ci'" in note and "copy the key now" in note
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/jobs/").status_code == 200


def test_without_a_name_each_call_makes_another_token(alice):
    first, _ = create_token("alice")
    ApiToken.objects.filter(user=alice).update(name="renamed")  # as if a second had passed
    second, _ = create_token("alice")

    assert first != second and ApiToken.objects.filter(user=alice).count() == 2
    assert ApiToken.objects.get(key_hash=digest(second)).name.startswith("create_token ")


def test_it_refuses_an_unknown_user_a_taken_name_and_an_inactive_user(alice):
    create_token("alice", "--name", "ci")

    with pytest.raises(CommandError, match="No user named 'nobody'"):
        create_token("nobody")
    with pytest.raises(CommandError, match="already has a token named 'ci'"):
        create_token("alice", "--name", "ci")
    alice.is_active = False
    alice.save()
    with pytest.raises(CommandError, match="inactive"):
        create_token("alice", "--name", "other")
    assert ApiToken.objects.filter(user=alice).count() == 1
