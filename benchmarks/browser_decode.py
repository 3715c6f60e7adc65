"""Greedy decode speed of the seq2seq TF.js models in Chromium: ms per token.

    python benchmarks/browser_decode.py [--units 128] [--runs 5]

Builds encoder and decoder for each attention at the recipe's default sizes (weights do not
change the speed; every decode runs the full max_steps without stopping at </s>), exports them
float32 and uint8 like a job does, serves them on loopback and times
static/js/seq2seq_decode.js — the page's own loop — in headless Chromium on the cpu and webgl
backends. Prints JSON.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import shutil
import sys
import tempfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import trainer  # noqa: E402,F401
from trainer.recipes import RECIPES  # noqa: E402
from trainer.recipes.seq2seq import build_models  # noqa: E402

PAGE = """<!doctype html><meta charset="utf-8"><script src="/static/vendor/tf.es2017.min.js"></script>
<script type="module">
import { greedyDecode } from "/static/js/seq2seq_decode.js";
window.measure = async (backend, folder, length, steps, runs) => {
  if (!(await tf.setBackend(backend))) return null;
  const encoder = await tf.loadLayersModel(`/models/${folder}/encoder/model.json`);
  const decoder = await tf.loadLayersModel(`/models/${folder}/decoder/model.json`);
  const row = Array.from({ length }, (_, i) => 4 + (i % 50));
  await greedyDecode(encoder, decoder, row, steps, { stopAtEos: false });  // warm-up: kernels
  const perToken = [];
  for (let i = 0; i < runs; i++) {
    perToken.push((await greedyDecode(encoder, decoder, row, steps, { stopAtEos: false })).msPerToken);
  }
  encoder.dispose(); decoder.dispose();
  perToken.sort((a, b) => a - b);
  return perToken[Math.floor(perToken.length / 2)];
};
window.ready = true;
</script>"""


def export(folder: Path, hp: dict) -> None:
    from tensorflowjs import converters

    models = build_models(hp, hp["vocab_size"], hp["vocab_size"])
    for variant, quantization in (("float32", None), ("uint8", {"uint8": "*"})):
        for name, model in (("encoder", models.encoder), ("decoder", models.decoder)):
            converters.save_keras_model(model, str(folder / f"{hp['attention']}-{variant}" / name),
                                        quantization_dtype_map=quantization)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=None)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    hp = RECIPES["seq2seq"].defaults()
    if args.units:
        hp["units"] = args.units
    # The vocabulary a full Multi30k job ends up with at vocab_size 8000 (both languages reach it).
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "static").symlink_to(ROOT / "static")
        (root / "bench.html").write_text(PAGE)
        for attention in ("none", "luong", "bahdanau"):
            export(root / "models", {**hp, "attention": attention})
        handler = functools.partial(_Quiet, directory=str(root))
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            results = _measure(f"http://127.0.0.1:{server.server_address[1]}/bench.html", hp, args.runs)
        finally:
            server.shutdown()
    print(json.dumps({
        "benchmark": "browser_decode",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores (shared), headless Chromium, no GPU",
        "settings": {k: hp[k] for k in ("units", "layers", "embedding_size", "max_length", "vocab_size")},
        "steps_per_decode": hp["max_length"] + 1,
        "ms_per_token_median": results,
    }, indent=1))


def _measure(url: str, hp: dict, runs: int) -> dict:
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

    results = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM or shutil.which("chromium"),
                                             args=CHROMIUM_ARGS)
        for backend in ("cpu", "webgl"):
            for attention in ("none", "luong", "bahdanau"):
                for variant in ("float32", "uint8"):
                    page = browser.new_page()  # one backend per page: no state carried over
                    page.goto(url)
                    page.wait_for_function("window.ready === true")
                    ms = page.evaluate("([b, f, l, s, r]) => window.measure(b, f, l, s, r)",
                                       [backend, f"{attention}-{variant}", hp["max_length"],
                                        hp["max_length"] + 1, runs])
                    results[f"{backend} {attention} {variant}"] = None if ms is None else round(ms, 2)
                    page.close()
        browser.close()
    return results


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


if __name__ == "__main__":
    main()
