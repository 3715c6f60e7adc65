"""/datasets/new/: the capture page (its script zips drawings and webcam frames and POSTs them to
/api/v1/datasets/, so the API's checks apply unchanged)."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_the_capture_page_asks_anonymous_visitors_to_log_in(client):
    response = client.get("/datasets/new/")

    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_capture_page_renders_for_a_user_with_its_module_and_a_csrf_token(client, alice):
    client.force_login(alice)

    response = client.get("/datasets/new/")

    html = response.content.decode()
    assert response.status_code == 200
    assert '<script type="module" src="/static/js/dataset_capture.js"></script>' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert 'id="class-template"' in html and 'id="dataset-name"' in html


def test_the_datasets_page_links_to_the_capture_page(client, alice):
    client.force_login(alice)

    assert 'href="/datasets/new/"' in client.get("/datasets/").content.decode()
