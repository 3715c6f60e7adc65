"""Probe samples from a training tab (trainer/probe.py): a job on a 2-D dataset issues its
lattice as a fourth data bundle, and the tab's sample events are checked against it before
they are stored and broadcast like a worker's."""
from __future__ import annotations

import json

import numpy as np
import pytest

from playground.jobs.models import Job
from trainer.browser import decode_bundle
from trainer.toy2d import GRID, featurize, grid

pytestmark = pytest.mark.django_db
SPEC = {"recipe": "plane", "dataset": "xor", "engine": "browser",
        "hyperparameters": {"hidden_layers": [3], "epochs": 2, "features": ["x1", "x2", "x1_x2"], "points": 100}}


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.PLAYGROUND_DATA_DIR = tmp_path / "data"


@pytest.fixture
def claimed(alice, api):
    job = api.post("/api/v1/jobs/", SPEC, format="json").json()
    response = api.post(f"/api/v1/jobs/{job['id']}/browser/claim/")
    assert response.status_code == 200, response.json()
    return {"id": job["id"], **response.json()}


def send(api, claimed, *events):
    return api.post(f"/api/v1/jobs/{claimed['id']}/browser/events/", {"events": list(events)}, format="json",
                    HTTP_X_BROWSER_LEASE=claimed["lease"])


def epoch(number):
    return {"type": "epoch", "data": {"epoch": number, "epochs": 2, "best_epoch": number, "duration_s": 0.1,
                                      "samples_per_s": 500.0, "logs": {"loss": 0.5, "val_loss": 0.5}}}


def probe(units=(3, 2), rows=GRID * GRID):
    return [{"layer": f"l{i}", "units": n, "values": [0.25] * (n * rows)} for i, n in enumerate(units)]


def test_the_claim_issues_the_lattice_as_the_jobs_features(api, claimed):
    assert set(claimed["data"]) == {"train", "validation", "test", "probe"}
    assert claimed["samples"]["probe"] == GRID * GRID
    body = b"".join(api.get(claimed["data"]["probe"]).streaming_content)

    (x,) = decode_bundle(body)

    np.testing.assert_allclose(x, featurize(grid(), ["x1", "x2", "x1_x2"]))


def test_a_sample_after_its_epoch_is_stored_and_folded_like_a_workers(api, claimed):
    response = send(api, claimed, epoch(1), {"type": "sample", "data": {"epoch": 1, "probe": probe()}})

    assert response.status_code == 200, response.json()
    stored = Job.objects.get(pk=claimed["id"]).events.get(type="sample").data
    assert [layer["units"] for layer in stored["probe"]] == [3, 2] and stored["epoch"] == 1


@pytest.mark.parametrize("data, message", [
    ({"epoch": 2, "probe": probe()}, "has 1 epoch"),  # ahead of its epoch event
    ({"epoch": 1, "probe": probe(rows=100)}, "needs 3 × 441"),
    ({"epoch": 1, "probe": [{"layer": "l0", "units": 1, "values": [0.5] * 440 + ["1e400"]}]}, "finite"),
    ({"epoch": 1, "probe": [{"layer": "l0", "units": 1, "values": [0.5] * 440 + ["0.5"]}]}, "finite"),
    ({"epoch": 1, "probe": [{"layer": "l0", "units": 65, "values": [0] * 65 * 441}]}, "at most 64 units"),
    ({"epoch": 1, "probe": [{"layer": "l0", "units": True, "values": [0] * 441}]}, "probe items are"),
    ({"epoch": 1, "probe": [["l0", 1, []]]}, "probe items are"),
])
def test_a_sample_that_does_not_fit_the_issued_probe_is_a_400_and_stores_nothing(api, claimed, data, message):
    send(api, claimed, epoch(1))
    before = Job.objects.get(pk=claimed["id"]).last_seq
    # Sent as text, as a browser would: "1e400" unquoted is a number JSON parses as infinity.
    body = json.dumps({"events": [{"type": "sample", "data": data}]}).replace('"1e400"', "1e400")

    response = api.post(f"/api/v1/jobs/{claimed['id']}/browser/events/", body, content_type="application/json",
                        HTTP_X_BROWSER_LEASE=claimed["lease"])

    assert response.status_code == 400 and message in json.dumps(response.json(), ensure_ascii=False)
    assert Job.objects.get(pk=claimed["id"]).last_seq == before
