"""trainer.multi_worker: two processes over loopback form one MultiWorkerMirroredStrategy
cluster from TF_CONFIG; the chief reports, the other rank trains silently in step."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.processes import free_ports
from trainer.multi_worker import cluster_config

ROOT = Path(__file__).resolve().parents[2]
SPEC = {"recipe": "mlp", "dataset": "digits", "strategy": "multi_worker:2",
        "hyperparameters": {"epochs": 2, "batch_size": 32, "hidden_layers": [16], "seed": 1}}


def start_member(tf_config: dict | None, config: dict) -> subprocess.Popen:
    env = {key: value for key, value in os.environ.items() if key != "TF_CONFIG"}
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    process = subprocess.Popen([sys.executable, "-m", "trainer.multi_worker"], cwd=ROOT, env=env, text=True,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    process.stdin.write(json.dumps(config))
    process.stdin.close()
    return process


def messages(process: subprocess.Popen) -> list[dict]:
    out = process.stdout.read()
    process.wait(timeout=60)
    return [json.loads(line) for line in out.splitlines()]


def test_two_ranks_train_as_one_cluster_and_only_the_chief_reports(tmp_path):
    addresses = [f"127.0.0.1:{port}" for port in free_ports(2)]
    members = [start_member(cluster_config(addresses, rank),
                            {"spec": SPEC, "workdir": str(tmp_path / f"rank-{rank}"), "report": rank == 0})
               for rank in range(2)]
    chief, other = (messages(member) for member in members)

    assert [member.returncode for member in members] == [0, 0]
    assert [m for m in other if "result" not in m] == [], "the other rank sends its result only"
    events = [(m["event"], m["data"]) for m in chief if "event" in m]
    assert [data["epoch"] for kind, data in events if kind == "epoch"] == [1, 2]
    results = [chief[-1]["result"], other[-1]["result"]]
    for result in results:
        assert (result["strategy"], result["workers"], result["replicas"]) == ("multi_worker", 2, 2)
        assert (result["global_batch_size"], result["per_replica_batch_size"]) == (32, 16)
    assert results[0]["history"] == results[1]["history"], "gradients were all-reduced: one model"
    # A batch's loss is the chief's own: about ln(10) = 2.3 at first, where the sum over both
    # workers that Keras reports by default would be about 4.6.
    batch_losses = [data["logs"]["loss"] for kind, data in events if kind == "batch"]
    assert batch_losses and max(batch_losses) < 3.5, batch_losses
    assert (tmp_path / "rank-0" / "tfjs" / "float32" / "model.json").exists()


def test_a_member_without_a_cluster_fails_with_a_reason_on_its_channel(tmp_path):
    member = start_member(None, {"spec": SPEC, "workdir": str(tmp_path), "report": True})

    assert messages(member) == [{"failed": "multi_worker needs TF_CONFIG describing the cluster; run the "
                                           "job through the playground's workers, which set it."}]
    assert member.returncode == 1


def test_a_forked_multi_worker_job_starts_from_its_parents_checkpoint_with_the_same_train_options(tmp_path):
    # The gang used to drop a fork's checkpoint (and retention): the job trained from scratch.
    from trainer.reporter import ListReporter
    from trainer.run import train
    from trainer.spec import validate_spec

    parent = {**SPEC, "strategy": "default", "hyperparameters": {**SPEC["hyperparameters"], "epochs": 1}}
    train(validate_spec(parent), ListReporter(), tmp_path / "parent", tensorboard=False)
    options = {"initial_weights": str(tmp_path / "parent" / "checkpoints" / "best.weights.npz"),
               "freeze": "all_but_last", "retention": {"keep_every": 1, "keep_last": 0}}
    addresses = [f"127.0.0.1:{port}" for port in free_ports(2)]
    members = [start_member(cluster_config(addresses, rank), {
        "spec": SPEC, "workdir": str(tmp_path / f"rank-{rank}"), "report": rank == 0, "options": options})
        for rank in range(2)]
    chief, _ = (messages(member) for member in members)

    assert [member.returncode for member in members] == [0, 0]
    logs = [m["data"]["message"] for m in chief if m.get("event") == "log"]
    assert any(line.startswith("Started from checkpoint best.weights.npz; frozen layers: ") for line in logs), logs
    assert sorted(p.name for p in (tmp_path / "rank-0" / "checkpoints").glob("epoch-*")) == [
        "epoch-1.weights.npz", "epoch-2.weights.npz"]
