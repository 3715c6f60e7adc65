"""A pre-trained ImageNet job (locally made MobileNetV2 weights in the cache, never the internet)
through services.run_job, then POST /classify/, the landing /classify/ and fetch_pretrained."""
from __future__ import annotations

import base64
import io
import shutil

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from PIL import Image

from playground.jobs import services
from playground.jobs.models import Job
from tests.conftest import client_for
from tests.support.trained import TrainedOnce
from tests.support.pretrained import MODEL, served, write_manifest
from trainer import pretrained
from trainer.spec import validate_spec

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def mirror(pretrained_mirror):
    return pretrained_mirror


@pytest.fixture
def data_dir(settings, tmp_path, mirror):
    """The weights already cached (as fetch_pretrained leaves them), their origin unreachable."""
    folder, hashes = mirror
    settings.PLAYGROUND_DATA_DIR = tmp_path / "data"
    shutil.copytree(folder, pretrained.cache_dir(settings.PLAYGROUND_DATA_DIR))
    write_manifest(settings.PLAYGROUND_DATA_DIR, "http://127.0.0.1:9", hashes)
    return settings.PLAYGROUND_DATA_DIR


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> TrainedOnce:
    return TrainedOnce(tmp_path_factory.mktemp("trained") / "job")


@pytest.fixture
def classify_job(alice, trained, data_dir) -> Job:
    """The first test runs the job through the worker's service; later ones reuse its files."""
    return trained.job(alice, {"recipe": "imagenet"})


def photo(size=(300, 200), seed=3, fmt="PNG") -> tuple[str, np.ndarray]:
    """A random photo as a data URL, and its centred square at 224 px as the server sees it."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, fmt)
    side = min(size)
    left, top = (size[0] - side) // 2, (size[1] - side) // 2
    square = Image.fromarray(pixels).crop((left, top, left + side, top + side)).resize((224, 224), Image.BILINEAR)
    return f"data:image/{fmt.lower()};base64,{base64.b64encode(buffer.getvalue()).decode()}", np.asarray(square)


def test_the_job_exports_the_pretrained_model_for_browsers_with_the_class_names(classify_job):
    kinds = sorted((a["kind"], a["variant"]) for a in classify_job.artifacts)
    assert kinds == [("json", "labels"), ("keras", "h5"), ("tfjs", "float16"), ("tfjs", "float32"),
                     ("tfjs", "uint8")]
    messages = list(classify_job.events.filter(type="log").values_list("data__message", flat=True))
    assert any("Loading MobileNetV2 with its ImageNet weights (nothing to train)" in m for m in messages)


def test_the_server_classifies_a_photo_like_the_model_does(alice, classify_job, data_dir):
    image, square = photo()

    response = client_for(alice).post(f"/api/v1/jobs/{classify_job.pk}/classify/", {"image": image}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    model = pretrained.load(MODEL, data_dir)
    expected = model(pretrained.preprocess(square[None].astype("float32"), MODEL)).numpy()[0]
    assert [entry["class"] for entry in body["top"]] == list(np.argsort(-expected)[:5])
    assert body["top"][0]["label"] == f"class {np.argmax(expected)}"
    np.testing.assert_allclose([e["probability"] for e in body["top"]], np.sort(expected)[::-1][:5], atol=1e-5)
    assert body["model"] == MODEL and body["latency_ms"] > 0


@pytest.mark.parametrize("image, status, says", [
    ("data:image/png;base64,@@@", 400, "image: not base64"),
    (f"data:image/png;base64,{base64.b64encode(b'plain text').decode()}", 400, "image: not a PNG, JPEG or WebP"),
])
def test_a_photo_that_is_not_one_gets_a_clear_error(alice, classify_job, image, status, says):
    response = client_for(alice).post(f"/api/v1/jobs/{classify_job.pk}/classify/", {"image": image}, format="json")

    assert response.status_code == status
    assert says in response.json()["detail"]


def test_a_photo_of_too_many_pixels_is_refused_before_it_is_decoded(alice, classify_job):
    buffer = io.BytesIO()
    Image.new("L", (10_000, 6_000)).save(buffer, "PNG")  # 60 MP in about 60 kB
    image = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()

    response = client_for(alice).post(f"/api/v1/jobs/{classify_job.pk}/classify/", {"image": image}, format="json")

    assert response.status_code == 413
    assert "10000x6000 pixels; at most 50,000,000" in response.json()["detail"]


def test_another_users_job_classifies_nothing(bob, classify_job):
    image, _ = photo()

    assert client_for(bob).post(f"/api/v1/jobs/{classify_job.pk}/classify/", {"image": image},
                                format="json").status_code == 404


def test_the_landing_page_opens_the_newest_job_or_says_how_to_get_one(alice, bob, classify_job):
    page = Client()
    page.force_login(bob)
    response = page.get("/classify/")
    assert response.status_code == 200  # alice's job is not bob's
    assert b'href="/play/imagenet/"' in response.content
    assert b"MobileNetV2: cached here; DenseNet121: not here yet" in response.content

    page.force_login(alice)
    response = page.get("/classify/")
    assert response.status_code == 302 and response["Location"] == f"/try/classify/{classify_job.pk}/"
    assert page.get(response["Location"]).status_code == 200


def test_a_job_without_weights_fails_saying_how_to_get_them(alice, settings, tmp_path):
    settings.PLAYGROUND_DATA_DIR = tmp_path / "empty"
    write_manifest(settings.PLAYGROUND_DATA_DIR, "http://127.0.0.1:9", {})
    job = services.create_job(alice, validate_spec({"recipe": "imagenet"}))
    services.run_job(job.pk, "w1")
    job.refresh_from_db()

    assert job.status == "failed"
    assert "is not in" in job.error and "manage.py fetch_pretrained mobilenet_v2" in job.error


def test_fetch_pretrained_fetches_and_verifies_ahead_of_time(settings, tmp_path, mirror, capsys):
    folder, hashes = mirror
    settings.PLAYGROUND_DATA_DIR = tmp_path / "data"
    with served(folder) as (origin, _):
        write_manifest(settings.PLAYGROUND_DATA_DIR, origin, hashes)
        call_command("fetch_pretrained", MODEL)
    assert "MobileNetV2: verified" in capsys.readouterr().out

    write_manifest(settings.PLAYGROUND_DATA_DIR, "http://127.0.0.1:9", {**hashes, pretrained.CLASS_INDEX.file: "0" * 32})
    with pytest.raises(CommandError, match="does not match its published hash"):
        call_command("fetch_pretrained", MODEL)
