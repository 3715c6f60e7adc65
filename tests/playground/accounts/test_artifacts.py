"""Artifact downloads serve only the files a job lists, from inside its folder, to those who
may see the job (owner, staff, its share link)."""
from __future__ import annotations

import pytest
from django.test import Client

from playground.accounts.models import ShareLink
from playground.jobs import services
from playground.jobs.models import Job
from tests.conftest import client_for
from trainer.spec import validate_spec

pytestmark = pytest.mark.django_db


@pytest.fixture
def job(alice, tmp_path):
    """alice's job, whose artifact list (as a buggy or hostile export could write it) names
    files outside its folder: a parent path, an absolute path and symlinks that leave it."""
    job = services.create_job(alice, validate_spec({"recipe": "mlp"}))
    workdir = services.job_workdir(job.pk)
    workdir.mkdir(parents=True)
    (workdir / "model.h5").write_bytes(b"h5")
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    (workdir.parent / "secret.txt").write_text("secret")
    (workdir / "link.h5").symlink_to(secret)
    (workdir / "linked-dir").symlink_to(tmp_path, target_is_directory=True)
    files = ["model.h5", "../secret.txt", str(secret), "link.h5", "linked-dir/secret.txt"]
    Job.objects.filter(pk=job.pk).update(artifacts=[{"kind": "keras", "variant": "h5", "path": "model.h5",
                                                     "files": files, "bytes": 2, "url": "x"}])
    return Job.objects.get(pk=job.pk)


def attempts(job) -> list[str]:
    return ["../secret.txt", "%2e%2e/secret.txt", "%2e%2e%2fsecret.txt", "..%5csecret.txt",
            str(job.artifacts[0]["files"][2]).lstrip("/"), "/" + str(job.artifacts[0]["files"][2]).lstrip("/"),
            "link.h5", "linked-dir/secret.txt", "other.bin", "model.h5/../model.h5"]


def test_the_owner_downloads_a_listed_file(job, alice):
    response = client_for(alice).get(f"/api/v1/jobs/{job.pk}/artifacts/model.h5")

    assert response.status_code == 200 and response.getvalue() == b"h5"


def test_traversal_absolute_paths_and_symlinks_out_of_the_job_are_404(job, alice):
    api = client_for(alice)
    for path in attempts(job):
        response = api.get(f"/api/v1/jobs/{job.pk}/artifacts/{path}")
        assert response.status_code == 404, path
        assert b"secret" not in b"".join(getattr(response, "streaming_content", [response.content])), path


def test_the_same_paths_are_404_through_a_share_link(job, alice):
    link = ShareLink.objects.create(job=job, created_by=alice)
    visitor = Client()

    assert visitor.get(f"/s/{link.token}/artifacts/model.h5").status_code == 200
    for path in attempts(job):
        assert visitor.get(f"/s/{link.token}/artifacts/{path}").status_code == 404, path


def test_another_user_and_an_anonymous_client_get_404_and_401(job, bob):
    assert client_for(bob).get(f"/api/v1/jobs/{job.pk}/artifacts/model.h5").status_code == 404
    assert Client().get(f"/api/v1/jobs/{job.pk}/artifacts/model.h5").status_code == 401
