"""multi_worker:2 over loopback vs one worker: what the TensorFlow cluster costs on one machine.

Runs the MLP on digits (the offline dataset) the way a job runs: one worker with the default
strategy (`python -m trainer.multi_worker` is not needed for that, so it is `train()` in a
fresh process), then two `python -m trainer.multi_worker` processes forming a
MultiWorkerMirroredStrategy cluster over 127.0.0.1 (playground/jobs/gang.py starts them the
same way). Prints JSON:

    {"one_worker": {...}, "multi_worker_2": {...}, "steady_samples_per_s_ratio": r}

each with the median steady-state samples/s (epochs after the first, which traces), the wall
time from process start to result, and the test accuracy. Both members share this machine's
cores, so this measures the all-reduce's overhead, not a speed-up: that needs two machines.

    python benchmarks/multi_worker.py [--epochs 4] [--batch-size 64] [--hidden 128]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.processes import free_ports  # noqa: E402
from trainer.multi_worker import cluster_config  # noqa: E402


def run_members(spec: dict, workers: int, workdir: str) -> dict:
    addresses = [f"127.0.0.1:{port}" for port in free_ports(workers)]
    started = time.perf_counter()
    members = []
    for rank in range(workers):
        env = {**os.environ, "TF_CONFIG": json.dumps(cluster_config(addresses, rank))}
        member = subprocess.Popen([sys.executable, "-m", "trainer.multi_worker"], cwd=REPO, env=env, text=True,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        member.stdin.write(json.dumps({"spec": spec, "workdir": f"{workdir}/rank-{rank}", "report": rank == 0,
                                       "batch_interval": 3600}))
        member.stdin.close()
        members.append(member)
    outputs = [member.stdout.read() for member in members]
    for member in members:
        member.wait()
    return summary([json.loads(line) for line in outputs[0].splitlines()], time.perf_counter() - started)


def run_one_worker(spec: dict, workdir: str) -> dict:
    code = (
        "import json, sys; from trainer.reporter import ListReporter; from trainer.run import train; "
        "from trainer.spec import validate_spec; r = ListReporter(); "
        f"result = train(validate_spec({spec!r}), r, {workdir!r}, batch_interval=3600); "
        "[print(json.dumps({'event': t, 'data': d})) for t, d in r.events]; "
        "print(json.dumps({'result': result}, default=float))"
    )
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    return summary([json.loads(line) for line in out.splitlines() if line.startswith("{")], time.perf_counter() - started)


def summary(messages: list[dict], wall_s: float) -> dict:
    epochs = [m["data"] for m in messages if m.get("event") == "epoch"]
    result = next(m["result"] for m in messages if "result" in m)
    return {
        "steady_samples_per_s": round(statistics.median(e["samples_per_s"] for e in epochs[1:]), 1),
        "wall_s": round(wall_s, 1),
        "replicas": result["replicas"],
        "per_replica_batch_size": result["per_replica_batch_size"],
        "test_accuracy": result["test_metrics"]["accuracy"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=128)
    args = parser.parse_args()
    hp = {"epochs": args.epochs, "batch_size": args.batch_size, "hidden_layers": [args.hidden], "seed": 1}
    with tempfile.TemporaryDirectory() as workdir:
        one = run_one_worker({"recipe": "mlp", "dataset": "digits", "hyperparameters": hp}, f"{workdir}/one")
        two = run_members({"recipe": "mlp", "dataset": "digits", "strategy": "multi_worker:2",
                           "hyperparameters": hp}, 2, f"{workdir}/two")
    print(json.dumps({
        "machine_cpus": os.cpu_count(),
        "hyperparameters": hp,
        "one_worker": one,
        "multi_worker_2": two,
        "steady_samples_per_s_ratio": round(two["steady_samples_per_s"] / one["steady_samples_per_s"], 3),
    }, indent=1))


if __name__ == "__main__":
    main()
