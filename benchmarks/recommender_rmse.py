"""Test RMSE of the matrix factorization recipe on MovieLens 100K's u1 split, against baselines.

Trains the recipe through `trainer.run.train` exactly as a job would (same runner, same
evaluation), on the data in PLAYGROUND_DATA_DIR (default: ../shared/data, which holds ml-100k/),
and prints JSON: the settings used, the test metrics of the model, of the global mean and of the
biases-only model, and the goal figure (RMSE <= 0.92 on u1).

    .venv/bin/python benchmarks/recommender_rmse.py [--split u1] [--set l2=10 --set factors=32 ...]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import trainer  # noqa: E402,F401
from trainer.reporter import ListReporter  # noqa: E402
from trainer.run import train  # noqa: E402
from trainer.spec import validate_spec  # noqa: E402

GOAL_RMSE = 0.92


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="u1")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="override a hyperparameter (JSON value), e.g. --set l2=10")
    args = parser.parse_args()
    overrides = {name: json.loads(value) for name, value in (item.split("=", 1) for item in args.set)}
    data_dir = os.environ.get("PLAYGROUND_DATA_DIR", str(ROOT.parent / "shared" / "data"))
    spec = validate_spec({"recipe": "matrix_factorization", "dataset": "movielens_100k",
                          "hyperparameters": {"split": args.split, **overrides}})
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as workdir:
        result = train(spec, ListReporter(), workdir, data_dir=data_dir)
    metrics = result["test_metrics"]
    print(json.dumps({
        "benchmark": "recommender_rmse",
        "dataset": "movielens_100k", "split": args.split,
        "hyperparameters": spec.hyperparameters,
        "epochs_run": result["epochs_run"], "best_epoch": result["best_epoch"],
        "seconds": round(time.perf_counter() - started, 1),
        "model": {key: round(metrics[key], 4) for key in ("rmse", "mae", "precision_at_10", "recall_at_10")},
        "baselines": {name: {key: round(value, 4) for key, value in values.items()}
                      for name, values in result["baselines"].items()},
        "val_rmse_per_epoch": [round(v, 4) for v in result["history"]["val_rmse"]],
        "goal": {"rmse_at_most": GOAL_RMSE, "met": metrics["rmse"] <= GOAL_RMSE},
    }, indent=2))


if __name__ == "__main__":
    main()
