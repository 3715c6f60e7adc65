"""POST /api/v1/architecture/: the layers a spec's model has, from the recipe's own builder."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from trainer.recipes import RECIPES

pytestmark = pytest.mark.django_db


def post(client, body):
    return client.post("/api/v1/architecture/", body, format="json")


def test_a_visitor_gets_the_layers_keras_builds_with_shapes_and_counts():
    response = post(APIClient(), {"recipe": "lenet"})

    assert response.status_code == 200, response.json()
    body = response.json()
    model = RECIPES["lenet"].build(RECIPES["lenet"].defaults(), (8, 8, 1), 10)
    assert body["params"] == model.count_params() and body["input_shape"] == [8, 8, 1]
    assert [layer["type"] for layer in body["layers"]] == [type(layer).__name__ for layer in model.layers]
    first = body["layers"][0]
    assert (first["filters"], first["kernel_size"], first["output_shape"]) == (20, [5, 5], [8, 8, 20])
    assert body["layers"][-1]["units"] == 10 and body["layers"][-1]["activation"] == "softmax"


def test_the_layers_follow_the_hyperparameters_and_name_afresh_each_time():
    one = post(APIClient(), {"recipe": "mlp", "hyperparameters": {"hidden_layers": [7]}}).json()
    three = post(APIClient(), {"recipe": "mlp", "hyperparameters": {"hidden_layers": [5, 6, 7]}}).json()

    assert [layer.get("units") for layer in three["layers"]] == [None, 5, 6, 7, 10]
    assert one["layers"][1]["name"] == three["layers"][1]["name"] == "dense"


def test_nested_models_name_their_layers_and_a_huge_model_costs_no_weights():
    gan = post(APIClient(), {"recipe": "dcgan"}).json()
    huge = post(APIClient(), {"recipe": "mlp", "hyperparameters": {"hidden_layers": [4096] * 8}}).json()

    assert {layer.get("model") for layer in gan["layers"]} == {"generator", "discriminator"}
    assert huge["params"] == 117_776_394  # built in a graph: 471 MB of weights never allocated


def test_a_spec_a_job_would_refuse_is_a_400_at_its_field(alice):
    client = APIClient()
    client.force_authenticate(alice)

    assert post(client, {"recipe": "nope"}).json()["recipe"]
    assert "Must be between" in post(client, {"recipe": "mlp", "hyperparameters": {"hidden_layers": [0]}}).json()[
        "hyperparameters"]["hidden_layers"][0]
    assert post(client, {"recipe": "mlp", "dataset": "user:999"}).status_code == 400
    assert "not drawn" in post(client, {"recipe": "transfer", "hyperparameters": {"base": "job:3"}}).json()["base"][0]
