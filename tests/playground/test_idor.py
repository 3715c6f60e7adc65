"""IDOR suite: Bob, with a token and with a session, tries every URL that names one of Alice's
jobs (or races, or API tokens, or uploaded datasets), the job's WebSocket, forks of the job and
jobs on Alice's dataset; each answers exactly as for an object that does not exist.

The URLs come from the URL resolver, not a hand-written list: an endpoint added later with a
<pk>/<id>/<job_id> in its route is tried too, and fails here if it forgets the owner check.
Each URL is also tried as Alice, so a 404 that everyone gets proves nothing and fails.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern
from rest_framework.test import APIClient

from playground.accounts.models import ApiToken, ShareLink
from playground.asgi import application
from playground.datasets.models import UserDataset
from playground.datasets.services import create_dataset
from playground.jobs import services
from playground.jobs.models import Job, JobGroup
from tests.playground.datasets.factories import two_class_zip
from trainer.spec import validate_spec

pytestmark = pytest.mark.django_db

OBJECT_KWARGS = {"pk", "id", "job_id"}
# What a route's id names when it is not a job: URL name → the World attribute holding Alice's one.
OBJECT_OF_ROUTE = {"race": "group", "race-detail": "group", "api-token-revoke": "api_token",
                   "dataset-detail": "dataset", "dataset-delete": "dataset", "dataset-preview": "dataset"}
ARTIFACT_FILES = ("tfjs/uint8/model.json", "tfjs/uint8/group1-shard1of1.bin")
MISSING_ID = 987654


@dataclass(frozen=True)
class Endpoint:
    name: str
    route: str
    kwargs: tuple[str, ...]
    methods: tuple[str, ...]

    @property
    def is_api(self) -> bool:
        return self.route.startswith("api/")

    def __str__(self) -> str:
        return self.route


def _route(pattern) -> str:
    """A path() route as is, a regex (DRF's router) rewritten to the same <name> placeholders."""
    text = str(pattern)
    if isinstance(pattern, RegexPattern):
        text = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"<\1>", text).lstrip("^").rstrip("$")
    return re.sub(r"<\w+:(\w+)>", r"<\1>", text)


def _walk(patterns, prefix: str = ""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + _route(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + _route(entry.pattern), entry


# DELETE last: the owner's DELETE removes the object that the other methods are tried on.
METHOD_ORDER = ("get", "post", "put", "patch", "delete")


def _methods(callback) -> tuple[str, ...]:
    """The HTTP methods a view answers: a viewset's routed actions, a class view's handlers; () for a
    function view, whose methods only a request can tell (see `methods_of`)."""
    if getattr(callback, "actions", None):
        return tuple(m.upper() for m in METHOD_ORDER if m in callback.actions)
    view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if view_class is None:
        return ()
    return tuple(m.upper() for m in METHOD_ORDER if hasattr(view_class, m))


def methods_of(endpoint: Endpoint, client: Client, url: str) -> tuple[str, ...]:
    """A function view answers GET, or 405 with the methods it does allow (require_POST & co)."""
    if endpoint.methods:
        return endpoint.methods
    response = client.get(url)
    if response.status_code == 405:
        return tuple(m.strip() for m in response["Allow"].split(","))
    return ("GET",)


def object_endpoints() -> list[Endpoint]:
    endpoints: dict[str, Endpoint] = {}
    for route, pattern in _walk(get_resolver().url_patterns):
        if route.startswith("admin/"):
            continue  # staff only, all of it (tested in tests/playground/jobs/test_admin.py)
        kwargs = set(re.findall(r"<(\w+)>", route))
        if not kwargs & OBJECT_KWARGS or "format" in kwargs:  # format: DRF's .json twin of a route
            continue
        endpoints.setdefault(route, Endpoint(pattern.name or "", route, tuple(sorted(kwargs)), _methods(pattern.callback)))
    return sorted(endpoints.values(), key=lambda e: e.route)


ENDPOINTS = object_endpoints()


@dataclass
class World:
    job: Job
    group: JobGroup
    api_token: ApiToken
    dataset: UserDataset
    alice_token: str
    bob_token: str


@pytest.fixture
def world(alice, bob) -> World:
    """Alice owns a succeeded job (TF.js files on disk, a share link), a race, an API token and an
    uploaded dataset; Bob owns a job and a dataset of his own."""
    group = JobGroup.objects.create(owner=alice)
    job = services.create_job(alice, validate_spec({"recipe": "mlp"}), group=group)
    workdir = services.job_workdir(job.pk)
    for name in ARTIFACT_FILES:
        (workdir / name).parent.mkdir(parents=True, exist_ok=True)
        (workdir / name).write_bytes(b"{}" if name.endswith(".json") else b"\0\1\2\3")
    Job.objects.filter(pk=job.pk).update(status=Job.Status.SUCCEEDED, artifacts=[{
        "kind": "tfjs", "variant": "uint8", "path": ARTIFACT_FILES[0], "files": list(ARTIFACT_FILES),
        "bytes": 6, "url": f"/api/v1/jobs/{job.pk}/artifacts/{ARTIFACT_FILES[0]}",
    }])
    ShareLink.objects.create(job=job, created_by=alice)  # so that the owner's GET of it is a 200
    services.create_job(bob, validate_spec({"recipe": "mlp"}))
    # Images: every dataset route answers the owner for them (a tabular one has no preview).
    dataset = create_dataset(alice, "pets", "pets.zip", two_class_zip())
    create_dataset(bob, "pets", "pets.zip", two_class_zip())  # the same name: ids, not names, find one
    api_token, alice_key = ApiToken.issue(alice, "laptop")
    _, bob_key = ApiToken.issue(bob, "laptop")
    return World(Job.objects.get(pk=job.pk), group, api_token, dataset, alice_key, bob_key)


def urls_for(endpoint: Endpoint, world: World, object_id: int | None = None) -> list[str]:
    """The endpoint's URLs for Alice's object (or for `object_id`), one per artifact file for file routes."""
    default = getattr(world, OBJECT_OF_ROUTE.get(endpoint.name, "job")).pk
    values = {name: str(object_id or default) for name in endpoint.kwargs if name in OBJECT_KWARGS}
    unknown = set(endpoint.kwargs) - OBJECT_KWARGS - {"path"}
    assert not unknown, f"{endpoint}: teach this suite a value for {sorted(unknown)}"
    files = ARTIFACT_FILES if "path" in endpoint.kwargs else (None,)
    return ["/" + re.sub(r"<(\w+)>", lambda m: values.get(m[1]) or file, endpoint.route) for file in files]


def clients(user, token: str, api: bool) -> dict[str, Client]:
    session = Client()
    session.force_login(user)
    found = {"session": session}
    if api:
        with_token = APIClient()
        with_token.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        found["token"] = with_token
    return found


def call(client: Client, method: str, url: str):
    if method == "GET":
        return client.get(url)
    return client.generic(method, url, data="{}", content_type="application/json")


def comparable(response) -> str:
    """The body without the per-response CSRF token of the page's logout form."""
    return re.sub(r'name="csrfmiddlewaretoken" value="\w+"', "", response.content.decode())


def test_the_resolver_yields_every_kind_of_object_endpoint():
    routes = {endpoint.route for endpoint in ENDPOINTS}

    assert {"api/v1/jobs/<pk>/", "api/v1/jobs/<pk>/events/", "api/v1/jobs/<pk>/cancel/", "api/v1/jobs/<pk>/predict/",
            "api/v1/jobs/<pk>/artifacts/<path>", "api/v1/jobs/<pk>/translate/", "api/v1/jobs/<pk>/recommend/",
            "api/v1/races/<pk>/", "jobs/<pk>/", "races/<pk>/", "try/digits/<pk>/", "try/translate/<pk>/",
            "try/gan/<pk>/", "try/recommend/<pk>/", "api/v1/datasets/<pk>/", "datasets/<pk>/delete/"} <= routes
    assert next(e for e in ENDPOINTS if e.route == "api/v1/datasets/<pk>/").methods == ("GET", "DELETE")


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_another_users_object_answers_404_exactly_like_a_missing_one(endpoint, world, alice, bob):
    urls = urls_for(endpoint, world)
    object_id = str(getattr(world, OBJECT_OF_ROUTE.get(endpoint.name, "job")).pk)
    for method in methods_of(endpoint, clients(alice, world.alice_token, False)["session"], urls[0]):
        for url, missing_url in zip(urls, urls_for(endpoint, world, MISSING_ID)):
            for auth, client in clients(bob, world.bob_token, endpoint.is_api).items():
                response = call(client, method, url)
                missing = call(client, method, missing_url)

                assert response.status_code == 404, f"Bob ({auth}) {method} {url}: {response.status_code}"
                assert missing.status_code == 404
                # The same page or body, but for the id in the URL (the 404 page quotes the path).
                assert comparable(response) == comparable(missing).replace(str(MISSING_ID), object_id), \
                    f"Bob ({auth}) {method} {url} tells more than 'not found'"

            # The owner gets past the object lookup (else the 404 above proves nothing); a 403
            # here is a staff-only action on a job the owner can see, e.g. requeue. One client:
            # some actions (revoke, unshare) can be done once.
            owner = list(clients(alice, world.alice_token, endpoint.is_api).values())[-1]
            response = call(owner, method, url)
            assert response.status_code not in (401, 404), f"Alice {method} {url}: {response.status_code}"
            assert response.status_code < 500 and not response.get("Location", "").startswith("/accounts/login")


def test_the_job_list_and_home_page_leave_out_another_users_job(world, bob):
    for auth, client in clients(bob, world.bob_token, api=True).items():
        ids = [job["id"] for job in client.get("/api/v1/jobs/").json()["results"]]
        assert ids and world.job.pk not in ids, auth
    home = clients(bob, world.bob_token, api=False)["session"].get("/")
    assert f"/jobs/{world.job.pk}/" not in home.content.decode()


def test_the_dataset_list_and_page_leave_out_another_users_dataset(world, bob):
    for auth, client in clients(bob, world.bob_token, api=True).items():
        ids = [dataset["id"] for dataset in client.get("/api/v1/datasets/").json()["results"]]
        assert ids and world.dataset.pk not in ids, auth
    page = clients(bob, world.bob_token, api=False)["session"].get("/datasets/").content.decode()
    assert f"user:{world.dataset.pk}<" not in page and f"/datasets/{world.dataset.pk}/delete/" not in page


def test_a_job_on_another_users_dataset_is_refused_like_a_missing_one(world, bob):
    def submit(dataset_id):
        return clients(bob, world.bob_token, api=True)["token"].post(
            "/api/v1/jobs/", {"recipe": "mlp", "dataset": f"user:{dataset_id}"}, format="json")

    response, missing = submit(world.dataset.pk), submit(MISSING_ID)

    assert response.status_code == missing.status_code == 400
    assert response.json() == json.loads(json.dumps(missing.json()).replace(str(MISSING_ID), str(world.dataset.pk)))
    assert not Job.objects.filter(owner=bob, dataset=f"user:{world.dataset.pk}").exists()


def test_a_fork_of_another_users_job_is_refused_like_a_missing_one(world, bob):
    def fork(parent_id):
        return clients(bob, world.bob_token, api=True)["token"].post(
            "/api/v1/jobs/", {"recipe": "mlp", "parent": {"job": parent_id}}, format="json")

    response, missing = fork(world.job.pk), fork(MISSING_ID)

    assert response.status_code == missing.status_code == 400
    assert response.json() == {"parent": [f"No such job: {world.job.pk}."]}
    assert missing.json() == {"parent": [f"No such job: {MISSING_ID}."]}
    assert not Job.objects.filter(owner=bob, parent=world.job).exists()


def test_a_fork_from_the_recipe_form_of_another_users_job_is_refused_like_a_missing_one(world, bob):
    session = clients(bob, world.bob_token, api=False)["session"]

    def fork(parent_id):
        return session.post("/play/mlp/", {"dataset": "digits", "parent": str(parent_id)})

    response, missing = fork(world.job.pk), fork(MISSING_ID)

    assert response.status_code == missing.status_code == 400
    assert f"No such job: {world.job.pk}." in response.content.decode()
    # The page echoes the submitted id (in the message and the form field) and nothing else differs.
    def without_id(page, job_id):
        return re.sub(rf"(No such job: |value=\"|job #){job_id}\b", r"\1", comparable(page))

    assert without_id(response, world.job.pk) == without_id(missing, MISSING_ID)
    assert not Job.objects.filter(owner=bob, parent=world.job).exists()


async def _ws_close_code(path: str, headers: list[tuple[bytes, bytes]]) -> tuple[bool, int | None, dict | None]:
    ws = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await ws.connect()
    output = await ws.receive_output(timeout=2)
    await ws.disconnect()
    if output["type"] == "websocket.close":
        return connected, output["code"], None
    return connected, None, json.loads(output["text"])


@pytest.mark.django_db(transaction=True)
async def test_the_job_websocket_refuses_another_user_with_4404(alice, bob):
    job = await database_sync_to_async(services.create_job)(alice, validate_spec({"recipe": "mlp"}))

    @database_sync_to_async
    def credentials(user):
        _, token = ApiToken.issue(user, "websocket")
        session = Client()
        session.force_login(user)
        cookie = f"sessionid={session.cookies['sessionid'].value}".encode()
        return {"token": [(b"authorization", f"Token {token}".encode())],
                "session": [(b"cookie", cookie), (b"origin", b"http://127.0.0.1")]}

    alices, bobs = await credentials(alice), await credentials(bob)
    for auth in ("token", "session"):
        assert (await _ws_close_code(f"/ws/jobs/{job.pk}/", bobs[auth]))[1] == 4404, auth
        assert (await _ws_close_code(f"/ws/jobs/{MISSING_ID}/", bobs[auth]))[1] == 4404, auth
        _, code, first = await _ws_close_code(f"/ws/jobs/{job.pk}/", alices[auth])
        assert code is None and first["type"] == "snapshot" and first["job"] == job.pk, auth


def test_compare_takes_ids_in_its_query_and_answers_404_for_another_users_job_like_a_missing_one(world, alice, bob):
    # /compare/?jobs=... has no <pk> in its route, so the resolver walk above does not find it.
    bobs_own = Job.objects.get(owner=bob)
    session = clients(bob, world.bob_token, api=False)["session"]
    for query in (f"{world.job.pk}", f"{bobs_own.pk},{world.job.pk}", f"{bobs_own.pk}&jobs={world.job.pk}"):
        response = session.get(f"/compare/?jobs={query}")
        missing = session.get(f"/compare/?jobs={query.replace(str(world.job.pk), str(MISSING_ID))}")

        assert response.status_code == missing.status_code == 404, query
        assert comparable(response) == comparable(missing), query
    assert session.get(f"/compare/?jobs={bobs_own.pk}").status_code == 200
    owner = clients(alice, world.alice_token, api=False)["session"]
    assert owner.get(f"/compare/?jobs={world.job.pk}").status_code == 200
