"""BLEU of the seq2seq recipe on Multi30k test_2016_flickr after N epochs on this machine.

    python benchmarks/translation_bleu.py --data-dir DATA --epochs 8 --hp '{"attention": "bahdanau"}'

`--data-dir` must hold `multi30k_de_en/` (a link to ../shared/data/multi30k works). Prints JSON:
settings, minutes, the per-epoch curve (loss, val_loss, val token accuracy, val_bleu on the
sample) and the final test BLEU (greedy, full test set) plus each exported variant's BLEU.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import trainer  # noqa: E402,F401
from trainer.recipes.seq2seq import EXAMPLES, translate_with_export  # noqa: E402
from trainer.reporter import ListReporter  # noqa: E402
from trainer.run import train  # noqa: E402
from trainer.spec import validate_spec  # noqa: E402


class ProgressReporter(ListReporter):
    """Keeps the events and prints each epoch to stderr, so a long run shows its curve."""

    def on_event(self, type: str, data: dict) -> None:
        super().on_event(type, data)
        if type == "epoch":
            print(json.dumps({"epoch": data["epoch"], "seconds": round(data["duration_s"], 1),
                              **{k: round(v, 4) for k, v in data["logs"].items()}}), file=sys.stderr, flush=True)
        elif type == "sample":
            print(json.dumps(data["translations"][:2], ensure_ascii=False), file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--hp", default="{}", help="extra hyperparameters as JSON")
    args = parser.parse_args()
    hp = {"epochs": args.epochs, **json.loads(args.hp)}
    spec = validate_spec({"recipe": "seq2seq", "dataset": "multi30k_de_en", "hyperparameters": hp})
    reporter = ProgressReporter()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as workdir:
        result = train(spec, reporter, workdir, data_dir=args.data_dir)
        # The try page's examples, as POST /translate/ answers them from the exported files.
        examples = {text: {f"beam {width}": translate_with_export(workdir, text, width)["translation"]
                           for width in (1, 4)} for text in EXAMPLES}
    minutes = (time.perf_counter() - started) / 60
    epochs = [data for kind, data in reporter.events if kind == "epoch"]
    samples = [data for kind, data in reporter.events if kind == "sample"]
    print(json.dumps({
        "benchmark": "translation_bleu",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores (shared), no GPU",
        "settings": {**spec.hyperparameters, "dataset": "multi30k_de_en"},
        "epochs_run": result["epochs_run"],
        "minutes_total": round(minutes, 2),
        "minutes_training": round(result["fit_seconds"] / 60, 2),
        "curve": [{"epoch": e["epoch"], "seconds": round(e["duration_s"], 1),
                   **{k: round(v, 4) for k, v in e["logs"].items()}} for e in epochs],
        "test_2016_bleu_greedy": round(result["test_metrics"]["bleu"], 2),
        "test_token_accuracy": round(result["test_metrics"]["token_accuracy"], 4),
        "variants_bleu_first_100": {f"{a['model']} {a['variant']}": round(a["bleu"], 2)
                                    for a in result["artifacts"] if "bleu" in a},
        "examples": examples,
        "last_sample": samples[-1]["translations"][:3] if samples else [],
    }, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
