"""Gang scheduling of multi_worker jobs: one message per member, one rank per worker, a gang
that forms or fails with the count, and never a requeue after a worker loss. Training over
real worker processes is in tests/integration/test_multi_worker.py."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from playground.jobs import gang, leases, services
from playground.jobs.models import GangSlot, Job
from tests.conftest import client_for
from trainer.spec import validate_spec

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sent(monkeypatch):
    """Task messages create_job sends, by task; no worker reads them here."""
    messages = {"run_job": [], "run_gang_member": []}
    for task in messages:
        monkeypatch.setattr(f"playground.jobs.tasks.{task}.apply_async",
                            lambda args, queue, task=task: messages[task].append((args, queue)))
    return messages


def gang_job(owner, workers: int = 2) -> Job:
    spec = validate_spec({"recipe": "mlp", "strategy": f"multi_worker:{workers}",
                          "hyperparameters": {"epochs": 1, "hidden_layers": [16]}})
    return services.create_job(owner, spec)


def test_a_multi_worker_job_is_queued_as_one_member_message_per_worker(alice, sent):
    job = gang_job(alice, workers=3)

    assert job.status == "queued"
    assert sent["run_gang_member"] == [((job.pk,), job.queue)] * 3
    assert sent["run_job"] == []


def workers_online(count: int, queue: str = "training") -> None:
    from playground.ops import registry

    for n in range(count):
        registry.register(f"w{n}@host", [queue], [])


def test_the_api_accepts_multi_worker_and_explains_a_bad_worker_count(alice, sent):
    workers_online(2)
    api = client_for(alice)

    ok = api.post("/api/v1/jobs/", {"recipe": "mlp", "strategy": "multi_worker:2"}, format="json")
    bad = api.post("/api/v1/jobs/", {"recipe": "mlp", "strategy": "multi_worker:1"}, format="json")

    assert ok.status_code == 201 and ok.json()["strategy"] == "multi_worker:2"
    assert bad.status_code == 400
    assert "whole number of workers from 2 to 64" in str(bad.json()["strategy"])


def test_workers_claim_the_ranks_in_order_and_a_full_gang_takes_no_more(alice, sent):
    job = gang_job(alice)

    first = gang.claim_rank(job.pk, 2, "w1@host", "10.0.0.1:4001")
    second = gang.claim_rank(job.pk, 2, "w2@host", "10.0.0.2:4002")
    third = gang.claim_rank(job.pk, 2, "w3@host", "10.0.0.3:4003")

    assert (first.rank, second.rank, third) == (0, 1, None)
    assert list(GangSlot.objects.filter(job=job).values_list("rank", "worker", "address")) == [
        (0, "w1@host", "10.0.0.1:4001"), (1, "w2@host", "10.0.0.2:4002")]


def test_a_worker_never_holds_two_ranks_of_one_job(alice, sent):
    job = gang_job(alice, workers=3)
    gang.claim_rank(job.pk, 3, "w1@host", "10.0.0.1:4001")

    assert gang.claim_rank(job.pk, 3, "w1@host", "10.0.0.1:4002") is None
    assert GangSlot.objects.filter(job=job).count() == 1


def test_the_gang_forms_once_every_member_has_joined(alice, sent):
    job = gang_job(alice)
    mine = gang.claim_rank(job.pk, 2, "w2@host", "127.0.0.1:4002")
    gang.claim_rank(job.pk, 2, "w1@host", "127.0.0.1:4001")

    slots = gang.wait_for_gang(job.pk, mine, 2, timeout_s=5)

    assert [(s.rank, s.worker) for s in slots] == [(0, "w2@host"), (1, "w1@host")]
    job.refresh_from_db()
    assert job.status == "queued", "the chief, not the gang, moves the job to running"


def test_a_member_that_looks_after_the_chief_has_started_still_trains(alice, sent):
    job = gang_job(alice)
    gang.claim_rank(job.pk, 2, "w1@host", "127.0.0.1:4001")
    mine = gang.claim_rank(job.pk, 2, "w2@host", "127.0.0.1:4002")
    assert leases.acquire(job.pk, "w1@host") is not None  # the chief saw the full gang first

    slots = gang.wait_for_gang(job.pk, mine, 2, timeout_s=5)

    assert slots is not None and [s.rank for s in slots] == [0, 1]


def test_a_gang_that_does_not_form_in_time_fails_the_job_with_the_count(alice, sent):
    job = gang_job(alice, workers=3)
    mine = gang.claim_rank(job.pk, 3, "w1@host", "127.0.0.1:4001")

    assert gang.wait_for_gang(job.pk, mine, 3, timeout_s=0.2) is None

    job.refresh_from_db()
    assert job.status == "failed" and job.finished_at is not None
    assert job.error.startswith("Only 1 of 3 workers joined within 0.2 s")
    assert job.events.order_by("-seq").first().data == {"status": "failed", "error": job.error}


def test_a_younger_gang_gives_its_worker_to_an_older_one_instead_of_deadlocking(alice, sent, monkeypatch):
    monkeypatch.setattr(gang, "YIELD_AFTER_S", 0)
    older, younger = gang_job(alice), gang_job(alice)
    gang.claim_rank(older.pk, 2, "w1@host", "127.0.0.1:4001")  # each gang holds one of two workers
    mine = gang.claim_rank(younger.pk, 2, "w2@host", "127.0.0.1:4002")
    sent["run_gang_member"].clear()

    assert gang.wait_for_gang(younger.pk, mine, 2, timeout_s=30) is None

    assert not GangSlot.objects.filter(job=younger).exists(), "w2 is free for the older gang's other member"
    assert sent["run_gang_member"] == [((younger.pk,), younger.queue)], "its message waits at the back"
    younger.refresh_from_db()
    assert younger.status == "queued" and younger.error == ""


def test_a_gang_waits_on_when_no_older_gang_is_forming(alice, sent, monkeypatch):
    monkeypatch.setattr(gang, "YIELD_AFTER_S", 0)
    gang_job(alice)  # older, but none of its members has joined: it holds no worker
    job = gang_job(alice)
    mine = gang.claim_rank(job.pk, 2, "w1@host", "127.0.0.1:4001")
    sent["run_gang_member"].clear()

    assert gang.wait_for_gang(job.pk, mine, 2, timeout_s=0.2) is None

    job.refresh_from_db()
    assert job.error.startswith("Only 1 of 2 workers joined") and sent["run_gang_member"] == []


def test_a_waiting_member_leaves_a_cancelled_job_without_failing_it(alice, sent):
    job = gang_job(alice)
    mine = gang.claim_rank(job.pk, 2, "w1@host", "127.0.0.1:4001")
    services.request_cancel(job)

    assert gang.wait_for_gang(job.pk, mine, 2, timeout_s=5) is None

    job.refresh_from_db()
    assert job.status == "cancelled" and job.error == ""


def test_a_member_whose_worker_died_while_waiting_frees_its_rank(alice, sent, settings):
    settings.PLAYGROUND_LEASE_TIMEOUT_S = 30
    job = gang_job(alice)
    dead = gang.claim_rank(job.pk, 2, "w0@host", "127.0.0.1:4000")
    GangSlot.objects.filter(pk=dead.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=60))
    mine = gang.claim_rank(job.pk, 2, "w1@host", "127.0.0.1:4001")

    assert gang.wait_for_gang(job.pk, mine, 2, timeout_s=0.2) is None

    assert list(GangSlot.objects.filter(job=job).values_list("worker", flat=True)) == ["w1@host"]
    job.refresh_from_db()
    assert job.error.startswith("Only 1 of 2 workers joined")


def test_a_member_message_for_a_job_past_forming_is_a_no_op(alice, sent):
    job = gang_job(alice)
    Job.objects.filter(pk=job.pk).update(status="running", worker="w0@host", heartbeat_at=timezone.now())

    gang.run_member(job.pk, "w1@host")

    assert not GangSlot.objects.filter(job=job).exists()
    job.refresh_from_db()
    assert (job.status, job.worker) == ("running", "w0@host")


def test_a_multi_worker_job_whose_chief_stopped_heartbeating_fails_instead_of_resuming(alice, sent, settings):
    settings.PLAYGROUND_LEASE_TIMEOUT_S = 30
    job = gang_job(alice)
    Job.objects.filter(pk=job.pk).update(status="running", worker="w0@host", attempts=1,
                                         heartbeat_at=timezone.now() - timedelta(seconds=60))

    outcome = leases.requeue_stale_jobs()

    assert outcome == {"requeued": [], "failed": [job.pk]}
    assert sent["run_job"] == [] and len(sent["run_gang_member"]) == 2, "create_job's messages only"
    job.refresh_from_db()
    assert job.status == "failed"
    assert job.error.startswith("Worker w0@host (the chief, rank 0) stopped responding")
    assert "multi_worker jobs do not resume" in job.error


def test_a_forming_gang_whose_messages_were_lost_gets_one_message_per_missing_member(alice, sent, settings,
                                                                                      monkeypatch):
    settings.PLAYGROUND_LEASE_TIMEOUT_S = 30
    job = gang_job(alice, workers=3)
    gang.claim_rank(job.pk, 3, "w1@host", "10.0.0.1:4001")  # one member joined and holds its message
    Job.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(seconds=31))
    monkeypatch.setattr(leases, "broker_queue_length", lambda queue: 0)  # as after a Redis restart
    sent["run_gang_member"].clear()

    resent = leases.resend_lost_messages()

    assert resent == [job.pk]
    assert sent["run_gang_member"] == [((job.pk,), job.queue)] * 2, "the two members that never joined"
    assert sent["run_job"] == [], "a gang member is never resent as a single-worker run"


def test_the_api_refuses_a_gang_larger_than_the_workers_online_naming_the_count(alice, sent):
    workers_online(1)
    api = client_for(alice)

    response = api.post("/api/v1/jobs/", {"recipe": "mlp", "strategy": "multi_worker:64"}, format="json")

    assert response.status_code == 400
    assert response.json()["strategy"] == [
        "multi_worker:64 needs 64 workers on queue training; 1 online now. Start more workers, or ask for "
        "fewer (or the default strategy)."]
    assert not Job.objects.exists() and sent["run_gang_member"] == []


def test_the_play_form_refuses_a_gang_larger_than_the_workers_online(alice, sent, client):
    client.force_login(alice)

    response = client.post("/play/mlp/", {"strategy": "multi_worker:2", "dataset": "digits"})

    assert response.status_code == 400 and not Job.objects.exists()
    assert "multi_worker:2 needs 2 workers on queue training; 0 online now" in response.content.decode()


def test_a_forming_gang_gives_its_worker_to_an_ordinary_job_waiting_on_its_queue(alice, sent, monkeypatch):
    monkeypatch.setattr(gang, "YIELD_AFTER_S", 0)
    job = gang_job(alice)
    mine = gang.claim_rank(job.pk, 2, "w1@host", "127.0.0.1:4001")
    services.create_job(alice, validate_spec({"recipe": "mlp", "hyperparameters": {"epochs": 1}}))
    sent["run_gang_member"].clear()

    assert gang.wait_for_gang(job.pk, mine, 2, timeout_s=30) is None

    assert not GangSlot.objects.filter(job=job).exists(), "w1 is free for the waiting job"
    assert sent["run_gang_member"] == [((job.pk,), job.queue)], "the member's message waits at the back"
    job.refresh_from_db()
    assert job.status == "queued" and job.error == ""


def test_retrying_a_gang_larger_than_the_workers_online_is_refused_naming_the_count(alice, sent):
    workers_online(2)
    job = gang_job(alice)
    gang.fail_queued_job(job.pk, "Only 1 of 2 workers joined within 300 s")
    from playground.ops.models import WorkerNode

    WorkerNode.objects.filter(hostname="w1@host").delete()  # one of the two went away

    response = client_for(alice).post(f"/api/v1/jobs/{job.pk}/retry/")

    assert response.status_code == 400
    assert "multi_worker:2 needs 2 workers on queue training; 1 online now" in response.json()["detail"]
    assert Job.objects.count() == 1


def test_a_ranks_training_process_gets_the_same_train_options_as_a_single_worker(alice, sent, monkeypatch, settings):
    import json
    import types

    settings.PLAYGROUND_CHECKPOINT_KEEP_EVERY, settings.PLAYGROUND_CHECKPOINT_KEEP_LAST = 2, 1
    job = gang_job(alice)
    monkeypatch.setattr(services, "fork_options", lambda job: {"initial_weights": "/parent/best.weights.npz",
                                                               "freeze": "all_but_last"})
    written = []

    class FakeMember:  # the rank's process: reads its config, answers a result at once
        returncode = 0

        def __init__(self, *args, **kwargs):
            self.stdin = types.SimpleNamespace(write=written.append, close=lambda: None)
            self.stdout = iter([json.dumps({"result": {"status": "succeeded"}}) + "\n"])

        def wait(self, timeout=None):
            return 0

    monkeypatch.setattr(gang.subprocess, "Popen", FakeMember)
    slot = gang.claim_rank(job.pk, 2, "w1@host", "127.0.0.1:4001")

    outcome = gang._train(job.pk, slot, [slot], services.job_workdir(job.pk), reporter=object())

    assert outcome.result == {"status": "succeeded"}
    options = json.loads("".join(written))["options"]
    assert options["initial_weights"] == "/parent/best.weights.npz" and options["freeze"] == "all_but_last"
    assert options["retention"] == {"keep_every": 2, "keep_last": 1}
    assert options["data_dir"] == str(settings.PLAYGROUND_DATA_DIR)


def test_a_forked_multi_worker_job_trains_from_its_parents_weights(alice, sent, monkeypatch, settings, tmp_path):
    # The gang used to start a fork's ranks without its train() options: they trained from fresh
    # weights. Here each rank's process is the one gang._train starts (its command, TF_CONFIG and
    # config on stdin), run for real over loopback; the supervising loops are the other tests'.
    import json
    import subprocess
    import types

    import numpy as np

    from tests.support.processes import free_ports
    from trainer.checkpoint import checkpoint_path

    settings.PLAYGROUND_MAX_TFJS_BYTES = 1  # the .h5 only: TF.js conversion would cost seconds
    hyperparameters = {"epochs": 1, "hidden_layers": [16], "seed": 1}
    parent = services.create_job(alice, validate_spec({"recipe": "mlp", "hyperparameters": hyperparameters}))
    services.run_job(parent.pk, worker="w0@host")
    # Another seed: weights drawn afresh would not be the parent's, even nearly.
    fork = services.create_job(alice, validate_spec({"recipe": "mlp", "strategy": "multi_worker:2",
                                                     "hyperparameters": {**hyperparameters, "seed": 2}}),
                               parent=parent, parent_epoch="best", freeze="all_but_last")
    started = []

    class Recorded:  # what gang._train starts; it answers at once, the real process runs below
        returncode = 0

        def __init__(self, args, **kwargs):
            config: list[str] = []
            started.append((args, kwargs, config))
            self.stdin = types.SimpleNamespace(write=config.append, close=lambda: None)
            self.stdout = iter([json.dumps({"result": {}}) + "\n"] if len(started) == 1 else [])

        def wait(self, timeout=None):
            return 0

    run = subprocess.Popen
    monkeypatch.setattr(gang.subprocess, "Popen", Recorded)
    slots = [gang.claim_rank(fork.pk, 2, f"w{rank + 1}@host", f"127.0.0.1:{port}")
             for rank, port in enumerate(free_ports(2))]
    gang._train(fork.pk, slots[0], slots, services.job_workdir(fork.pk), reporter=object())
    gang._train(fork.pk, slots[1], slots, tmp_path / "rank-1", reporter=None)

    ranks = [run(args, cwd=kwargs["cwd"], env=kwargs["env"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                 stderr=subprocess.DEVNULL, text=True)
             for args, kwargs, _ in started]
    for process, (_, _, config) in zip(ranks, started):
        process.stdin.write("".join(config))
        process.stdin.close()
    chief = [json.loads(line) for line in ranks[0].stdout.read().splitlines()]
    ranks[1].stdout.read()

    assert [process.wait(timeout=120) for process in ranks] == [0, 0], chief[-1:]
    logs = [m["data"]["message"] for m in chief if m.get("event") == "log"]
    assert any(line.startswith("Started from checkpoint best.weights.npz; frozen layers: ") for line in logs), logs
    assert any(line.startswith("TF.js export skipped") for line in logs), logs
    with np.load(checkpoint_path(services.job_workdir(parent.pk), "best")) as start, \
            np.load(checkpoint_path(services.job_workdir(fork.pk), "latest")) as end:
        # The frozen hidden layer is the parent's to the bit; the head went on training.
        np.testing.assert_array_equal(end["arr_0"], start["arr_0"])
        np.testing.assert_array_equal(end["arr_1"], start["arr_1"])
        assert not np.array_equal(end["arr_2"], start["arr_2"])
