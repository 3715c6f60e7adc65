"""The schema documents the errors DRF sends by itself, so generated clients and schemathesis
(tests/integration/test_schemathesis.py) do not meet undocumented status codes."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def paths(api) -> dict:
    return api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()["paths"]


def codes(paths, path: str, method: str) -> set[str]:
    return set(paths[path][method]["responses"])


def test_object_endpoints_document_404_and_authentication_errors(paths):
    assert {"200", "401", "403", "404"} <= codes(paths, "/api/v1/jobs/{id}/", "get")
    assert {"202", "404", "409"} <= codes(paths, "/api/v1/jobs/{id}/cancel/", "post")


def test_bodies_and_query_parameters_document_400(paths):
    assert "400" in codes(paths, "/api/v1/jobs/", "post")
    assert "400" in codes(paths, "/api/v1/jobs/{id}/events/", "get")  # ?after= and ?limit=
    assert "400" not in codes(paths, "/api/v1/jobs/{id}/", "get")


def test_throttled_submissions_document_429(paths):
    assert "429" in codes(paths, "/api/v1/jobs/", "post")
    assert "429" not in codes(paths, "/api/v1/jobs/{id}/", "get")


def test_error_bodies_are_described(paths):
    not_found = paths["/api/v1/jobs/{id}/"]["get"]["responses"]["404"]

    assert not_found["content"]["application/json"]["schema"]["properties"] == {"detail": {"type": "string"}}
    assert codes(paths, "/api/v1/recipes/", "get") == {"200", "401", "403"}  # nothing to miss, nothing to validate
