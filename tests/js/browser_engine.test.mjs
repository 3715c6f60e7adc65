// node --test tests/js/: the browser engine's parts without a browser: the seeded shuffle, the
// batch throttle, the event outbox, the API client's errors, and fitModel on TF.js' cpu backend
// (early stopping, restored weights, Keras' log names, the same run for the same seed).
import assert from "node:assert/strict";
import { before, test } from "node:test";

import * as tf from "@tensorflow/tfjs";

import {
  Outbox, ServerError, batchThrottle, browserApi, fitModel, kerasName, makeOptimizer, mulberry32, permutation,
} from "../../static/js/browser_engine.js";

before(async () => {
  globalThis.tf = tf;
  await tf.setBackend("cpu");
});

test("the same seed shuffles the same way, another seed another way", () => {
  const first = permutation(100, mulberry32(42));
  const again = permutation(100, mulberry32(42));
  const other = permutation(100, mulberry32(43));

  assert.deepEqual(first, again);
  assert.notDeepEqual(first, other);
  assert.deepEqual([...first].sort((a, b) => a - b), [...Array(100).keys()]);
});

test("consecutive epochs of one run get different orders", () => {
  const random = mulberry32(7);

  assert.notDeepEqual(permutation(50, random), permutation(50, random));
});

test("the PRNG's draws are in [0, 1) and spread over it", () => {
  const random = mulberry32(0);
  const draws = Array.from({ length: 10_000 }, random);

  assert.ok(draws.every((v) => v >= 0 && v < 1));
  assert.ok(Math.abs(draws.reduce((a, b) => a + b) / draws.length - 0.5) < 0.02);
});

test("the throttle reports an epoch's first batch, then one per interval, and always the last", () => {
  let now = 0;
  const throttle = batchThrottle(0.25, () => now);
  const reported = [];

  throttle.start();
  for (let step = 1; step <= 10; step++) {
    now = step * 100; // a batch every 100 ms
    if (throttle.due(step, 10)) reported.push(step);
  }
  throttle.start();
  now += 10;
  const nextEpochFirst = throttle.due(1, 10);

  assert.deepEqual(reported, [1, 4, 7, 10]);
  assert.equal(nextEpochFirst, true);
});

const event = (i) => ({ type: "batch", data: { step: i } });

function fakeServer() {
  const calls = [];
  const send = (events) => new Promise((resolve, reject) => calls.push({ events, resolve, reject }));
  return { calls, send };
}

test("the outbox sends one POST at a time and what came meanwhile together, in order", async () => {
  const server = fakeServer();
  const outbox = new Outbox(server.send);

  outbox.push(event(1));
  outbox.push(event(2));
  outbox.push(event(3));
  assert.equal(server.calls.length, 1);
  server.calls[0].resolve({ cancel: false });
  await new Promise((resolve) => setImmediate(resolve));

  assert.equal(server.calls.length, 2);
  assert.deepEqual(server.calls.map((c) => c.events.map((e) => e.data.step)), [[1], [2, 3]]);
});

test("the outbox puts at most 50 events or about 60 KiB in one POST", async () => {
  const server = fakeServer();
  const outbox = new Outbox(server.send);
  outbox.push(event(0));
  for (let i = 1; i <= 120; i++) outbox.push(event(i));
  const big = { type: "log", data: { message: "x".repeat(40_000) } };

  for (let i = 0; i < 3; i++) {
    server.calls.at(-1).resolve({});
    await new Promise((resolve) => setImmediate(resolve));
  }
  outbox.push(big);
  outbox.push(big);
  server.calls.at(-1).resolve({});
  await new Promise((resolve) => setImmediate(resolve));

  assert.deepEqual(server.calls.slice(0, 4).map((c) => c.events.length), [1, 50, 50, 20]);
  assert.deepEqual(server.calls.slice(4).map((c) => c.events.length), [1]);
});

test("drain waits for everything pushed, and a cancel answer reaches onAnswer", async () => {
  const server = fakeServer();
  const answers = [];
  const outbox = new Outbox(server.send, { onAnswer: (a) => answers.push(a) });
  outbox.push(event(1));
  outbox.push(event(2));
  let drained = false;
  const done = outbox.drain().then(() => { drained = true; });

  server.calls[0].resolve({ cancel: false });
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(drained, false);
  server.calls[1].resolve({ cancel: true });
  await done;

  assert.deepEqual(answers, [{ cancel: false }, { cancel: true }]);
});

test("a failed POST stops the outbox and drain and push say why", async () => {
  const server = fakeServer();
  const outbox = new Outbox(server.send);
  outbox.push(event(1));
  outbox.push(event(2));
  const drained = outbox.drain();

  server.calls[0].reject(new ServerError("Sending events: events[0].data.logs.loss: must be finite (400)", 400));

  await assert.rejects(drained, /must be finite \(400\)/);
  assert.throws(() => outbox.push(event(3)), /must be finite/);
  assert.equal(server.calls.length, 1);
});

test("the outbox sends an empty heartbeat only after heartbeatMs without a POST", async () => {
  const server = fakeServer();
  let now = 0;
  const outbox = new Outbox(server.send, { heartbeatMs: 5000, now: () => now });

  now = 4000;
  outbox.beat();
  outbox.push(event(1));
  now = 8000;
  outbox.beat(); // one in flight
  server.calls[0].resolve({});
  await new Promise((resolve) => setImmediate(resolve));
  outbox.beat(); // 4 s after it
  now = 9000;
  outbox.beat();

  assert.deepEqual(server.calls.map((c) => c.events.length), [1, 0]);
});

test("TF.js' log names become Keras'", () => {
  assert.deepEqual(["loss", "acc", "val_loss", "val_acc", "accuracy"].map(kerasName),
    ["loss", "accuracy", "val_loss", "val_accuracy", "accuracy"]);
});

function fakeFetch(answers) {
  const requests = [];
  const fetch = async (url, init) => {
    requests.push({ url, ...init });
    const { status = 200, body = {} } = answers.shift();
    return new Response(typeof body === "string" ? body : JSON.stringify(body),
      { status, headers: { "Content-Type": typeof body === "string" ? "text/html" : "application/json" } });
  };
  return { fetch, requests };
}

test("the API sends the lease from claim on every later call, with the CSRF token", async () => {
  const server = fakeFetch([{ body: { lease: "L-1", training: {} } }, { body: { cancel: false, last_epoch: 0 } }]);
  const api = browserApi(7, "csrf-1", { fetch: server.fetch });

  await api.claim();
  await api.events([event(1)]);

  const [claim, events] = server.requests;
  assert.equal(claim.url, "/api/v1/jobs/7/browser/claim/");
  assert.equal(claim.headers["X-Browser-Lease"], undefined);
  assert.equal(events.url, "/api/v1/jobs/7/browser/events/");
  assert.equal(events.headers["X-Browser-Lease"], "L-1");
  assert.equal(events.headers["X-CSRFToken"], "csrf-1");
  assert.deepEqual(JSON.parse(events.body), { events: [event(1)] });
});

test("a refusal carries the server's detail, field errors or status", async () => {
  const server = fakeFetch([
    { status: 409, body: { detail: "This job is not a queued browser job." } },
    { status: 400, body: { events: { 2: ["batch event: epoch is missing."] } } },
    { status: 502, body: "<html>Bad gateway</html>" },
  ]);
  const api = browserApi(7, "csrf", { fetch: server.fetch });

  await assert.rejects(api.claim(), (e) => e.status === 409 && e.message === "Claiming the job: This job is not a queued browser job. (409)");
  await assert.rejects(api.events([]), (e) => e.message === "Sending events: events.2: batch event: epoch is missing. (400)");
  await assert.rejects(api.stopped(), (e) => e.status === 502 && /Reporting the stop: 502/.test(e.message));
});

test("an unreachable server is an error that says so", async () => {
  const api = browserApi(7, "csrf", { fetch: async () => { throw new TypeError("Failed to fetch"); } });

  await assert.rejects(api.claim(), (e) => e.status === 0 && /could not be reached \(Failed to fetch\)/.test(e.message));
});

// ---- fitModel on TF.js' cpu backend ------------------------------------------------------------

// Four features → three classes; training says class 0, validation says class 1, so val_loss
// rises every epoch and the best epoch is the first.
function tinyJob() {
  const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 3, activation: "softmax", kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) })] });
  model.compile({ optimizer: makeOptimizer("sgd", 0.5), loss: "sparseCategoricalCrossentropy", metrics: ["accuracy"] });
  const random = mulberry32(3);
  const x = (n) => tf.tensor(Array.from({ length: n * 4 }, random), [n, 4]);
  const data = { train: { x: x(40), y: tf.zeros([40, 1]) }, validation: { x: x(10), y: tf.ones([10, 1]) } };
  return { model, data };
}

const TRAINING = { batch_size: 8, epochs: 4, patience: 0, seed: 5, batch_interval_s: 0, heartbeat_s: 5 };

async function fit(training, options) {
  const { model, data } = tinyJob();
  const seen = { batches: [], epochs: [], logs: [], weights: new Map() };
  const result = await fitModel(model, data, training, {
    shouldStop: () => false,
    batch: (b) => seen.batches.push(b),
    epoch: async (e) => {
      seen.epochs.push(e);
      seen.weights.set(e.epoch, model.getWeights().map((w) => Array.from(w.dataSync())));
    },
    log: (m) => seen.logs.push(m),
  }, options);
  return { ...seen, result, final: model.getWeights().map((w) => Array.from(w.dataSync())) };
}

test("fitModel reports every batch and epoch with Keras' names and a worker's fields", async () => {
  const run = await fit(TRAINING);

  assert.deepEqual(run.epochs.map((e) => e.epoch), [1, 2, 3, 4]);
  assert.deepEqual(Object.keys(run.epochs[0]).sort(), ["best_epoch", "duration_s", "epoch", "epochs", "logs", "samples_per_s"]);
  assert.deepEqual(Object.keys(run.epochs[0].logs).sort(), ["accuracy", "loss", "val_accuracy", "val_loss"]);
  assert.equal(run.batches.length, 4 * 5); // 40 samples / 8, interval 0
  assert.deepEqual(Object.keys(run.batches[0]).sort(), ["epoch", "epochs", "logs", "samples_per_s", "step", "steps"]);
  assert.deepEqual([run.batches[4].step, run.batches[4].steps], [5, 5]);
  assert.ok(run.epochs.every((e) => e.logs.val_loss > 0 && e.best_epoch === 1));
  // Keras' batch logs are the epoch's running means; the last one is the epoch's.
  assert.ok(Math.abs(run.batches[4].logs.loss - run.epochs[0].logs.loss) < 1e-5);
});

test("with patience 0 it trains every epoch and keeps the last weights", async () => {
  const run = await fit(TRAINING);

  assert.equal(run.result.epoch, 4);
  assert.deepEqual(run.final, run.weights.get(4));
  assert.notDeepEqual(run.final, run.weights.get(1));
  assert.deepEqual(run.logs, []);
});

test("with patience it stops early and restores the best epoch's weights", async () => {
  const run = await fit({ ...TRAINING, patience: 2 });

  assert.deepEqual(run.epochs.map((e) => e.epoch), [1, 2, 3]);
  assert.deepEqual(run.result, { epoch: 3, bestEpoch: 1, stopped: false });
  assert.deepEqual(run.final, run.weights.get(1));
  assert.deepEqual(run.logs, ["Early stopping at epoch 3: val_loss has not improved for 2 epoch(s); restoring weights from epoch 1."]);
});

test("the same seed trains to the same weights, another seed to others", async () => {
  const [a, b, c] = [await fit(TRAINING), await fit(TRAINING), await fit({ ...TRAINING, seed: 6 })];

  assert.deepEqual(a.final, b.final);
  assert.notDeepEqual(a.final, c.final);
});

test("a stop request ends training within a batch and reports no partial epoch", async () => {
  const { model, data } = tinyJob();
  const batches = [];
  const epochs = [];
  let stop = false;

  const result = await fitModel(model, data, TRAINING, {
    shouldStop: () => stop,
    batch: (b) => { batches.push(b); if (b.epoch === 2 && b.step === 2) stop = true; },
    epoch: async (e) => epochs.push(e.epoch),
    log: () => {},
  });

  assert.deepEqual(epochs, [1]);
  assert.deepEqual(batches.at(-1), { ...batches.at(-1), epoch: 2, step: 2 });
  assert.deepEqual(result, { epoch: 1, bestEpoch: 1, stopped: true });
});

test("it starts after initial_epoch", async () => {
  const run = await fit(TRAINING, { initialEpoch: 2 });

  assert.deepEqual(run.epochs.map((e) => e.epoch), [3, 4]);
});
