"""The /learn/playground/ page and its points endpoint (the page's drawing: the browser tests)."""
from __future__ import annotations

import pytest

from trainer import toy2d
from trainer.lessons import PLAYGROUND_RECIPE

pytestmark = pytest.mark.django_db


def test_the_points_are_the_split_a_job_on_that_setup_trains_on(client):
    response = client.get("/learn/playground/points/?dataset=spiral&points=60&noise=0.2&test_ratio=0.5&seed=3")

    assert response.status_code == 200
    body = response.json()
    parts = toy2d.split("spiral", points=60, noise=0.2, test_ratio=0.5, seed=3)
    assert len(body["train"]) == len(parts["x_train"]) == 30
    assert body["train"][0] == [round(float(parts["x_train"][0][0]), 3), round(float(parts["x_train"][0][1]), 3),
                                int(parts["y_train"][0])]


@pytest.mark.parametrize("query, field, message", [
    ("dataset=moons", "dataset", "Must be one of: circle, xor, gauss, spiral."),
    ("points=12.5", "points", "Must be a whole number, got '12.5'."),
    ("points=5000", "points", "Must be between 50 and 2000."),
    ("noise=lots", "noise", "Expected a number, got 'lots'."),
    ("test_ratio=nan", "test_ratio", "Expected a finite number"),
])
def test_a_bad_setting_is_a_400_naming_the_field(client, query, field, message):
    response = client.get(f"/learn/playground/points/?{query}")

    assert response.status_code == 400
    assert message in " ".join(response.json()[field])


def test_the_page_carries_the_recipes_schema_for_anyone(client):
    response = client.get("/learn/playground/")

    assert response.status_code == 200
    config = response.context["config"]
    assert config["recipe"] == PLAYGROUND_RECIPE and config["grid"] == toy2d.GRID
    assert config["hyperparameters"]["features"]["choices"] == list(toy2d.FEATURES)
    assert config["logged_in"] is False
    assert b'id="pg-config"' in response.content
