"""Training in the browser (TF.js in headless Chromium) against tf_keras on a worker, per backend.

Starts the embedded playground (as the browser tests do) and, for `mlp` and `lenet` on digits
(with --mnist also on MNIST: the 10k test set split 8,000 train / 2,000 test, as
benchmarks/overhead.py does; ../shared/data has no 60k train files, so the site's processes get a
sitecustomize on their PYTHONPATH that reads the split from their data dir instead of MNIST's
checksummed download), submits one spec (same hyperparameters, same seed) with engine
"server", which the site's embedded worker trains with tf_keras, and with engine "browser" once
per TF.js backend, which the job page opened with `?backend=<name>` claims and trains. Per job:

* steady samples/s: the job's epoch events from epoch 2 on (their samples over their time;
  epoch 1 holds the warm-up and WebGL's shader compiles), and the ratio browser / server;
* the test accuracy (the server tests a browser job's weights as its own) and browser − server
  in points;
* the backend the page actually trained on (`window.playground.engine.backend`) and, where it
  could not train, its error: the wasm backend has no convolution gradients, so a forced
  `?backend=wasm` cannot train lenet (unforced, the page falls through to webgl: `--backends
  auto` opens the job page without ?backend).

lenet skips the cpu backend unless --lenet-cpu (~13 samples/s on digits here). A lenet browser
job with a --lenet-samples cap (default: none on digits, 640 on MNIST, where an epoch on WebGL
takes many minutes) is cancelled once that many samples of epoch 1 past its first reported
batch have trained; its steady samples/s then comes from its batch events (their running
`samples_per_s`) and it has no test accuracy.

Then "Train in my browser" on /play/mlp/ (digits, the default backend, after the play page
loaded, --click-repeats times in one fresh browser context: the first with a cold HTTP cache):
click → job page loaded (wall clock here) and, in the page, from its navigation start (the
form's POST) to its load event and to the first epoch drawn (`window.playground.epochPoints`).

Prints JSON; asserts nothing about timing. Digits with the defaults: a few minutes on 2 cores.

    .venv/bin/python benchmarks/browser_training.py [--mnist] [--mlp-epochs 5] [--lenet-epochs 2]
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import struct
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _support import load_average, machine  # noqa: E402
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, Site, log_in  # noqa: E402
from tests.support.processes import ROOT, free_port, manage, stack_env, start_web, stop, wait_for, web_is_up  # noqa: E402

BACKENDS = ("wasm", "webgl", "cpu")
FINISHED = ("succeeded", "failed", "cancelled")
ENGINE_DONE = "() => ['finished', 'failed', 'stopped'].includes(window.playground?.engine?.state)"
MNIST_TRAIN = 8000
DEFAULT_MNIST_LENET_SAMPLES = 640

# In the site's processes only (PYTHONPATH): MNIST without its checksummed 60k download, read
# from the IDX files this benchmark writes into the site's data dir (train: 8,000 test images,
# t10k: the other 2,000).
MNIST_HOOK = '''"""Written by benchmarks/browser_training.py for its private site: MNIST is the 8k/2k split
of the test set in PLAYGROUND_DATA_DIR/mnist/, with no files to download or verify."""
import dataclasses
import importlib.abc
import importlib.util
import sys


class _MnistSplit(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "trainer.datasets":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            info = module.DATASETS["mnist"]
            module.DATASETS["mnist"] = dataclasses.replace(info, files=(), train_samples=%d)

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, _MnistSplit())
''' % MNIST_TRAIN

# The first epoch drawn, in ms since the job page's navigation began, polled from page start
# (an init script: the click path's job page exists only after the form's navigation).
FIRST_EPOCH_PROBE = """(() => {
    if (!/^\\/jobs\\/\\d+\\/$/.test(location.pathname)) return;
    const check = () => {
        if (window.playground?.epochPoints?.length) window.__firstEpochMs = performance.now();
        else setTimeout(check, 10);
    };
    check();
})()"""

PAGE_TIMES = """() => {
    const nav = performance.getEntriesByType("navigation")[0];
    return { first_epoch_ms: window.__firstEpochMs, response_end_ms: nav.responseEnd,
             dom_content_loaded_ms: nav.domContentLoadedEventEnd, load_ms: nav.loadEventEnd,
             redirects: nav.redirectCount, engine: window.playground.engine };
}"""


# ---- the site --------------------------------------------------------------------------------

def write_idx(path: Path, array) -> None:
    """An unsigned-byte IDX file, gzipped (trainer.datasets.read_idx reads it)."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as out:
        out.write(header + array.astype("uint8").tobytes())


def shared_mnist() -> Path:
    root = Path(os.environ.get("PLAYGROUND_SHARED_DATA", ROOT.parent / "shared" / "data"))
    return root if (root / "t10k-images-idx3-ubyte.gz").exists() else root / "mnist"


def prepare_mnist(data_dir: Path, hooks: Path) -> None:
    """The 8k/2k split of the MNIST test set in the site's data dir, and the hook that reads it."""
    from trainer.datasets import read_idx

    source = shared_mnist()
    images, labels = read_idx(source / "t10k-images-idx3-ubyte.gz"), read_idx(source / "t10k-labels-idx1-ubyte.gz")
    folder = data_dir / "mnist"
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, part in (("train", slice(None, MNIST_TRAIN)), ("t10k", slice(MNIST_TRAIN, None))):
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images[part])
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels[part])
    hooks.mkdir(parents=True, exist_ok=True)
    (hooks / "sitecustomize.py").write_text(MNIST_HOOK)


def start_site(tmp: Path, mnist: bool):
    """The embedded playground (uvicorn + in-process worker, SQLite) and alice's token."""
    env = stack_env(f"sqlite:///{tmp / 'db.sqlite3'}", "", tmp)
    if mnist:
        prepare_mnist(tmp / "data", tmp / "hooks")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp / "hooks"), env.get("PYTHONPATH")]))
    manage(env, "migrate", "--noinput")
    token = manage(env, "ensure_demo_user", "--username", "alice", "--password", "pw-alice")
    port = free_port()
    site = Site(f"http://127.0.0.1:{port}", {"alice": token}, {"alice": "pw-alice"}, data_dir=tmp / "data")
    web = start_web(env, port, tmp / "web.log")
    wait_for(lambda: web_is_up(site.base_url), 60, "embedded playground", tmp)
    return site, web


# ---- the API ---------------------------------------------------------------------------------

def api(site: Site, method: str, path: str, **kwargs) -> requests.Response:
    response = requests.request(method, f"{site.base_url}{path}", headers={"Authorization": f"Token {site.tokens['alice']}"},
                                timeout=30, **kwargs)
    response.raise_for_status()
    return response


def submit(site: Site, spec: dict, engine: str) -> dict:
    return api(site, "POST", "/api/v1/jobs/", json={**spec, "engine": engine}).json()


def cancel(site: Site, job_id: int) -> None:
    """Cancels the job unless it finished meanwhile (409)."""
    response = requests.post(f"{site.base_url}/api/v1/jobs/{job_id}/cancel/",
                             headers={"Authorization": f"Token {site.tokens['alice']}"}, timeout=30)
    if response.status_code != 409:
        response.raise_for_status()


def job_of(site: Site, job_id: int) -> dict:
    return api(site, "GET", f"/api/v1/jobs/{job_id}/").json()


def wait_for_job(site: Site, job_id: int, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while (job := job_of(site, job_id))["status"] not in FINISHED:
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} still {job['status']} after {timeout} s")
        time.sleep(0.5)
    return job


def stored_events(site: Site, job_id: int, after: int = 0) -> list[dict]:
    events = []
    while True:
        page = api(site, "GET", f"/api/v1/jobs/{job_id}/events/?after={after}").json()
        events += page["results"]
        if not page["next"] or not page["results"]:
            return events
        after = events[-1]["seq"]


# ---- figures from events ---------------------------------------------------------------------

def epoch_speed(events: list[dict]) -> dict:
    """Steady samples/s: epochs 2.. together (their samples over their seconds)."""
    epochs = [e["data"] for e in events if e["type"] == "epoch"]
    later = [e for e in epochs if e["epoch"] >= 2]
    seconds = sum(e["duration_s"] for e in later)
    samples = sum(e["samples_per_s"] * e["duration_s"] for e in later)
    return {"method": "epoch events 2..", "steady_samples_per_s": round(samples / seconds, 1) if seconds else None,
            "epoch_samples_per_s": [round(e["samples_per_s"], 1) for e in epochs],
            "epoch_seconds": [round(e["duration_s"], 2) for e in epochs]}


def batch_speed(events: list[dict], batch_size: int) -> dict:
    """Steady samples/s within epoch 1 from its batch events: after the first reported batch
    (which holds the warm-up), up to the last full batch reported. A batch event's samples_per_s
    is samples seen / seconds since the epoch began, so each gives (samples, seconds)."""
    batches = [e["data"] for e in events if e["type"] == "batch" and e["data"]["epoch"] == 1
               and e["data"]["step"] < e["data"]["steps"]]
    points = [(b["step"] * batch_size, b["step"] * batch_size / b["samples_per_s"]) for b in batches]
    if len(points) < 2:
        return {"method": "epoch 1 batch events after the first", "steady_samples_per_s": None}
    (seen0, t0), (seen1, t1) = points[0], points[-1]
    return {"method": "epoch 1 batch events after the first", "steady_samples_per_s": round((seen1 - seen0) / (t1 - t0), 1),
            "samples_timed": seen1 - seen0, "seconds_timed": round(t1 - t0, 2), "first_batch_s": round(t0, 2)}


def accuracy(job: dict) -> float | None:
    return (job.get("test_metrics") or {}).get("accuracy")


# ---- training --------------------------------------------------------------------------------

def train_on_server(site: Site, spec: dict, timeout: float) -> dict:
    job = wait_for_job(site, submit(site, spec, "server")["id"], timeout)
    return {"job": job["id"], "status": job["status"], "error": job["error"] or None,
            **epoch_speed(stored_events(site, job["id"])), "test_accuracy": accuracy(job),
            "devices": (job.get("run_info") or {}).get("devices")}


def cap_reached(site: Site, job_id: int, batch_size: int, cap: int) -> bool:
    steps = [e["data"]["step"] for e in stored_events(site, job_id) if e["type"] == "batch" and e["data"]["epoch"] == 1]
    return len(steps) >= 2 and (steps[-1] - steps[0]) * batch_size >= cap


def wait_in_page(page, site: Site, job_id: int, batch_size: int, cap: int | None, timeout: float) -> bool:
    """Until the page's engine is done, or (with a cap) the cap is reached and the job cancelled;
    True when it was cut short."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(ENGINE_DONE):
        if time.monotonic() > deadline:
            raise TimeoutError(f"browser job {job_id} not done after {timeout} s")
        if cap and cap_reached(site, job_id, batch_size, cap):
            cancel(site, job_id)
            page.wait_for_function(ENGINE_DONE, polling=500, timeout=timeout * 1000)
            return True
        time.sleep(1)
    return False


def train_in_page(page, site: Site, spec: dict, backend: str, cap: int | None, timeout: float) -> dict:
    job_id = submit(site, spec, "browser")["id"]
    page.console_errors = []
    page.goto(f"{site.base_url}/jobs/{job_id}/" + ("" if backend == "auto" else f"?backend={backend}"))
    capped = wait_in_page(page, site, job_id, spec["hyperparameters"].get("batch_size", 32), cap, timeout)
    engine = page.evaluate("() => window.playground.engine")
    result = {"job": job_id, "backend_used": engine["backend"], "engine_state": engine["state"],
              "phases_ms": engine["times"]}
    if engine["state"] == "failed":
        # The protocol has no "failed" call: the job stays running until its heartbeat times out.
        cancel(site, job_id)
        return {**result, "error": engine["error"], "console_errors": page.console_errors[:3]}
    job = wait_for_job(site, job_id, timeout)
    events = stored_events(site, job_id)
    speed = batch_speed(events, spec["hyperparameters"].get("batch_size", 32)) if capped else epoch_speed(events)
    return {**result, "job_status": job["status"], "capped_at_samples": cap if capped else None, **speed,
            "test_accuracy": accuracy(job), "error": job["error"] or None, "console_errors": page.console_errors[:3]}


def versus_server(browser: dict, server: dict) -> dict:
    mine, theirs = browser.get("steady_samples_per_s"), server.get("steady_samples_per_s")
    acc, server_acc = browser.get("test_accuracy"), server.get("test_accuracy")
    both = acc is not None and server_acc is not None
    return {**browser,
            "ratio_to_server": round(mine / theirs, 3) if mine and theirs else None,
            "accuracy_minus_server_points": round((acc - server_acc) * 100, 2) if both else None}


def compare(page, site: Site, spec: dict, backends: list[str], cap: int | None, timeout: float) -> dict:
    """One spec on the server, then in the page on each backend, one at a time (2 cores)."""
    server = train_on_server(site, spec, timeout)
    browser = {}
    for backend in backends:
        browser[backend] = versus_server(train_in_page(page, site, spec, backend, cap, timeout), server)
    return {"hyperparameters": spec["hyperparameters"], "server_tf_keras": server, "browser": browser}


# ---- "Train in my browser" -------------------------------------------------------------------

def click_once(page, site: Site, query: str, timeout: float) -> dict:
    page.goto(f"{site.base_url}/play/mlp/?{query}")  # waits for the load event
    started = time.perf_counter()
    page.click("#train-browser")
    page.wait_for_url("**/jobs/*/", wait_until="load")
    loaded_s = time.perf_counter() - started
    job_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    page.wait_for_function("() => window.__firstEpochMs !== undefined", polling=100, timeout=timeout * 1000)
    times = page.evaluate(PAGE_TIMES)
    page.wait_for_function(ENGINE_DONE, polling=500, timeout=timeout * 1000)
    engine = page.evaluate("() => window.playground.engine")
    job = wait_for_job(site, job_id, timeout)
    return {
        "job": job_id, "backend_used": engine["backend"], "job_status": job["status"],
        "click_to_job_page_loaded_ms": round(loaded_s * 1000, 1),
        "navigation_start_to_load_ms": round(times["load_ms"], 1),
        "job_page_load_to_first_epoch_ms": round(times["first_epoch_ms"] - times["load_ms"], 1),
        "navigation_start_to_first_epoch_ms": round(times["first_epoch_ms"], 1),
        "phases_ms_since_navigation_start": engine["times"],
        "redirects": times["redirects"],
    }


def click_to_first_epoch(browser, site: Site, epochs: int, repeats: int, timeout: float) -> dict:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(FIRST_EPOCH_PROBE)
    try:
        page = context.new_page()
        log_in(page, site)
        runs = [click_once(page, site, f"dataset=digits&epochs={epochs}", timeout) for _ in range(repeats)]
    finally:
        context.close()
    return {"recipe": "mlp", "dataset": "digits", "epochs": epochs,
            "note": "play page loaded first; run 1 has a cold HTTP cache, later runs a warm one; "
                    "navigation start is the form's POST, right after the click",
            "runs": runs}


# ---- main ------------------------------------------------------------------------------------

def plan(args) -> list[tuple[str, str, dict, list[str], int | None]]:
    """(dataset, recipe, spec, backends, lenet cap) per comparison."""
    datasets = ([] if args.mnist_only else ["digits"]) + (["mnist"] if args.mnist or args.mnist_only else [])
    lenet_backends = [b for b in args.backends if b != "cpu" or args.lenet_cpu]
    runs = []
    for dataset in datasets:
        cap = args.lenet_samples
        if cap is None:
            cap = DEFAULT_MNIST_LENET_SAMPLES if dataset == "mnist" else None
        for recipe, epochs, backends, recipe_cap in (("mlp", args.mlp_epochs, args.backends, None),
                                                     ("lenet", args.lenet_epochs, lenet_backends, cap or None)):
            spec = {"recipe": recipe, "dataset": dataset,
                    "hyperparameters": {"epochs": epochs, "batch_size": args.batch_size, "seed": args.seed}}
            runs.append((dataset, recipe, spec, backends, recipe_cap))
    return runs


def run_all(site: Site, args) -> dict:
    from playwright.sync_api import sync_playwright

    results: dict = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.console_errors = []
            page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
            page.on("pageerror", lambda e: page.console_errors.append(str(e)))
            log_in(page, site)
            for dataset, recipe, spec, backends, cap in plan(args):
                print(f"{dataset} {recipe}: server, then {', '.join(backends)}", file=sys.stderr)
                results.setdefault(dataset, {})[recipe] = compare(page, site, spec, backends, cap, args.job_timeout)
            results["user_agent"] = page.evaluate("navigator.userAgent")
            context.close()
            print("click → first epoch", file=sys.stderr)
            results["click_to_first_epoch"] = click_to_first_epoch(browser, site, args.mlp_epochs, args.click_repeats,
                                                                   args.job_timeout)
        finally:
            browser.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", action="store_true", help="also MNIST (the 10k test set split 8k/2k)")
    parser.add_argument("--mnist-only", action="store_true", help="MNIST and not digits (the click figures stay on digits)")
    parser.add_argument("--mlp-epochs", type=int, default=5)
    parser.add_argument("--lenet-epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=[*BACKENDS, "auto"],
                        help="auto: no ?backend, the page's own choice (the fastest that trains the model)")
    parser.add_argument("--lenet-cpu", action="store_true", help="also lenet on TF.js' cpu backend (slow)")
    parser.add_argument("--lenet-samples", type=int, default=None,
                        help=f"cut lenet browser jobs short after this many samples (0: never; default: digits never, "
                             f"MNIST {DEFAULT_MNIST_LENET_SAMPLES})")
    parser.add_argument("--click-repeats", type=int, default=2)
    parser.add_argument("--job-timeout", type=float, default=900)
    args = parser.parse_args()
    if CHROMIUM is None:
        sys.exit("Chromium is not installed (apt-get install chromium)")

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        site, web = start_site(tmp, args.mnist or args.mnist_only)
        try:
            results = run_all(site, args)
        except BaseException:
            print(f"--- web.log\n{(tmp / 'web.log').read_text()[-4000:]}", file=sys.stderr)
            raise
        finally:
            stop([web])

    report = {
        "settings": {
            "steady": "samples/s of epochs 2.. (epoch events, as each engine reports them: samples / epoch seconds, "
                      "validation included); a capped job: within epoch 1 after its first reported batch",
            "batch_size": args.batch_size, "seed": args.seed,
            "mlp_epochs": args.mlp_epochs, "lenet_epochs": args.lenet_epochs,
            "backends": args.backends,
            "lenet_backends": [b for b in args.backends if b != "cpu" or args.lenet_cpu],
            "lenet_cpu_skipped": "cpu" in args.backends and not args.lenet_cpu,
            "lenet_samples_cap": {dataset: cap for dataset, recipe, _, _, cap in plan(args) if recipe == "lenet"},
            "mnist": "10k test set: first 8,000 train (validation split from them), last 2,000 test"
                     if args.mnist or args.mnist_only else None,
        },
        **results,
        "seconds": round(time.perf_counter() - started, 1),
        "load_average": load_average(),
        "machine": machine(),
        "chromium_args": CHROMIUM_ARGS,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
