"""The play form's words for what a browser sends: labels people read, errors they can act on."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("field, raw, message", [
    ("epochs", "", "Enter a whole number."),  # what a number input sends for typed text
    ("epochs", "ten", "Must be a whole number, not &#x27;ten&#x27;."),
    ("learning_rate", " ", "Enter a number."),
    ("hidden_layers", "64, x", "Must be whole numbers separated by commas, not &#x27;64, x&#x27;."),
])
def test_a_value_that_does_not_parse_says_what_to_enter(client, alice, field, raw, message):
    client.force_login(alice)

    response = client.post("/play/mlp/", {field: raw})

    assert response.status_code == 400
    assert message in response.content.decode()
    assert "got &#x27;&#x27;" not in response.content.decode()


def test_fields_carry_human_labels_with_the_parameter_name_beside(client):
    html = client.get("/play/mlp/").content.decode()

    assert '<label for="id_batch_size">Batch size' in html
    assert '<label for="id_hidden_layers">Hidden layers' in html
    assert "<code>batch_size</code>" in html
