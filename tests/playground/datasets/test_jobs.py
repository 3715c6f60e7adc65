"""Jobs on uploaded datasets: "dataset": "user:<id>" at submission, sizing from the upload's meta,
and a worker (services.run_job) training on the stored arrays end to end."""
from __future__ import annotations

import pytest

from playground.datasets import ingest
from playground.datasets.services import create_dataset
from playground.jobs import services
from playground.jobs.models import Job
from tests.conftest import client_for
from tests.playground.datasets.factories import csv_bytes, ratings_bytes, two_class_zip
from trainer.spec import validate_spec

TINY = {"epochs": 2, "batch_size": 8}


def tabular(owner, rows: int = 12):
    return create_dataset(owner, "plants", "plants.csv", csv_bytes(rows))


def images(owner, per_class: int = 3, size: int = 12):
    return create_dataset(owner, "pets", "pets.zip", two_class_zip(per_class), options=ingest.Options(size=size))


def submit(api, **body):
    return api.post("/api/v1/jobs/", {"hyperparameters": TINY, **body}, format="json")


@pytest.mark.django_db
class TestSubmission:
    def test_a_job_on_ones_own_tabular_dataset_is_queued(self, api, alice):
        dataset = tabular(alice)

        response = submit(api, recipe="mlp", dataset=f"user:{dataset.pk}")

        assert response.status_code == 201, response.json()
        assert response.json()["dataset"] == f"user:{dataset.pk}"
        assert Job.objects.get(pk=response.json()["id"]).dataset == f"user:{dataset.pk}"

    def test_a_convolutional_job_on_ones_own_images_dataset_is_queued(self, api, alice):
        dataset = images(alice)

        assert submit(api, recipe="lenet", dataset=f"user:{dataset.pk}").status_code == 201

    def test_another_users_dataset_is_refused_at_dataset(self, api, bob):
        dataset = tabular(bob)

        response = submit(api, recipe="mlp", dataset=f"user:{dataset.pk}")

        assert response.status_code == 400
        assert f"You have no dataset {dataset.pk}" in response.json()["dataset"][0]
        assert not Job.objects.exists()

    def test_a_missing_dataset_is_refused_at_dataset(self, api):
        response = submit(api, recipe="mlp", dataset="user:999999")

        assert response.status_code == 400 and "no dataset 999999" in response.json()["dataset"][0]

    def test_a_malformed_user_dataset_name_is_refused_at_dataset(self, api):
        response = submit(api, recipe="mlp", dataset="user:abc")

        assert response.status_code == 400 and "user:<id>" in response.json()["dataset"][0]

    def test_a_kind_the_recipe_cannot_use_is_refused_at_dataset(self, api, alice):
        dataset = tabular(alice)

        response = submit(api, recipe="lenet", dataset=f"user:{dataset.pk}")

        assert response.status_code == 400
        assert "is a tabular dataset; recipe lenet trains on images datasets" in response.json()["dataset"][0]

    def test_a_recipe_without_uploads_refuses_them_at_dataset(self, api, alice):
        dataset = tabular(alice)

        response = api.post("/api/v1/jobs/", {"recipe": "seq2seq", "dataset": f"user:{dataset.pk}"}, format="json")

        assert response.status_code == 400 and "does not train on uploaded datasets" in response.json()["dataset"][0]

    def test_a_browser_job_on_an_upload_gets_its_data_and_is_tested_on_its_test_split(self, api, alice, settings,
                                                                                       tmp_path):
        from tests.support.browser_tab import issued_weights
        from trainer import browser as engine

        settings.PLAYGROUND_DATA_DIR = tmp_path / "data"
        dataset = tabular(alice, rows=40)
        job = submit(api, recipe="mlp", dataset=f"user:{dataset.pk}", engine="browser",
                     hyperparameters={"epochs": 1, "hidden_layers": [4]}).json()

        claimed = api.post(f"/api/v1/jobs/{job['id']}/browser/claim/").json()
        x, y = engine.decode_bundle(b"".join(api.get(claimed["data"]["train"]).streaming_content))
        lease = claimed["lease"]
        api.post(f"/api/v1/jobs/{job['id']}/browser/events/", {"events": [{"type": "epoch", "data": {
            "epoch": 1, "epochs": 1, "best_epoch": 1, "duration_s": 0.1, "samples_per_s": 100.0,
            "logs": {"loss": 0.7, "accuracy": 0.5, "val_loss": 0.7, "val_accuracy": 0.5}}}]}, format="json",
            HTTP_X_BROWSER_LEASE=lease)
        weights = issued_weights(claimed["model_url"], lambda url: b"".join(api.get(url).streaming_content))
        done = api.put(f"/api/v1/jobs/{job['id']}/browser/finish/", weights, content_type="application/octet-stream",
                       HTTP_X_BROWSER_LEASE=lease)

        # The upload's own columns and classes, and its test split (8 of 40 rows), not digits'.
        assert claimed["input_shape"] == list(dataset.meta["input_shape"]) and claimed["num_classes"] == 2
        assert x.shape[1:] == tuple(dataset.meta["input_shape"]) and len(x) + claimed["samples"]["validation"] == 32
        assert done.status_code == 202, done.json()
        assert sum(map(sum, Job.objects.get(pk=job["id"]).analysis["confusion_matrix"])) == 8
        assert not (tmp_path / "data" / "browser").exists(), "an upload's bundles stay in its job's folder"

    def test_the_training_quota_counts_the_uploads_training_samples(self, api, alice, settings):
        dataset = tabular(alice, rows=20)  # 16 training samples after the test split
        settings.PLAYGROUND_QUOTA_SAMPLE_EPOCHS = 50

        response = submit(api, recipe="mlp", dataset=f"user:{dataset.pk}",
                          hyperparameters={**TINY, "epochs": 4})

        assert response.status_code == 400
        assert "16 user:" in response.json()["hyperparameters"]["epochs"][0]

    def test_the_model_is_sized_from_the_uploads_shape_and_classes(self, api, alice, settings):
        dataset = images(alice, size=32)  # 32*32 inputs: (1024 + 1) * 64 weights in the first layer alone
        settings.PLAYGROUND_MAX_PARAMS = 60_000

        response = submit(api, recipe="mlp", dataset=f"user:{dataset.pk}",
                          hyperparameters={**TINY, "hidden_layers": [64]})

        assert response.status_code == 400
        assert "The model has 65,730 parameters" in response.json()["hyperparameters"][0]

    def test_a_job_whose_upload_was_deleted_cannot_be_retried(self, alice):
        dataset = tabular(alice)
        job = services.create_job(alice, validate_spec({"recipe": "mlp", "dataset": f"user:{dataset.pk}"}))
        Job.objects.filter(pk=job.pk).update(status=Job.Status.FAILED)
        dataset.delete()

        response = client_for(alice).post(f"/api/v1/jobs/{job.pk}/retry/")

        assert response.status_code == 400 and "no dataset" in str(response.json())


@pytest.mark.django_db(transaction=True)
class TestTraining:
    def test_a_worker_trains_an_mlp_on_an_uploaded_csv_end_to_end(self, alice):
        dataset = tabular(alice, rows=40)
        job = services.create_job(alice, validate_spec({
            "recipe": "mlp", "dataset": f"user:{dataset.pk}",
            "hyperparameters": {"epochs": 20, "batch_size": 8, "hidden_layers": [16], "learning_rate": 0.01}}))

        services.run_job(job.pk, worker="w1")

        job.refresh_from_db()
        assert job.status == "succeeded", job.error
        # Two well separated classes (standardized features about ±1 apart): well above chance.
        assert job.test_metrics["accuracy"] >= 0.75
        assert {("keras", "h5"), ("tfjs", "float32")} <= {(a["kind"], a["variant"]) for a in job.artifacts}
        assert job.analysis["class_names"] == ["a", "b"]

    def test_a_worker_trains_lenet_on_an_uploaded_image_zip_end_to_end(self, alice):
        dataset = images(alice, per_class=4, size=12)
        job = services.create_job(alice, validate_spec({
            "recipe": "lenet", "dataset": f"user:{dataset.pk}", "hyperparameters": {"epochs": 1, "batch_size": 4}}))

        services.run_job(job.pk, worker="w1")

        job.refresh_from_db()
        assert job.status == "succeeded", job.error
        epoch = job.events.filter(type="epoch").first()
        assert epoch is not None and "val_accuracy" in epoch.data["logs"]
        assert job.test_metrics is not None

    def test_a_recommender_learns_uploaded_ratings_and_recommends_from_them(self, alice):
        dataset = create_dataset(alice, "likes", "likes.csv", ratings_bytes(users=20, items=12))
        job = services.create_job(alice, validate_spec({
            "recipe": "matrix_factorization", "dataset": f"user:{dataset.pk}",
            "hyperparameters": {"epochs": 60, "batch_size": 16, "factors": 4, "l2": 0.1, "learning_rate": 0.05,
                                "patience": 0}}))

        services.run_job(job.pk, worker="w1")

        job.refresh_from_db()
        assert job.status == "succeeded", job.error
        # Likers of even and of odd items: the factors find it, the global mean cannot.
        assert job.test_metrics["rmse"] < 0.5 * job.test_metrics["global_mean_rmse"], job.test_metrics
        response = client_for(alice).post(f"/api/v1/jobs/{job.pk}/recommend/", {"user": 1, "top": 3}, format="json")
        assert response.status_code == 200, response.content
        titles = [r["title"] for r in response.json()["recommendations"]]
        assert titles and all(t.startswith("Movie ") for t in titles)

    def test_a_job_whose_upload_was_deleted_fails_saying_so(self, alice):
        dataset = tabular(alice)
        job = services.create_job(alice, validate_spec({"recipe": "mlp", "dataset": f"user:{dataset.pk}",
                                                        "hyperparameters": TINY}))
        dataset.delete()

        services.run_job(job.pk, worker="w1")

        job.refresh_from_db()
        assert job.status == "failed" and "was deleted after the job was submitted" in job.error
