"""Fine-tuning vs training from scratch on the offline digits demo, and TensorBoard's cost.

1. LeNet pretrained on digits 0-4 (`digits_0_4`), then trained on 5-9 (`digits_5_9`) with the
   same small budget two ways: fine-tuned from the pretrained checkpoint with every layer but
   the last frozen, and from scratch. Test accuracy on the 5-9 test set, per budget and seed.
2. TensorBoard epoch logs (`train(..., tensorboard=True)`, the default) vs none: fit seconds of
   the same LeNet run, alternating order.

Export is skipped (it is not what is compared). Prints JSON.

    python benchmarks/finetune.py [--seeds 0 1 2] [--budgets 50 200 all] [--epochs 5]
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

import trainer  # noqa: E402,F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
import trainer.export  # noqa: E402
from trainer import datasets  # noqa: E402
from trainer.checkpoint import checkpoint_path  # noqa: E402
from trainer.reporter import ListReporter  # noqa: E402
from trainer.run import train  # noqa: E402
from trainer.spec import validate_spec  # noqa: E402

trainer.export.export_model = lambda *args, **kwargs: []


def spec(dataset: str, **hp):
    return validate_spec({"recipe": "lenet", "dataset": dataset, "hyperparameters": hp})


def first(data: datasets.Dataset, n: int | None) -> datasets.Dataset:
    if n is None:
        return data
    return datasets.Dataset(data.name, data.x_train[:n], data.y_train[:n], data.x_test, data.y_test,
                            data.num_classes, data.input_shape, data.class_names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--budgets", nargs="+", default=["50", "200", "all"])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--pretrain-epochs", type=int, default=15)
    parser.add_argument("--tensorboard-repeats", type=int, default=3)
    parser.add_argument("--finetune-lr", type=float, default=0.003,
                        help="learning rate of the fine-tuned runs (only the last layer trains)")
    args = parser.parse_args()
    high = datasets.load("digits_5_9")
    out: dict = {"finetune": {}, "setup": {
        "pretrain": f"lenet on digits_0_4, {args.pretrain_epochs} epochs, adam lr 0.003",
        "target": f"digits_5_9, {args.epochs} epochs, adam lr 0.003 (fine-tuned: {args.finetune_lr}), first N training samples, "
                  f"test set of {len(high.x_test)} images",
    }}
    with tempfile.TemporaryDirectory() as tmp:
        pretrained = Path(tmp) / "pretrained"
        result = train(spec("digits_0_4", epochs=args.pretrain_epochs, learning_rate=0.003),
                       ListReporter(), pretrained, tensorboard=False)
        out["pretrain_accuracy_0_4"] = result["test_metrics"]["accuracy"]
        weights = checkpoint_path(pretrained, "best")
        for budget in args.budgets:
            n = None if budget == "all" else int(budget)
            rows = {"fine_tuned": [], "from_scratch": []}
            for seed in args.seeds:
                hp = {"epochs": args.epochs, "learning_rate": 0.003, "seed": seed, "patience": 0,
                      "batch_size": 16}
                for name, kwargs in (("fine_tuned", {"initial_weights": weights, "freeze": "all_but_last"}),
                                     ("from_scratch", {})):
                    lr = args.finetune_lr if name == "fine_tuned" else hp["learning_rate"]
                    run = train(spec("digits_5_9", **{**hp, "learning_rate": lr}), ListReporter(), Path(tmp) / f"{budget}-{seed}-{name}",
                                dataset=first(high, n), tensorboard=False, **kwargs)
                    rows[name].append(run["test_metrics"]["accuracy"])
            out["finetune"][f"{budget} samples"] = {
                name: {"mean_accuracy": statistics.mean(values), "runs": values} for name, values in rows.items()}

        timings = {True: [], False: []}
        for repeat in range(args.tensorboard_repeats):
            for tensorboard in ((True, False) if repeat % 2 == 0 else (False, True)):
                run = train(spec("digits", epochs=args.epochs, batch_size=32), ListReporter(),
                            Path(tmp) / f"tb-{repeat}-{tensorboard}", tensorboard=tensorboard)
                timings[tensorboard].append(run["fit_seconds"])
        with_tb, without = statistics.median(timings[True]), statistics.median(timings[False])
        out["tensorboard"] = {"fit_seconds_with": with_tb, "fit_seconds_without": without,
                              "overhead_percent": 100 * (with_tb - without) / without,
                              "runs": {"with": timings[True], "without": timings[False]}}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
