"""Final accuracy with and without a mid-run worker kill, same seed.

For each seed: one uninterrupted run; one run in a child process killed with SIGKILL once its
checkpoint holds `--kill-after` epochs, then resumed here from that checkpoint (what a
redelivered job does); plus, for scale, a run restarted from scratch would not even finish
the same number of epochs. Prints JSON with per-seed test accuracies and the differences.

    python benchmarks/resume.py [--recipe mlp] [--epochs 6] [--kill-after 3] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import trainer  # noqa: E402,F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)


def spec(recipe: str, epochs: int, seed: int):
    from trainer.spec import validate_spec

    return validate_spec({"recipe": recipe, "dataset": "digits", "hyperparameters": {
        "epochs": epochs, "batch_size": 16, "learning_rate": 0.003, "optimizer": "adam", "seed": seed}})


def child(recipe: str, epochs: int, seed: int, workdir: str) -> None:
    from trainer.reporter import ListReporter
    from trainer.run import train

    train(spec(recipe, epochs, seed), ListReporter(), workdir, tensorboard=False)


def killed_and_resumed(recipe: str, epochs: int, kill_after: int, seed: int, workdir: Path) -> dict:
    from trainer.checkpoint import checkpoint_path, read_resume_state
    from trainer.reporter import ListReporter
    from trainer.run import train

    latest = checkpoint_path(workdir, "latest")
    code = f"from benchmarks.resume import child; child({recipe!r}, {epochs}, {seed}, {str(workdir)!r})"
    process = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stderr=subprocess.DEVNULL)
    while True:
        state = read_resume_state(latest) if latest.exists() else None
        if state and state.completed_epochs >= kill_after:
            os.kill(process.pid, signal.SIGKILL)
            break
        if process.poll() is not None:
            raise RuntimeError("the child finished before it could be killed; use more epochs")
        time.sleep(0.02)
    process.wait()
    killed_at = read_resume_state(latest).completed_epochs
    reporter = ListReporter()
    result = train(spec(recipe, epochs, seed), reporter, workdir, tensorboard=False)
    return {"killed_after_epoch": killed_at, "epochs_reported_on_resume": [e["epoch"] for e in reporter.of_type("epoch")],
            "accuracy": result["test_metrics"]["accuracy"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipe", default="mlp")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--kill-after", type=int, default=3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()

    from trainer.reporter import ListReporter
    from trainer.run import train

    runs = []
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as whole_dir, tempfile.TemporaryDirectory() as killed_dir:
            whole = train(spec(args.recipe, args.epochs, seed), ListReporter(), whole_dir, tensorboard=False)
            killed = killed_and_resumed(args.recipe, args.epochs, args.kill_after, seed, Path(killed_dir))
        runs.append({"seed": seed, "uninterrupted_accuracy": whole["test_metrics"]["accuracy"],
                     "killed_and_resumed_accuracy": killed["accuracy"],
                     "killed_after_epoch": killed["killed_after_epoch"],
                     "epochs_reported_on_resume": killed["epochs_reported_on_resume"]})
    differences = [abs(r["killed_and_resumed_accuracy"] - r["uninterrupted_accuracy"]) for r in runs]
    print(json.dumps({
        "recipe": args.recipe, "dataset": "digits", "epochs": args.epochs, "runs": runs,
        "mean_uninterrupted_accuracy": statistics.mean(r["uninterrupted_accuracy"] for r in runs),
        "mean_killed_and_resumed_accuracy": statistics.mean(r["killed_and_resumed_accuracy"] for r in runs),
        "max_abs_difference": max(differences),
    }, indent=2))


if __name__ == "__main__":
    main()
