"""A tiny seq2seq job through services.run_job, then POST /translate/ and the /try/translate/ page."""
from __future__ import annotations

import pytest

from tests.support.ci import unavailable

from playground.jobs import services
from playground.jobs.models import Job
from tests.conftest import client_for
from tests.support.trained import TrainedOnce
from tests.trainer.conftest import REPO
from trainer.spec import validate_spec

pytestmark = pytest.mark.django_db(transaction=True)

SHARED_MULTI30K = REPO.parent / "shared" / "data" / "multi30k"
TINY = {"train_pairs": 200, "epochs": 1, "units": 16, "embedding_size": 8, "vocab_size": 300,
        "max_length": 10, "bleu_sample": 10, "attention": "bahdanau"}


@pytest.fixture
def data_dir(settings, tmp_path):
    if not (SHARED_MULTI30K / "train.de.gz").exists():
        unavailable(f"Multi30k copy not found in {SHARED_MULTI30K}")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "multi30k_de_en").symlink_to(SHARED_MULTI30K)
    settings.PLAYGROUND_DATA_DIR = tmp_path / "data"
    return settings.PLAYGROUND_DATA_DIR


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> TrainedOnce:
    """The first test trains a real job through the worker's service; later ones reuse a copy of
    its files (the database and MEDIA_ROOT are fresh per test)."""
    return TrainedOnce(tmp_path_factory.mktemp("trained") / "job")


@pytest.fixture
def translation_job(alice, trained, data_dir) -> Job:
    return trained.job(alice, {"recipe": "seq2seq", "hyperparameters": TINY})


def translate(user, job, **body):
    return client_for(user).post(f"/api/v1/jobs/{job.pk}/translate/", body, format="json")


def test_a_job_through_the_worker_stores_bleu_samples_and_translates_with_beam_search(alice, translation_job):
    job = translation_job
    epoch = job.events.filter(type="epoch").get()
    assert {"val_bleu", "token_accuracy", "val_loss"} <= set(epoch.data["logs"])
    sample = job.events.filter(type="sample").get().data
    assert sample["epoch"] == 1 and len(sample["translations"]) == 6 and "bleu" in sample
    assert set(sample["translations"][0]) == {"source", "reference", "hypothesis"}
    assert job.test_metrics["sentences"] == 1000 and "bleu" in job.test_metrics
    assert job.metrics["val_bleu"] == [epoch.data["logs"]["val_bleu"]]

    beam = translate(alice, job, text="Ein Mann fährt Fahrrad.", beam_width=3)
    greedy = translate(alice, job, text="Ein Mann fährt Fahrrad.", beam_width=1)

    assert beam.status_code == 200, beam.content
    body = beam.json()
    assert body["beam_width"] == 3 and body["model"] == "keras h5"
    assert body["source_tokens"] == ["ein", "mann", "fährt", "fahrrad", "."]
    assert body["translation"] == " ".join(body["tokens"]) and len(body["ids"]) == len(body["tokens"])
    assert body["ms_per_token"] > 0 and body["score"] <= 0
    assert greedy.status_code == 200 and greedy.json()["beam_width"] == 1
    assert greedy.json()["score"] <= body["score"] or len(greedy.json()["ids"]) != len(body["ids"])


def test_the_try_page_lists_both_models_per_variant_and_the_vocabularies(alice, translation_job):
    client = client_for(alice)
    client.force_login(alice)

    page = client.get(f"/try/translate/{translation_job.pk}/")

    assert page.status_code == 200
    config = page.context["config"]
    assert set(config["variants"]) == {"float32", "float16", "uint8"}
    for variant in config["variants"].values():
        assert variant["encoder"].endswith("/model.json") and variant["decoder"].endswith("/model.json")
    assert config["sourceVocab"].endswith("vocab.de.json") and config["settings"].endswith("translate.json")
    assert config["translateUrl"] == f"/api/v1/jobs/{translation_job.pk}/translate/"
    assert "Ein Mann fährt Fahrrad." in page.content.decode()
    vocab = client.get(config["sourceVocab"])
    assert vocab.status_code == 200 and b"<unk>" in b"".join(vocab.streaming_content)


@pytest.mark.parametrize("body, field", [
    ({"text": "", "beam_width": 2}, "text"),
    ({"text": "Ein Hund.", "beam_width": 0}, "beam_width"),
    ({"text": "Ein Hund.", "beam_width": 17}, "beam_width"),
    ({"text": "x" * 501}, "text"),
    ({}, "text"),
])
def test_translate_rejects_bad_input_naming_the_field(alice, body, field):
    job = Job.objects.create(owner=alice, recipe="seq2seq", dataset="multi30k_de_en", status=Job.Status.SUCCEEDED,
                             artifacts=[{"kind": "keras", "model": "encoder", "path": "encoder.h5"},
                                        {"kind": "keras", "model": "decoder", "path": "decoder.h5"}])

    response = translate(alice, job, **body)

    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_translate_is_a_conflict_until_the_job_succeeds_and_for_other_recipes(alice):
    queued = services.create_job(alice, validate_spec({"recipe": "seq2seq", "hyperparameters": TINY}))
    digits = Job.objects.create(owner=alice, recipe="mlp", dataset="digits", status=Job.Status.SUCCEEDED)

    assert translate(alice, queued, text="Ein Hund.").status_code == 409
    assert "queued" in translate(alice, queued, text="Ein Hund.").json()["detail"]
    assert "seq2seq" in translate(alice, digits, text="Ein Hund.").json()["detail"]


def test_another_users_job_is_not_found_on_the_api_and_the_page(alice, bob):
    job = Job.objects.create(owner=alice, recipe="seq2seq", dataset="multi30k_de_en", status=Job.Status.SUCCEEDED)
    client = client_for(bob)
    client.force_login(bob)

    assert translate(bob, job, text="Ein Hund.").status_code == 404
    assert client.get(f"/try/translate/{job.pk}/").status_code == 404


def test_the_page_explains_why_an_unfinished_job_cannot_translate_yet(alice):
    job = services.create_job(alice, validate_spec({"recipe": "seq2seq", "hyperparameters": TINY}))
    client = client_for(alice)
    client.force_login(alice)

    page = client.get(f"/try/translate/{job.pk}/")

    assert page.status_code == 200
    assert f"Job #{job.pk} is queued" in page.content.decode()
    assert "translate.js" not in page.content.decode()
