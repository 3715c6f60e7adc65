from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from rest_framework.test import APIClient

from playground.accounts.models import ShareLink
from playground.asgi import application
from playground.jobs import events, services
from playground.jobs.models import Job
from tests.conftest import client_for
from trainer.spec import validate_spec

pytestmark = pytest.mark.django_db


def finished_job(owner) -> Job:
    """A job with a stored event and one downloadable artifact file."""
    job = services.create_job(owner, validate_spec({"recipe": "mlp"}))
    workdir = services.job_workdir(job.pk)
    (workdir / "tfjs" / "uint8").mkdir(parents=True)
    (workdir / "tfjs" / "uint8" / "model.json").write_text('{"format": "layers-model"}')
    Job.objects.filter(pk=job.pk).update(artifacts=[{
        "kind": "tfjs", "variant": "uint8", "bytes": 26, "files": ["tfjs/uint8/model.json"],
        "url": f"/api/v1/jobs/{job.pk}/artifacts/tfjs/uint8/model.json"}])
    return Job.objects.get(pk=job.pk)


def share(owner, job) -> str:
    response = client_for(owner).post(f"/api/v1/jobs/{job.pk}/share/")
    assert response.status_code in (200, 201), response.content
    return response.json()["url"].removeprefix("http://testserver")


def test_an_owner_gets_one_unguessable_share_url_per_job(alice):
    job = finished_job(alice)
    api = client_for(alice)

    first = api.post(f"/api/v1/jobs/{job.pk}/share/")
    again = api.post(f"/api/v1/jobs/{job.pk}/share/")

    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["url"] == again.json()["url"] == api.get(f"/api/v1/jobs/{job.pk}/share/").json()["url"]
    assert client_for(alice).get(f"/api/v1/jobs/{finished_job(alice).pk}/share/").json() == {"detail": "This job has no share link."}
    token = ShareLink.objects.get(job=job).token
    assert first.json()["url"] == f"http://testserver/s/{token}/" and len(token) >= 43  # 32 random bytes


def test_an_anonymous_visitor_sees_the_shared_job_its_events_and_artifacts(alice):
    job = finished_job(alice)
    url = share(alice, job)
    visitor = Client()

    page = visitor.get(url)
    data = visitor.get(f"{url}job/").json()
    events_page = visitor.get(f"{url}events/?after=0").json()
    artifact = visitor.get(f"{url}artifacts/tfjs/uint8/model.json")

    assert page.status_code == 200 and page["Referrer-Policy"] == "no-referrer"
    html = page.content.decode()
    assert f"Job #{job.pk}" in html and 'id="cancel"' not in html and 'id="share-box"' not in html
    assert f'"ws": "/ws/share/{url.split("/")[2]}/"' in html
    assert data["id"] == job.pk and "owner" not in data
    assert data["artifacts"][0]["url"] == f"http://testserver{url}artifacts/tfjs/uint8/model.json"
    assert [e["data"]["status"] for e in events_page["results"]] == ["queued"]
    assert artifact.status_code == 200 and b"layers-model" in b"".join(artifact.streaming_content)


def test_a_share_link_is_read_only(alice):
    job = finished_job(alice)
    url = share(alice, job)

    assert Client().post(f"{url}job/").status_code == 405
    assert APIClient().post(f"/api/v1/jobs/{job.pk}/cancel/").status_code == 401
    assert Job.objects.get(pk=job.pk).status == "queued"


def test_a_revoked_share_link_is_a_404_everywhere(alice):
    job = finished_job(alice)
    url = share(alice, job)

    assert client_for(alice).delete(f"/api/v1/jobs/{job.pk}/share/").status_code == 204

    for path in ("", "job/", "events/", "artifacts/tfjs/uint8/model.json"):
        assert Client().get(f"{url}{path}").status_code == 404, path
    assert client_for(alice).delete(f"/api/v1/jobs/{job.pk}/share/").status_code == 404
    assert share(alice, job) != url  # sharing again makes a new token


def test_unknown_tokens_are_404(alice):
    finished_job(alice)

    assert Client().get("/s/not-a-token/").status_code == 404
    assert Client().get("/s/not-a-token/events/").status_code == 404


def test_only_someone_who_sees_the_job_can_share_or_revoke_it(alice, bob):
    job = finished_job(alice)
    url = share(alice, job)

    assert client_for(bob).post(f"/api/v1/jobs/{job.pk}/share/").status_code == 404
    assert client_for(bob).delete(f"/api/v1/jobs/{job.pk}/share/").status_code == 404
    assert APIClient().post(f"/api/v1/jobs/{job.pk}/share/").status_code == 401
    assert Client().get(url).status_code == 200


def test_the_owners_job_page_offers_the_share_controls(alice):
    job = finished_job(alice)
    client = Client()
    client.force_login(alice)

    before = client.get(f"/jobs/{job.pk}/").content.decode()
    url = share(alice, job)
    after = client.get(f"/jobs/{job.pk}/").content.decode()

    assert 'id="share-box"' in before and 'value=""' in before
    assert f'value="http://testserver{url}"' in after


@pytest.mark.django_db(transaction=True)
async def test_an_anonymous_websocket_on_a_share_link_gets_the_snapshot_events_and_live_events(alice, server_loop):
    job = await database_sync_to_async(finished_job)(alice)
    link = await database_sync_to_async(ShareLink.objects.create)(job=job, created_by=alice)
    ws = WebsocketCommunicator(application, f"/ws/share/{link.token}/")

    connected, _ = await ws.connect()
    snapshot = await ws.receive_json_from()
    stored = await ws.receive_json_from()
    await database_sync_to_async(events.publish)(job.pk, "log", {"message": "hello"})
    live = await ws.receive_json_from(timeout=5)

    assert connected and snapshot["type"] == "snapshot" and "owner" not in snapshot["data"]
    assert snapshot["data"]["artifacts"][0]["url"].startswith(f"/s/{link.token}/artifacts/")
    assert stored["seq"] == 1 and live["data"] == {"message": "hello"}
    await ws.disconnect()

    await database_sync_to_async(link.delete)()
    ws = WebsocketCommunicator(application, f"/ws/share/{link.token}/")
    await ws.connect()
    assert (await ws.receive_output())["code"] == 4404
