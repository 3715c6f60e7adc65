"""The dcgan recipe's quality figure per epoch, through the real job path (`trainer.run.train`).

Trains `dcgan` on a dataset and prints JSON: the judge's test accuracy, per epoch the judge's
mean confidence and class diversity of 500 generated images with d_loss, g_loss, D(x), D(G(z)),
D(x) on held-out real images,
the film's PNG size, fit time, and per export variant its size and quantization error.

    python benchmarks/gan_quality.py [--dataset digits] [--epochs 20] [key=value ...]
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import trainer  # noqa: E402,F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from trainer.reporter import ListReporter  # noqa: E402
from trainer.run import train  # noqa: E402
from trainer.spec import validate_spec  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--data-dir", default=None, help="dataset cache (default: the trainer's)")
    parser.add_argument("--frames", default=None, help="also save each epoch's grid PNG in this folder")
    parser.add_argument("overrides", nargs="*", help="hyperparameters as key=value (numbers)")
    args = parser.parse_args()
    hyperparameters = {"epochs": args.epochs}
    for item in args.overrides:
        key, value = item.split("=", 1)
        hyperparameters[key] = float(value) if "." in value or "e" in value else int(value)
    spec = validate_spec({"recipe": "dcgan", "dataset": args.dataset,
                          "hyperparameters": hyperparameters})
    reporter = ListReporter()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as workdir:
        result = train(spec, reporter, workdir, data_dir=args.data_dir)
    if args.frames:
        Path(args.frames).mkdir(parents=True, exist_ok=True)
        for sample in reporter.of_type("sample"):
            png = base64.b64decode(sample["image"].split(",", 1)[1])
            (Path(args.frames) / f"epoch_{sample['epoch']:03d}.png").write_bytes(png)
    logs = [event["logs"] for event in reporter.of_type("epoch")]
    samples = reporter.of_type("sample")
    print(json.dumps({
        "dataset": args.dataset,
        "hyperparameters": spec.hyperparameters,
        "judge_accuracy": round(result["test_metrics"]["judge_accuracy"], 4),
        "real_confidence": round(result["test_metrics"]["real_confidence"], 4),
        "per_epoch": [
            {"epoch": i, **{k: round(log[k], 4) for k in ("confidence", "diversity", "distinct_classes",
                                                        "quality_loss", "d_loss", "g_loss", "d_real",
                                                        "d_fake", "val_d_real")},
             "png_bytes": len(sample["image"]) * 3 // 4}
            for i, (log, sample) in enumerate(zip(logs, samples), start=1)
        ],
        "fit_seconds": round(result["fit_seconds"], 2),
        "total_seconds": round(time.perf_counter() - started, 2),
        "exports": {f"{a['kind']}/{a['variant']}": {k: round(a[k], 4) if isinstance(a[k], float) else a[k]
                                                     for k in ("bytes", "confidence", "diversity", "max_abs_diff")
                                                     if k in a}
                    for a in result["artifacts"]},
    }, indent=1))


if __name__ == "__main__":
    main()
