from __future__ import annotations

import asyncio

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from rest_framework.test import APIClient

from playground.accounts.models import ApiToken


@pytest.fixture
def make_user(db):
    def make(username: str, staff: bool = False):
        user = get_user_model().objects.create_user(username=username, password="pw-" + username)
        if staff:
            user.is_staff = True
            user.save()
        return user

    return make


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def bob(make_user):
    return make_user("bob")


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
    return client


def token_for(user) -> str:
    """A fresh API token key for `user` (each call adds a token)."""
    return ApiToken.issue(user, f"test {ApiToken.objects.filter(user=user).count() + 1}")[1]


@pytest.fixture
def api(alice) -> APIClient:
    return client_for(alice)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # PBKDF2's 1,000,000 rounds cost 0.46 s a hash here, once per user a test makes and again per
    # log-in: about 0.5 s of setup for most tests, 5-6 min of CI. The servers that integration
    # and browser tests start keep the real hasher.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def fresh_cache():
    # Throttling counts submissions in the cache; user ids repeat across tests.
    cache.clear()


@pytest.fixture
async def server_loop():
    """Group sends go through the test's event loop, as the ASGI lifespan startup routes them
    through the server's (playground/jobs/events.py)."""
    from playground.jobs import events

    events.use_loop(asyncio.get_running_loop())
    yield
    events.use_loop(None)


@pytest.fixture(scope="session")
def pretrained_mirror(tmp_path_factory):
    """Locally made MobileNetV2 weights and a class index (tests/support/pretrained.py), made
    once per run: (folder, sha256 by file name). Copy them; do not change them."""
    from tests.support.pretrained import make_mirror

    folder = tmp_path_factory.mktemp("pretrained-mirror")
    return folder, make_mirror(folder)
