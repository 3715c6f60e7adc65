"""Throughput of the job path (`trainer.run.train` + a reporter) against bare `model.fit`.

Trains the same model on the same data with the same seed, optimizer, batch size and
validation for each recipe, both ways, alternating which goes first, and prints JSON:
{"<recipe>": {"job_path_samples_per_s", "bare_samples_per_s", "ratio"}, ...}.
Only the fit phase is timed (train() reports it as fit_seconds); evaluation and export are not.

Data: the MNIST 10k test set from $PLAYGROUND_SHARED_DATA (or ../shared/data), split here
into 8,000 training and 2,000 test images.

    python benchmarks/overhead.py [--epochs 3] [--repeats 5] [--recipes mlp lenet]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import trainer  # noqa: E402  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
import trainer.export  # noqa: E402
from trainer.datasets import Dataset, read_idx  # noqa: E402
from trainer.recipes import RECIPES  # noqa: E402
from trainer.fitting import make_optimizer, split_validation  # noqa: E402
from trainer.run import train  # noqa: E402
from trainer.spec import validate_spec  # noqa: E402


class JsonReporter:
    """Does what a real reporter costs in-process: serialises every event, polls a flag."""

    def __init__(self) -> None:
        self.bytes = 0
        self.events = 0
        self.last_poll = 0.0

    def on_event(self, type: str, data: dict) -> None:
        self.bytes += len(json.dumps({"type": type, "data": data}))
        self.events += 1

    def should_stop(self) -> bool:
        # Like the Django reporter: the real check runs at most twice a second.
        now = time.monotonic()
        if now - self.last_poll > 0.5:
            self.last_poll = now
        return False


def mnist_test_set() -> Dataset:
    root = Path(os.environ.get("PLAYGROUND_SHARED_DATA", REPO.parent / "shared" / "data"))
    folder = root if (root / "t10k-images-idx3-ubyte.gz").exists() else root / "mnist"
    x = (read_idx(folder / "t10k-images-idx3-ubyte.gz").astype("float32") / 255.0)[..., None]
    y = read_idx(folder / "t10k-labels-idx1-ubyte.gz").astype("int64")
    return Dataset("mnist-10k", x[:8000], y[:8000], x[8000:], y[8000:], 10, (28, 28, 1),
                   [str(i) for i in range(10)])


def job_path(recipe: str, hp: dict, data: Dataset) -> float:
    spec = validate_spec({"recipe": recipe, "hyperparameters": hp})
    with tempfile.TemporaryDirectory() as workdir:
        result = train(spec, JsonReporter(), workdir, dataset=data)
    return result["samples_per_s"]


def bare_fit(recipe: str, hp: dict, data: Dataset) -> float:
    import tf_keras as keras

    hp = {**RECIPES[recipe].defaults(), **hp}
    keras.utils.set_random_seed(hp["seed"])
    x_train, y_train, x_val, y_val = split_validation(
        data.x_train, data.y_train, hp["validation_split"], hp["seed"])
    model = RECIPES[recipe].build(hp, data.input_shape, data.num_classes)
    model.compile(make_optimizer(hp["optimizer"], hp["learning_rate"]),
                  "sparse_categorical_crossentropy", ["accuracy"])
    started = time.perf_counter()
    model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=hp["epochs"],
              batch_size=hp["batch_size"], shuffle=True, verbose=0)
    return len(x_train) * hp["epochs"] / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--recipes", nargs="+", default=["mlp", "lenet"])
    args = parser.parse_args()

    # Export is outside the timed phase either way; skipping it only saves wall-clock time.
    trainer.export.export_model = lambda *args, **kwargs: []
    data = mnist_test_set()
    figures = {}
    for recipe in args.recipes:
        hp = {"epochs": args.epochs}
        job, bare = [], []
        bare_fit(recipe, {**hp, "epochs": 1}, data)  # warm-up: first-use costs hit neither side
        for repeat in range(args.repeats):
            order = [(job_path, job), (bare_fit, bare)]
            for run, samples in order if repeat % 2 == 0 else reversed(order):
                samples.append(run(recipe, hp, data))
        # Each pair runs back to back, so the median of per-pair ratios cancels slow drift
        # of a shared machine; the best runs show the least-disturbed figures.
        figures[recipe] = {
            "job_path_samples_per_s": round(statistics.median(job), 1),
            "bare_samples_per_s": round(statistics.median(bare), 1),
            "ratio": round(statistics.median(j / b for j, b in zip(job, bare)), 3),
            "ratio_of_best": round(max(job) / max(bare), 3),
            "runs": {"job_path": [round(v, 1) for v in job], "bare": [round(v, 1) for v in bare]},
        }
    print(json.dumps({**figures, "epochs": args.epochs, "repeats": args.repeats,
                      "batch_size": {r: RECIPES[r].hyperparameters["batch_size"].default
                                     for r in args.recipes}}, indent=2))


if __name__ == "__main__":
    main()
