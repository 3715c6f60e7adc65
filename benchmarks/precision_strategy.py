"""Precision and strategy on this CPU machine: bfloat16 vs float32, mirrored vs default.

Trains LeNet through the job path (`trainer.run.train`) in one process, alternating the
configurations over `--repeats` rounds so machine noise hits them alike, and prints JSON:

    {"precision": {"float32": {...}, "mixed_bfloat16": {...}, "bf16_vs_f32_step_time": r},
     "strategy": {"default": {...}, "mirrored_2_cpus": {...}, "mirrored_vs_default": r}}

Each configuration reports the median samples/s and step time (ms per global batch) over the
fit phase (the first epoch, which traces the graph, is left out) and its test accuracy.
Mirrored runs on two logical CPU devices split from the one physical CPU (as in the tests):
they share its cores, so a gain comes from running two replicas' ops concurrently on the same
hardware (and the strategy's own overhead counts against it), not from more hardware. GPU figures
(float16, 1 vs all GPUs) need a GPU worker: run with the same flags there.

Data: the MNIST 10k test set from $PLAYGROUND_SHARED_DATA (or ../shared/data), 8,000 train /
2,000 test.

    python benchmarks/precision_strategy.py [--epochs 3] [--repeats 3] [--batch-size 128]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import trainer  # noqa: E402  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
import trainer.export  # noqa: E402
from benchmarks.overhead import mnist_test_set  # noqa: E402
from trainer.devices import configure_devices  # noqa: E402
from trainer.reporter import ListReporter  # noqa: E402
from trainer.run import train  # noqa: E402
from trainer.spec import validate_spec  # noqa: E402

CONFIGS = {  # name → (precision, strategy)
    "float32": ("float32", "default"),
    "mixed_bfloat16": ("mixed_bfloat16", "default"),
    "mirrored_2_cpus": ("float32", "mirrored:2"),
}


def run_once(precision: str, strategy: str, hp: dict, data) -> dict:
    spec = validate_spec({"recipe": "lenet", "precision": precision, "strategy": strategy,
                          "hyperparameters": hp})
    reporter = ListReporter()
    with tempfile.TemporaryDirectory() as workdir:
        result = train(spec, reporter, workdir, dataset=data, batch_interval=3600)
    # Epoch 1 includes tracing; later epochs are the steady state.
    steady = [event["samples_per_s"] for event in reporter.of_type("epoch")][1:]
    return {"samples_per_s": statistics.median(steady), "replicas": result["replicas"],
            "precision": result["precision"], "accuracy": result["test_metrics"]["accuracy"]}


def summarise(runs: list[dict], batch_size: int) -> dict:
    rate = statistics.median(run["samples_per_s"] for run in runs)
    return {"samples_per_s": round(rate, 1), "step_ms": round(1000 * batch_size / rate, 2),
            "test_accuracy": round(statistics.median(run["accuracy"] for run in runs), 4),
            "replicas": runs[0]["replicas"], "precision_used": runs[0]["precision"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()

    configure_devices(2)  # before anything initialises TensorFlow
    trainer.export.export_model = lambda *a, **k: []  # export is not what is measured
    data = mnist_test_set()
    hp = {"epochs": args.epochs, "batch_size": args.batch_size, "seed": 0}
    runs: dict[str, list[dict]] = {name: [] for name in CONFIGS}
    for round_ in range(args.repeats):
        names = list(CONFIGS) if round_ % 2 == 0 else list(reversed(CONFIGS))
        for name in names:
            runs[name].append(run_once(*CONFIGS[name], hp, data))

    figures = {name: summarise(found, args.batch_size) for name, found in runs.items()}
    print(json.dumps({
        "model": "lenet", "data": "mnist 8000 train", "batch_size (global)": args.batch_size,
        "epochs": args.epochs, "repeats": args.repeats,
        "precision": {
            "float32": figures["float32"], "mixed_bfloat16": figures["mixed_bfloat16"],
            "bf16_vs_f32_step_time": round(figures["mixed_bfloat16"]["step_ms"]
                                           / figures["float32"]["step_ms"], 2),
        },
        "strategy": {
            "default": figures["float32"], "mirrored_2_cpus": figures["mirrored_2_cpus"],
            "mirrored_vs_default_samples_per_s": round(
                figures["mirrored_2_cpus"]["samples_per_s"] / figures["float32"]["samples_per_s"], 2),
        },
    }, indent=1))


if __name__ == "__main__":
    main()
