"""In-browser inference latency of the digits page, per model, variant and TF.js backend.

Starts the embedded playground (as the browser tests do), trains an MLP and a LeNet on digits,
then in headless Chromium times the page's own prediction path (`tryDigits.predictPixels`:
tensor in, predict, read back) on a fixed preprocessed digit, after a warm-up, for the float32,
float16 and uint8 exports. It also times the server's predict endpoint round trip. Prints JSON.

    .venv/bin/python benchmarks/browser_inference.py [--predictions 200]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.support.processes import free_port, manage, stack_env, start_web, stop, wait_for, web_is_up  # noqa: E402

JOBS = {
    "mlp": {"recipe": "mlp", "dataset": "digits", "hyperparameters": {"epochs": 20}},
    "lenet": {"recipe": "lenet", "dataset": "digits", "hyperparameters": {"epochs": 10}},
}
VARIANTS = ("float32", "float16", "uint8")

TIME_PREDICTIONS = """async ([variant, backend, pixels, warmup, n]) => {
    await tf.setBackend(backend);
    await tryDigits.loadVariant(variant);
    const input = Float32Array.from(pixels);
    for (let i = 0; i < warmup; i++) await tryDigits.predictPixels(input);
    const times = [];
    let probabilities;
    const start = performance.now();
    for (let i = 0; i < n; i++) {
        const result = await tryDigits.predictPixels(input);
        times.push(result.latencyMs);
        probabilities = result.probabilities;
    }
    const mean = (performance.now() - start) / n;
    times.sort((a, b) => a - b);
    // performance.now() is coarsened to 0.1 ms without cross-origin isolation; the mean over the
    // whole loop resolves finer.
    return { backend: tf.getBackend(), mean_ms: mean, median_ms: times[Math.floor(n / 2)], p90_ms: times[Math.floor(n * 0.9)],
             predicted: probabilities.indexOf(Math.max(...probabilities)) };
}"""


def train(base_url: str, token: str) -> dict[str, dict]:
    headers = {"Authorization": f"Token {token}"}
    jobs = {}
    for name, body in JOBS.items():
        response = requests.post(f"{base_url}/api/v1/jobs/", json=body, headers=headers, timeout=10)
        response.raise_for_status()
        jobs[name] = response.json()
    for name, job in jobs.items():
        while job["status"] not in ("succeeded", "failed", "cancelled"):
            time.sleep(0.5)
            job = requests.get(f"{base_url}/api/v1/jobs/{job['id']}/", headers=headers, timeout=10).json()
        if job["status"] != "succeeded":
            raise RuntimeError(f"{name} job {job['id']} {job['status']}: {job['error']}")
        jobs[name] = job
    return jobs


def server_round_trip(base_url: str, token: str, job_id: int, sample: list, n: int) -> dict:
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    url = f"{base_url}/api/v1/jobs/{job_id}/predict/"
    for _ in range(5):  # warm-up: the first one loads TensorFlow's model
        session.post(url, json={"inputs": sample}, timeout=60).raise_for_status()
    trips, model_ms = [], []
    for _ in range(n):
        start = time.perf_counter()
        response = session.post(url, json={"inputs": sample}, timeout=60)
        trips.append((time.perf_counter() - start) * 1000)
        model_ms.append(response.json()["latency_ms"])
    return {"round_trip_median_ms": round(statistics.median(trips), 3),
            "model_median_ms": round(statistics.median(model_ms), 3)}


def browser_latencies(base_url: str, password: str, jobs: dict, pixels: list[float], n: int) -> dict:
    from playwright.sync_api import sync_playwright

    results: dict = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(f"{base_url}/accounts/login/")
        page.fill("input[name=username]", "alice")
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base_url}/")
        for name, job in jobs.items():
            page.goto(f"{base_url}/try/digits/{job['id']}/")
            page.wait_for_selector("#pad[data-model=float32]", timeout=60_000)
            results[name] = {"page_backend": page.evaluate("tf.getBackend()"),
                             "page_backend_choice": page.get_attribute("#backend", "title")}
            for backend in ("webgl", "cpu"):
                results[name][backend] = {
                    variant: page.evaluate(TIME_PREDICTIONS, [variant, backend, pixels, 20, n])
                    for variant in VARIANTS
                }
        results["user_agent"] = page.evaluate("navigator.userAgent")
        browser.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--predictions", type=int, default=200)
    parser.add_argument("--server-requests", type=int, default=50)
    args = parser.parse_args()
    if CHROMIUM is None:
        sys.exit("Chromium is not installed (apt-get install chromium)")

    from trainer.datasets import load

    image = load("digits").x_test[0]  # (8, 8, 1), a fixed real digit
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        env = stack_env(f"sqlite:///{tmp / 'db.sqlite3'}", "", tmp)
        manage(env, "migrate", "--noinput")
        token = manage(env, "ensure_demo_user", "--username", "alice", "--password", "pw-alice")
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        web = start_web(env, port, tmp / "web.log")
        try:
            wait_for(lambda: web_is_up(base_url), 60, "embedded playground", tmp)
            jobs = train(base_url, token)
            browser = browser_latencies(base_url, "pw-alice", jobs, image.ravel().tolist(), args.predictions)
            server = {name: server_round_trip(base_url, token, job["id"], image[:, :, 0].tolist(), args.server_requests)
                      for name, job in jobs.items()}
        finally:
            stop([web])

    report = {
        "predictions_per_variant": args.predictions,
        "browser": {name: browser[name] for name in jobs},
        "server_predict": server,
        "test_accuracy": {name: {a["variant"]: a["accuracy"] for a in job["artifacts"]} for name, job in jobs.items()},
        "user_agent": browser["user_agent"],
        "chromium_args": CHROMIUM_ARGS,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
