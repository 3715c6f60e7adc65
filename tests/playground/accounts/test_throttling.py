from __future__ import annotations

import pytest

from tests.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def rate(settings):
    settings.PLAYGROUND_SUBMIT_RATE = "2/min"
    settings.PLAYGROUND_QUOTA_CONCURRENT_JOBS = 0


def test_submissions_over_the_rate_get_a_429_with_retry_after(alice):
    api = client_for(alice)
    codes = [api.post("/api/v1/jobs/", {"recipe": "mlp"}, format="json").status_code for _ in range(2)]

    response = api.post("/api/v1/jobs/", {"recipe": "mlp"}, format="json")

    assert codes == [201, 201]
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 60
    assert response.json()["detail"].startswith("Too many submissions: the limit is 2/min per user. Expected available in")


def test_the_rate_is_per_user_and_reading_is_not_throttled(alice, bob):
    api = client_for(alice)
    for _ in range(3):
        api.post("/api/v1/jobs/", {"recipe": "mlp"}, format="json")

    assert all(api.get("/api/v1/jobs/").status_code == 200 for _ in range(5))
    assert client_for(bob).post("/api/v1/jobs/", {"recipe": "mlp"}, format="json").status_code == 201


def test_races_count_against_the_same_rate(alice):
    api = client_for(alice)
    api.post("/api/v1/jobs/", {"recipe": "mlp"}, format="json")
    api.post("/api/v1/races/", {"recipe": "mlp", "optimizers": ["sgd", "adam"]}, format="json")

    response = api.post("/api/v1/races/", {"recipe": "mlp", "optimizers": ["sgd", "adam"]}, format="json")

    assert response.status_code == 429 and "Retry-After" in response


def test_an_empty_rate_turns_throttling_off(alice, settings):
    settings.PLAYGROUND_SUBMIT_RATE = ""
    api = client_for(alice)

    assert [api.post("/api/v1/jobs/", {"recipe": "mlp"}, format="json").status_code for _ in range(4)] == [201] * 4
