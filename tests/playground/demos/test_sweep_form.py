"""The play form's "Race / sweep" section: one job per value, the rest of the form shared."""
from __future__ import annotations

import pytest
from django.test import Client

from playground.jobs import services
from playground.jobs.models import Job, JobGroup

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(alice, monkeypatch):
    monkeypatch.setattr(services, "enqueue", lambda *args, **kwargs: None)
    client = Client()
    client.force_login(alice)
    return client


def sweep(client, vary: str, values: str, **fields):
    form = {"dataset": "digits", "epochs": "2", "hidden_layers": "8", "learning_rate": "0.001", **fields}
    return client.post("/play/mlp/", {**form, "action": "sweep", "vary": vary, "values": values})


def test_a_sweep_from_the_form_trains_each_value_with_the_forms_settings_and_opens_its_race(client):
    response = sweep(client, "learning_rate", "0.001, 0.01,0.1", batch_size="64")

    assert response.status_code == 302, response.content.decode()[:2000]
    group = JobGroup.objects.get()
    assert (group.kind, group.vary) == ("sweep", "learning_rate")
    assert response["Location"] == f"/races/{group.pk}/"
    jobs = list(group.jobs.order_by("id"))
    assert [job.hyperparameters["learning_rate"] for job in jobs] == [0.001, 0.01, 0.1]
    assert {(job.hyperparameters["epochs"], job.hyperparameters["batch_size"], tuple(job.hyperparameters["hidden_layers"]),
             job.engine, job.dataset) for job in jobs} == {(2, 64, (8,), "server", "digits")}


def test_the_swept_value_replaces_the_forms_own_field_even_when_that_one_is_invalid(client):
    response = sweep(client, "epochs", "1, 2", epochs="0")

    assert response.status_code == 302
    assert sorted(job.hyperparameters["epochs"] for job in Job.objects.all()) == [1, 2]


@pytest.mark.parametrize("vary, values, field, message", [
    ("learning_rate", "0.01", "values", "Give 2 to 8 values of learning_rate, separated by commas (got 1)."),
    ("learning_rate", ", ".join(["0.01"] * 9), "values", "Give 2 to 8 values of learning_rate"),
    ("learning_rate", "0.01, fast", "values", "Value 2: expected a number, got &#x27;fast&#x27;."),
    ("epochs", "2, 2.5", "values", "Value 2: expected a whole number, got &#x27;2.5&#x27;."),
    ("learning_rate", "0.01, 20", "values", "Value 2 (20): Must be between 1e-06 and 10.0."),
    ("optimizer", "sgd, sgd", "values", "value 2 (sgd) repeats value 1."),
    ("hidden_layers", "8, 16", "vary", "Choose a hyperparameter of Multilayer perceptron to vary."),
    ("nothing", "1, 2", "vary", "Choose a hyperparameter of Multilayer perceptron to vary."),
])
def test_a_refused_sweep_shows_the_error_at_its_field_and_creates_nothing(client, vary, values, field, message):
    response = sweep(client, vary, values)

    assert response.status_code == 400
    html = response.content.decode()
    section = html[html.index(f'data-field="{field}"'):]
    assert message in section[:section.index("</div>")]
    assert Job.objects.count() == 0 and JobGroup.objects.count() == 0
    assert f'value="{values}"' in html, "the typed values stay in the field"


def test_an_error_in_the_shared_settings_is_shown_at_that_field(client):
    response = sweep(client, "learning_rate", "0.01, 0.1", batch_size="0")

    assert response.status_code == 400
    html = response.content.decode()
    assert 'data-field="batch_size"' in html and "Must be between 1 and 4096." in html
    assert Job.objects.count() == 0


def test_the_section_offers_the_recipes_number_and_text_hyperparameters_learning_rate_first(client):
    html = client.get("/play/mlp/").content.decode()
    section = html[html.index('id="sweep"'):html.index("</fieldset>", html.index('id="sweep"'))]

    assert '<option value="learning_rate" data-help="Numbers from 1e-06 to 10.0." data-example="0.0001, 0.001, 0.01" selected>' in section
    assert '<option value="optimizer" data-help="One of: sgd, momentum, adagrad, rmsprop, adam."' in section
    assert 'value="epochs"' in section and 'value="hidden_layers"' not in section, "lists are the API's to sweep"
    assert 'name="action" value="sweep"' in section


def test_the_train_button_still_trains_one_job_with_the_sweep_fields_filled_in(client):
    response = client.post("/play/mlp/", {"dataset": "digits", "epochs": "2", "vary": "learning_rate", "values": "0.1, 0.2"})

    assert response.status_code == 302 and response["Location"].startswith("/jobs/")
    assert Job.objects.count() == 1 and JobGroup.objects.count() == 0
