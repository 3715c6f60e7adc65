"""The job path (`trainer.run.train` + a reporter) against bare default `model.fit`.

Trains the same model on the same data with the same seed, optimizer, batch size and
validation for each recipe both ways, once per seed, alternating which goes first, and prints
JSON with, per recipe:

* `steady_state_samples_per_s`: training samples per second from the end of epoch 1 to the end
  of the last epoch (validation, checkpoints and events included), so the first epoch's
  tf.function tracing is left out; the job path's and bare fit's medians, and the median of
  the per-seed ratios (each pair ran back to back, which cancels a shared machine's drift);
* `steady_state_samples_per_cpu_s`: the same per CPU second of this process;
* `wall_s`: the whole job, from the call to its test accuracy: train() with evaluation but
  without export (TF.js conversion takes seconds and bare Keras has none), against
  building, compiling, fitting and predicting the test set by hand;
* `first_epoch_s`: from the call to the end of epoch 1 (building, tracing, epoch 1);
* `test_accuracy`: the final test accuracy both ways, mean and spread (max - min) over seeds,
  and the mean difference in points.

`warm_worker` times what a warm Celery worker does between taking a job and its first epoch
event, in-process (TensorFlow imported, an earlier job run): `train()` of the MLP on the
digits, with the events' timestamps splitting it into phases.

Data: the MNIST 10k test set from $PLAYGROUND_SHARED_DATA (or ../shared/data), split here
into 8,000 training and 2,000 test images.

    python benchmarks/overhead.py [--epochs 5] [--seeds 0 1 2] [--recipes mlp lenet]
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
from trainer.fitting import make_optimizer, split_validation  # noqa: E402
from trainer.recipes import RECIPES  # noqa: E402
from trainer.run import train  # noqa: E402
from trainer.spec import validate_spec  # noqa: E402

from _support import load_average, machine  # noqa: E402  (benchmarks/ is the script's folder)

# The targets for the steady-state ratio (job path / bare default fit).
TARGETS = {"mlp": 1.4, "lenet": 1.0}
ACCURACY_TOLERANCE_POINTS = 0.5


class JsonReporter:
    """Does what a real reporter costs in-process: serialises every event, polls a flag; and
    notes when each event came."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.bytes = 0
        self.events: list[tuple[float, str, dict]] = []
        self.epoch_cpu: list[float] = []  # this process's CPU seconds at each epoch event
        self.last_poll = 0.0

    def on_event(self, type: str, data: dict) -> None:
        self.events.append((time.perf_counter(), type, data))
        if type == "epoch":
            self.epoch_cpu.append(time.process_time())
        self.bytes += len(json.dumps({"type": type, "data": data}))

    def should_stop(self) -> bool:
        # Like the Django reporter: the real check runs at most twice a second.
        now = time.monotonic()
        if now - self.last_poll > 0.5:
            self.last_poll = now
        return False

    def times(self, type: str) -> list[float]:
        return [at for at, event_type, _ in self.events if event_type == type]


def mnist_test_set() -> Dataset:
    root = Path(os.environ.get("PLAYGROUND_SHARED_DATA", REPO.parent / "shared" / "data"))
    folder = root if (root / "t10k-images-idx3-ubyte.gz").exists() else root / "mnist"
    x = (read_idx(folder / "t10k-images-idx3-ubyte.gz").astype("float32") / 255.0)[..., None]
    y = read_idx(folder / "t10k-labels-idx1-ubyte.gz").astype("int64")
    return Dataset("mnist-10k", x[:8000], y[:8000], x[8000:], y[8000:], 10, (28, 28, 1),
                   [str(i) for i in range(10)])


def figures(started: float, epoch_ends: list[float], epoch_cpu: list[float], finished: float,
            samples: int, accuracy: float) -> dict[str, float]:
    def per_second(ends: list[float]) -> float:
        return samples * (len(ends) - 1) / (ends[-1] - ends[0]) if len(ends) > 1 else 0.0

    return {"steady": per_second(epoch_ends), "steady_cpu": per_second(epoch_cpu),
            "wall": finished - started, "first_epoch": epoch_ends[0] - started, "accuracy": accuracy}


def job_path(recipe: str, hp: dict, data: Dataset) -> dict[str, float]:
    spec = validate_spec({"recipe": recipe, "hyperparameters": hp})
    with tempfile.TemporaryDirectory() as workdir:
        reporter = JsonReporter()
        started = time.perf_counter()
        result = train(spec, reporter, workdir, dataset=data)
        finished = time.perf_counter()
    return figures(started, reporter.times("epoch"), reporter.epoch_cpu, finished,
                   training_samples(recipe, hp, data),
                   result["test_metrics"]["accuracy"])


def training_samples(recipe: str, hp: dict, data: Dataset) -> int:
    fraction = {**RECIPES[recipe].defaults(), **hp}["validation_split"]
    return len(split_validation(data.x_train, data.y_train, fraction, 0)[0])


def bare_fit(recipe: str, hp: dict, data: Dataset) -> dict[str, float]:
    import numpy as np
    import tf_keras as keras

    class EpochEnds(keras.callbacks.Callback):
        # Epoch hooks only: Keras skips the per-batch calls for a callback without batch hooks.
        def __init__(self) -> None:
            super().__init__()
            self.ends: list[float] = []
            self.cpu: list[float] = []

        def on_epoch_end(self, epoch, logs=None) -> None:
            self.ends.append(time.perf_counter())
            self.cpu.append(time.process_time())

    started = time.perf_counter()
    hp = {**RECIPES[recipe].defaults(), **hp}
    keras.utils.set_random_seed(hp["seed"])
    x_train, y_train, x_val, y_val = split_validation(
        data.x_train, data.y_train, hp["validation_split"], hp["seed"])
    model = RECIPES[recipe].build(hp, data.input_shape, data.num_classes)
    model.compile(make_optimizer(hp["optimizer"], hp["learning_rate"]),
                  "sparse_categorical_crossentropy", ["accuracy"])
    ends = EpochEnds()
    model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=hp["epochs"],
              batch_size=hp["batch_size"], shuffle=True, verbose=0, callbacks=[ends])
    predicted = model.predict(data.x_test, batch_size=256, verbose=0).argmax(axis=1)
    accuracy = float(np.mean(predicted == data.y_test))
    return figures(started, ends.ends, ends.cpu, time.perf_counter(), len(x_train), accuracy)


def summary(values: list[float], digits: int = 1) -> dict:
    return {"median": round(statistics.median(values), digits),
            "runs": [round(v, digits) for v in values]}


def compare(recipe: str, epochs: int, seeds: list[int], data: Dataset) -> dict:
    job, bare = [], []
    bare_fit(recipe, {"epochs": 1}, data)  # warm-up: first-use costs hit neither side
    for i, seed in enumerate(seeds):
        hp = {"epochs": epochs, "seed": seed}
        order = [(job_path, job), (bare_fit, bare)]
        for run, results in order if i % 2 == 0 else reversed(order):
            results.append(run(recipe, hp, data))

    def both(key: str, digits: int) -> dict:
        return {"job_path": summary([r[key] for r in job], digits),
                "bare": summary([r[key] for r in bare], digits)}

    ratio = statistics.median(j["steady"] / b["steady"] for j, b in zip(job, bare))
    accuracy = {}
    for name, runs in (("job_path", job), ("bare", bare)):
        values = [r["accuracy"] for r in runs]
        accuracy[name] = {"mean": round(statistics.mean(values), 4),
                          "spread": round(max(values) - min(values), 4),
                          "runs": [round(v, 4) for v in values]}
    difference = 100 * (accuracy["job_path"]["mean"] - accuracy["bare"]["mean"])
    return {
        "steady_state_samples_per_s": {**both("steady", 1), "ratio": round(ratio, 3),
                                       "ratio_target": TARGETS.get(recipe),
                                       "met": ratio >= TARGETS.get(recipe, 0)},
        # Samples per CPU second of this process: on a shared machine, less disturbed by
        # other processes than wall-clock time (TensorFlow's threads all count).
        "steady_state_samples_per_cpu_s": {
            **both("steady_cpu", 1),
            "ratio": round(statistics.median(j["steady_cpu"] / b["steady_cpu"] for j, b in zip(job, bare)), 3)},
        "wall_s": {**both("wall", 2),
                   "ratio": round(statistics.median(b["wall"] / j["wall"] for j, b in zip(job, bare)), 3)},
        "first_epoch_s": both("first_epoch", 2),
        "test_accuracy": {**accuracy, "difference_points": round(difference, 2),
                          "met": abs(difference) <= ACCURACY_TOLERANCE_POINTS},
    }


def warm_worker(runs: int) -> dict:
    """From calling train() to its first epoch event, MLP on the digits (the default hp but 2
    epochs), after one job already ran in this process; phases from the events' times."""
    spec = validate_spec({"recipe": "mlp", "dataset": "digits", "hyperparameters": {"epochs": 2}})
    phases: dict[str, list[float]] = {}
    for run in range(runs + 1):
        with tempfile.TemporaryDirectory() as workdir:
            reporter = JsonReporter()
            cpu = time.process_time()
            started = reporter.started = time.perf_counter()
            train(spec, reporter, workdir)
        if run == 0:
            continue  # the cold job: first imports, first graph of the process
        logs = reporter.times("log")
        marks = {
            # train() up to its first log: resume point, seeds, precision, strategy.
            "setup_s": logs[0],
            # the dataset loaded and split (digits: sklearn's copy, in memory after run 0).
            "data_s": logs[1],
            # building, compiling, preparing the functions, tracing, the first step.
            "first_step_s": reporter.times("batch")[0],
            "first_epoch_event_s": reporter.times("epoch")[0],
        }
        previous = started
        for name, at in marks.items():
            phases.setdefault(name, []).append(at - previous)
            previous = at
        phases.setdefault("total_s", []).append(marks["first_epoch_event_s"] - started)
        # This process's CPU seconds to the first epoch event: less disturbed by a busy machine.
        phases.setdefault("total_cpu_s", []).append(reporter.epoch_cpu[0] - cpu)
    return {name: summary(values, 3) for name, values in phases.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--recipes", nargs="*", default=["mlp", "lenet"])
    parser.add_argument("--warm-runs", type=int, default=5)
    args = parser.parse_args()

    # Export is outside the compared phases either way; skipping it only saves wall-clock time.
    trainer.export.export_model = lambda *args, **kwargs: []
    data = mnist_test_set()
    load_before = load_average()
    report = {recipe: compare(recipe, args.epochs, args.seeds, data) for recipe in args.recipes}
    report["warm_worker_mlp_digits"] = warm_worker(args.warm_runs)
    print(json.dumps({
        **report, "epochs": args.epochs, "seeds": args.seeds,
        "batch_size": {r: RECIPES[r].hyperparameters["batch_size"].default for r in args.recipes},
        "load_average": {"before": load_before, "after": load_average()}, "machine": machine(),
    }, indent=2))


if __name__ == "__main__":
    main()
