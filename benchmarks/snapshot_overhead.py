"""The cost of "try it while it trains": the job path with the worker's TF.js snapshots
(trainer/snapshot.py, at most every PLAYGROUND_SNAPSHOT_INTERVAL_S and 3 % of the time)
against the same job path without them, in the same run, alternating which goes first.

Prints JSON: {"<recipe>": {"with_snapshots_samples_per_s", "without_samples_per_s", "ratio",
"snapshots", "snapshot_seconds"}, ...}. Data as benchmarks/overhead.py (MNIST 8k).

    python benchmarks/snapshot_overhead.py [--epochs 10] [--repeats 3] [--interval 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile

from overhead import JsonReporter, mnist_test_set

import trainer.export
from trainer import snapshot
from trainer.run import train
from trainer.spec import validate_spec


def run(recipe: str, hp: dict, data, interval: float | None) -> tuple[float, int]:
    spec = validate_spec({"recipe": recipe, "hyperparameters": hp})
    with tempfile.TemporaryDirectory() as workdir:
        result = train(spec, JsonReporter(), workdir, dataset=data, snapshot_interval_s=interval)
        latest = snapshot.latest(workdir)
    return result["samples_per_s"], latest["epoch"] if latest else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--recipes", nargs="+", default=["mlp", "lenet"])
    args = parser.parse_args()

    trainer.export.export_model = lambda *a, **k: []  # export is not what is measured
    data = mnist_test_set()
    figures = {}
    for recipe in args.recipes:
        hp = {"epochs": args.epochs}
        run(recipe, {"epochs": 1}, data, None)  # warm-up
        with_, without, last_epochs = [], [], []
        for repeat in range(args.repeats):
            order = [("with", args.interval), ("without", None)]
            for name, interval in order if repeat % 2 == 0 else reversed(order):
                samples_per_s, last = run(recipe, hp, data, interval)
                (with_ if name == "with" else without).append(samples_per_s)
                if name == "with":
                    last_epochs.append(last)
        figures[recipe] = {
            "with_snapshots_samples_per_s": round(statistics.median(with_), 1),
            "without_samples_per_s": round(statistics.median(without), 1),
            "ratio": round(statistics.median(w / o for w, o in zip(with_, without)), 3),
            "last_snapshot_epoch": last_epochs,
            "runs": {"with": [round(v, 1) for v in with_], "without": [round(v, 1) for v in without]},
        }
    print(json.dumps({**figures, "epochs": args.epochs, "repeats": args.repeats, "interval_s": args.interval},
                     indent=2))


if __name__ == "__main__":
    main()
