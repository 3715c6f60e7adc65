// The browser training engine: this tab claims a queued `engine: "browser"` job and trains it
// with TF.js by the protocol in docs/browser-training.md. The server issues the model (the
// recipe's own builder, initial weights included) and the job's data split; the tab shuffles
// with the job's seed, trains with the job's optimizer, stops early as a worker does, sends
// batch and epoch events (stored and broadcast like a worker's, so the page's charts follow
// them through live.js like any job's), checkpoints, and uploads the final weights, which the
// server tests and exports. Pages load vendor/tf.es2017.min.js (and the wasm backend) as
// classic scripts, so `tf` is a global; nothing here touches it until training starts.
import { decodeBundle, encodeBundle } from "./tensor_bundle.js";

// Fastest first. Measured in headless Chromium without a GPU (TF.js 4.22, the default dense
// classifier, 128-64 units, batch 32, on digits, epochs 2-5): wasm with SIMD 6-8.5k samples/s,
// cpu 2-2.6k, webgl (SwiftShader) ~800 after a first epoch of 5-9 s compiling shaders. A real GPU's
// webgl may beat wasm on big models; the wasm backend has no convolution gradients, so a
// convolutional model falls through to webgl (~140 samples/s against cpu's ~80 here).
export const BACKENDS = ["wasm", "webgl", "cpu"];
const WASM_PATH = "/static/vendor/";

/** A seeded PRNG (mulberry32): returns () => a float in [0, 1). Same seed, same sequence. */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Returns a Fisher–Yates permutation of 0..n-1 drawn from `random`. */
export function permutation(n, random) {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/** When to report a batch, as a worker does (trainer/callback.py): the first batch of an epoch at
 * once, then one per `intervalS` at most, and always the last step. `due(step, steps)` says
 * whether this one is reported. `start()` begins an epoch. */
export function batchThrottle(intervalS, now = () => performance.now()) {
  let last = -Infinity;
  return {
    start() { last = now() - intervalS * 1000; },
    due(step, steps) {
      const t = now();
      if (t - last < intervalS * 1000 && step !== steps) return false;
      last = t;
      return true;
    },
  };
}

/**
 * Sends events in order with one POST in flight at most: what arrives meanwhile goes in the
 * next POST together (≤ maxEvents and about maxBytes each, the server's limits).
 *
 * send(events) → Promise of the server's answer ({cancel, last_epoch}); onAnswer(answer) sees
 * each. A failed send stops the outbox: `failed` holds the error and drain() rejects with it.
 * beat() sends an empty POST, the heartbeat alone, when nothing went out for heartbeatMs (a
 * batch longer than that: a big model on the cpu backend).
 */
export class Outbox {
  constructor(send, { onAnswer = () => {}, maxEvents = 50, maxBytes = 60 * 1024, heartbeatMs = 5000,
    now = () => performance.now() } = {}) {
    Object.assign(this, { send, onAnswer, maxEvents, maxBytes, heartbeatMs, now });
    this.queue = [];
    this.inFlight = null;
    this.failed = null;
    this.waiting = [];
    this.sentAt = now();
  }

  beat() {
    if (this.inFlight || this.failed || this.now() - this.sentAt < this.heartbeatMs) return;
    this.post([]);
  }

  push(event) {
    if (this.failed) throw this.failed;
    this.queue.push(event);
    this.pump();
  }

  /** Resolves once everything pushed so far was sent (before a checkpoint, at the end). */
  drain() {
    if (this.failed) return Promise.reject(this.failed);
    if (!this.inFlight && !this.queue.length) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  pump() {
    if (this.inFlight || this.failed) return;
    if (!this.queue.length) {
      this.waiting.splice(0).forEach((w) => w.resolve());
      return;
    }
    this.post(this.take());
  }

  post(events) {
    this.sentAt = this.now();
    this.inFlight = this.send(events).then(
      (answer) => {
        this.inFlight = null;
        this.onAnswer(answer);
        this.pump();
      },
      (error) => {
        this.inFlight = null;
        this.failed = error;
        this.waiting.splice(0).forEach((w) => w.reject(error));
      },
    );
  }

  take() {
    const events = [];
    let bytes = 2;
    while (this.queue.length && events.length < this.maxEvents) {
      const size = JSON.stringify(this.queue[0]).length + 1;
      if (events.length && bytes + size > this.maxBytes) break;
      bytes += size;
      events.push(this.queue.shift());
    }
    return events;
  }
}

/** Keras' names for TF.js' logs: acc → accuracy, val_acc → val_accuracy. */
export const kerasName = (name) => name.replace(/(^|_)acc$/, "$1accuracy");

/** A refusal or an unreachable server; `status` is the HTTP status (0: no answer). */
export class ServerError extends Error {
  constructor(message, status = 0) {
    super(message);
    this.status = status;
  }
}

/** The protocol's calls for one job (claim first: the others send its lease). */
export function browserApi(jobId, csrf, { fetch: fetch_ = globalThis.fetch.bind(globalThis) } = {}) {
  const base = `/api/v1/jobs/${jobId}/`;
  let lease = null;

  async function call(what, method, path, { json, body } = {}) {
    const headers = { Accept: "application/json", "X-CSRFToken": csrf };
    if (lease) headers["X-Browser-Lease"] = lease;
    if (json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(json);
    } else if (body !== undefined) {
      headers["Content-Type"] = "application/octet-stream";
    }
    let response;
    try {
      response = await fetch_(path.startsWith("/") ? path : base + path, { method, headers, body, credentials: "same-origin" });
    } catch (error) {
      throw new ServerError(`${what}: the server could not be reached (${error.message}).`);
    }
    if (!response.ok) throw new ServerError(`${what}: ${await reason(response)}`, response.status);
    return (response.headers.get("Content-Type") || "").includes("json") ? response.json() : null;
  }

  return {
    async claim() {
      const job = await call("Claiming the job", "POST", "browser/claim/");
      lease = job.lease;
      return job;
    },
    events: (events) => call("Sending events", "POST", "browser/events/", { json: { events } }),
    checkpoint: (epoch, bundle) => call(`Uploading the epoch ${epoch} checkpoint`, "PUT", `browser/checkpoint/?epoch=${epoch}`, { body: bundle }),
    finish: (bundle) => call("Uploading the trained weights", "PUT", "browser/finish/", { body: bundle }),
    stopped: () => call("Reporting the stop", "POST", "browser/stopped/"),
    async bundle(url) {
      const response = await fetch_(url, { credentials: "same-origin" }).catch((error) => {
        throw new ServerError(`Loading ${url}: the server could not be reached (${error.message}).`);
      });
      if (!response.ok) throw new ServerError(`Loading ${url}: ${await reason(response)}`, response.status);
      return decodeBundle(await response.arrayBuffer());
    },
  };
}

// The server's words for a refusal: DRF's {"detail": ...}, or errors by field
// ({"events": {"3": ["batch event: epoch is missing."]}} reads "events.3: batch event: ...").
async function reason(response) {
  const text = await response.text().catch(() => "");
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    return `${response.status} ${response.statusText}`.trim();
  }
  if (typeof body?.detail === "string") return `${body.detail} (${response.status})`;
  const fields = (value, path) => (value && typeof value === "object" && !Array.isArray(value)
    ? Object.entries(value).flatMap(([key, inner]) => fields(inner, path ? `${path}.${key}` : key))
    : [`${path}: ${[].concat(value).join(" ")}`]);
  return `${fields(body, "").join("; ")} (${response.status})`;
}

/**
 * Switches TF.js to the first backend of `candidates` that starts and can train this model
 * (one training step of a throwaway copy on `x`, `y`: the wasm backend has no gradient of a
 * convolution, so a convolutional model falls through to webgl) and returns its name.
 */
export async function useBackend(artifacts, x, y, candidates = BACKENDS) {
  const tf = globalThis.tf;
  if (tf.wasm && !useBackend.wasmPathSet) {
    tf.wasm.setWasmPaths(WASM_PATH);
    useBackend.wasmPathSet = true;
  }
  const reasons = [];
  for (const name of candidates) {
    if (!tf.findBackendFactory(name)) continue;
    let model = null;
    try {
      if (!(await tf.setBackend(name))) throw new Error("it did not start");
      await tf.ready();
      model = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
      model.compile({ optimizer: "sgd", loss: "sparseCategoricalCrossentropy" });
      const [xs, ys] = [tf.tensor(x.values, x.shape), tf.tensor(y.values, y.shape)];
      await model.trainOnBatch(xs, ys);
      tf.dispose([xs, ys]);
      return name;
    } catch (error) {
      reasons.push(`${name}: ${error.message}`);
    } finally {
      model?.dispose();
    }
  }
  throw new Error(`No TF.js backend trains this model in this browser (${reasons.join("; ")}).`);
}

// A macrotask, not requestAnimationFrame (TF.js' own yield): a hidden tab gets no frames, and
// its training and heartbeats would stop.
const yieldToPage = () => new Promise((resolve) => {
  const channel = new MessageChannel();
  channel.port1.onmessage = () => {
    channel.port1.close();
    resolve();
  };
  channel.port2.postMessage(0);
});

/** The optimizer of trainer/fitting.py make_optimizer, with tf_keras' defaults where TF.js'
 * differ or depend on the backend (epsilon 1e-7; TF.js takes the backend's, 1e-4 on a
 * float16 WebGL). TF.js' Adagrad takes no epsilon: it uses the backend's, 1e-7 on float32.
 * TF.js' Adam adds epsilon after the bias correction, tf_keras' before: a difference in the
 * first steps of the order of epsilon. */
export function makeOptimizer(name, learningRate) {
  const { train } = globalThis.tf;
  switch (name) {
    case "sgd": return train.sgd(learningRate);
    case "momentum": return train.momentum(learningRate, 0.9, false);
    case "adagrad": return train.adagrad(learningRate, 0.1);
    case "rmsprop": return train.rmsprop(learningRate, 0.9, 0.0, 1e-7, false);
    case "adam": return train.adam(learningRate, 0.9, 0.999, 1e-7);
    default: throw new Error(`The browser has no optimizer ${name}.`);
  }
}

/** The model's weights as a bundle in the issued manifest's order and names. */
async function weightsBundle(model, specs) {
  const byName = new Map(model.weights.map((w) => [w.originalName, w]));
  const tensors = [];
  for (const { name, shape } of specs) {
    const variable = byName.get(name);
    if (!variable) throw new Error(`The model has no weight ${name}.`);
    tensors.push({ name, shape, dtype: "float32", values: await variable.read().data() });
  }
  return encodeBundle(tensors);
}

const tensorOf = ({ values, shape }) => globalThis.tf.tensor(values, shape, "float32");

// A bundle's x as issued and y as float32 [n, 1], the labels TF.js' sparse loss takes.
function xy(tensors) {
  const [x, y] = ["x", "y"].map((key) => tensors.find((t) => t.name === key));
  if (!x || !y) throw new Error(`A data bundle holds ${tensors.map((t) => t.name)}, not x and y.`);
  return { x, y: { values: Float32Array.from(y.values), shape: [y.shape[0], 1] } };
}

const head = ({ values, shape }, n) => ({ values: values.subarray(0, n * (values.length / shape[0])), shape: [n, ...shape.slice(1)] });

/**
 * Trains `model` for epochs initialEpoch+1..epochs as a worker's fit does: a seeded shuffle
 * each epoch, validation, early stopping on val_loss with `patience` (0: off, the last weights
 * stay), Keras' log names and running batch means. Calls hooks.batch(data) for the reported
 * batches, await hooks.epoch(data) after each epoch, hooks.log(message); stops within a batch
 * once hooks.shouldStop() is true. Returns {epoch (last completed), bestEpoch, stopped}.
 */
export async function fitModel(model, { train, validation }, training, hooks, { initialEpoch = 0 } = {}) {
  const tf = globalThis.tf;
  const { batch_size: batchSize, epochs, patience, seed } = training;
  const random = mulberry32(seed);
  const throttle = batchThrottle(Math.min(training.batch_interval_s, training.heartbeat_s));
  const [xTrain, yTrain, xVal, yVal] = [train.x, train.y, validation.x, validation.y];
  const n = xTrain.shape[0];
  const steps = Math.ceil(n / batchSize);
  let best = { epoch: 0, valLoss: Infinity, weights: null };
  let epoch = initialEpoch;
  let stoppedEarly = false;
  let lastYield = performance.now();

  while (epoch < epochs && !hooks.shouldStop()) {
    const current = epoch + 1;
    const order = tf.tensor1d(permutation(n, random), "int32");
    const [xs, ys] = [tf.gather(xTrain, order), tf.gather(yTrain, order)];
    order.dispose();
    const started = performance.now();
    const sums = {};
    let seen = 0;
    throttle.start();
    const history = await model.fit(xs, ys, {
      batchSize, epochs: 1, shuffle: false, validationData: [xVal, yVal], verbose: 0, yieldEvery: "never",
      callbacks: {
        onBatchEnd: async (batch, logs) => {
          seen += logs.size;
          const means = {};
          for (const [name, value] of Object.entries(logs)) {
            if (name === "batch" || name === "size") continue;
            sums[name] = (sums[name] || 0) + value * logs.size;
            means[kerasName(name)] = sums[name] / seen;
          }
          const step = batch + 1;
          if (throttle.due(step, steps)) {
            checkFinite(means.loss, current);
            hooks.batch({ epoch: current, epochs, step, steps, logs: means,
              samples_per_s: seen / Math.max((performance.now() - started) / 1000, 1e-9) });
          }
          if (hooks.shouldStop()) model.stopTraining = true;
          if (performance.now() - lastYield > 50) {
            await yieldToPage();
            lastYield = performance.now();
          }
        },
      },
    });
    xs.dispose();
    ys.dispose();
    if (hooks.shouldStop()) break; // a cancelled epoch is not reported, as on a worker
    const duration = (performance.now() - started) / 1000;
    const logs = Object.fromEntries(Object.entries(history.history).map(([name, values]) => [kerasName(name), values[0]]));
    checkFinite(logs.loss, current);
    epoch = current;
    if (logs.val_loss < best.valLoss) {
      best.weights?.forEach((w) => w.dispose());
      best = { epoch, valLoss: logs.val_loss, weights: patience ? model.getWeights().map((w) => w.clone()) : null };
    }
    await hooks.epoch({ epoch, epochs, logs, best_epoch: best.epoch, duration_s: duration,
      samples_per_s: n / Math.max(duration, 1e-9) });
    if (patience && epoch - best.epoch >= patience) {
      stoppedEarly = true;
      hooks.log(`Early stopping at epoch ${epoch}: val_loss has not improved for ${patience} epoch(s); ` +
        `restoring weights from epoch ${best.epoch}.`);
      break;
    }
  }
  // With early stopping on, the best epoch's weights are the result, whether or not patience ran out.
  if (best.weights && best.epoch !== epoch) {
    model.setWeights(best.weights);
    if (!stoppedEarly) hooks.log(`Restored weights from best epoch ${best.epoch}.`);
  }
  best.weights?.forEach((w) => w.dispose());
  return { epoch, bestEpoch: best.epoch, stopped: hooks.shouldStop() };
}

export class TrainingFailed extends Error {}

function checkFinite(loss, epoch) {
  if (loss !== undefined && !Number.isFinite(loss)) {
    throw new TrainingFailed(`loss became ${Number.isNaN(loss) ? "NaN" : "infinite"} at epoch ${epoch}`);
  }
}

/**
 * Claims job `jobId` and trains it in this tab to the end (finish uploaded, or stopped after a
 * cancel). Resolves to "finished", "stopped" or "taken" (another tab claimed it first: 409);
 * rejects with the server's reason for any other refusal, or a TrainingFailed.
 *
 * onState(text): what the tab is doing ("claiming", "loading", "training", "uploading", ...).
 * onBackend(name): the TF.js backend it trains on. onSpeed(samplesPerS): after each batch reported.
 * onProbe(sample): a job with probe inputs (the 2-D datasets) sends the outputs of every Dense
 * layer on them after an epoch, at most 4 times a second and always after the last, as a
 * `sample` event like a worker's; the same data goes to onProbe at once.
 * backend: a backend to use instead of the fastest (BACKENDS).
 */
export async function trainInBrowser(jobId, {
  csrf, backend = null, onState = () => {}, onBackend = () => {}, onSpeed = () => {}, onProbe = () => {},
} = {}) {
  const tf = globalThis.tf;
  const api = browserApi(jobId, csrf);
  onState("claiming");
  let job;
  try {
    job = await api.claim();
  } catch (error) {
    if (error.status === 409) return "taken";
    throw error;
  }
  const training = job.training;
  let cancel = false;
  const outbox = new Outbox(api.events, {
    onAnswer: (answer) => { if (answer?.cancel) cancel = true; }, heartbeatMs: training.heartbeat_s * 1000,
  });
  const log = (message) => outbox.push({ type: "log", data: { message } });
  const heartbeat = setInterval(() => outbox.beat(), 1000);
  let prepared = null;
  try {
    onState("loading");
    prepared = await prepare(api, job, backend ? [backend] : BACKENDS);
    const { model, data, weightSpecs } = prepared;
    const probeThrottle = batchThrottle(training.batch_interval_s);
    probeThrottle.start();
    onBackend(prepared.backend);
    log(`Training ${data.train.x.shape[0]} samples (${data.validation.x.shape[0]} validation) in the browser ` +
      `on TF.js ${tf.version.tfjs} ${prepared.backend}.`);
    onState("training");
    const result = await fitModel(model, data, training, {
      shouldStop: () => cancel,
      batch: (batch) => {
        outbox.push({ type: "batch", data: batch });
        onSpeed(batch.samples_per_s);
      },
      epoch: async (epoch) => {
        outbox.push({ type: "epoch", data: epoch });
        if (prepared.probe && (epoch.epoch === training.epochs || probeThrottle.due(0, 1))) {
          const sample = { epoch: epoch.epoch, probe: await probeOutputs(prepared.probe) };
          outbox.push({ type: "sample", data: sample });
          onProbe(sample);
        }
        if (epoch.epoch % training.checkpoint_every === 0 && epoch.epoch < training.epochs) {
          await outbox.drain(); // the server takes a checkpoint of an epoch it has
          await api.checkpoint(epoch.epoch, await weightsBundle(model, weightSpecs));
        }
      },
      log,
    }, { initialEpoch: job.initial_epoch });
    await outbox.drain();
    clearInterval(heartbeat); // the lease ends with stopped or finish
    if (result.stopped || cancel) {
      onState("stopping");
      await api.stopped();
      return "stopped";
    }
    onState("uploading");
    await api.finish(await weightsBundle(model, weightSpecs));
    return "finished";
  } catch (error) {
    // What the job's event stream should say too. The protocol has no "failed" call: the job
    // stays running until the heartbeat timeout, then offers a worker.
    if (!outbox.failed) {
      log(`The browser stopped: ${error.message}`);
      await outbox.drain().catch(() => {});
    }
    throw error;
  } finally {
    clearInterval(heartbeat);
    if (prepared) {
      Object.values(prepared.data).forEach(({ x, y }) => { x.dispose(); y.dispose(); });
      prepared.probe?.x.dispose();
      prepared.model.dispose();
    }
  }
}

/** The outputs of the frozen base at `url` for each of `inputs` ({values, shape}), computed in
 * batches of 64 on the first of `backends` that runs it (a forward pass: wasm runs convolutions),
 * as {values, shape}; the base is disposed after. */
export async function baseOutputs(url, inputs, backends = BACKENDS) {
  const tf = globalThis.tf;
  const reasons = [];
  for (const name of backends) {
    if (!tf.findBackendFactory(name)) continue;
    let base = null;
    try {
      if (tf.wasm && !useBackend.wasmPathSet) {
        tf.wasm.setWasmPaths(WASM_PATH);
        useBackend.wasmPathSet = true;
      }
      if (!(await tf.setBackend(name))) throw new Error("it did not start");
      await tf.ready();
      base = await tf.loadLayersModel(url);
      const outputs = [];
      for (const input of inputs) {
        const rows = input.shape[0];
        const width = input.values.length / rows;
        const parts = [];
        for (let start = 0; start < rows; start += 64) {
          const count = Math.min(64, rows - start);
          const x = tf.tensor(input.values.subarray(start * width, (start + count) * width), [count, ...input.shape.slice(1)]);
          const y = base.predict(x);
          parts.push(await y.data());
          tf.dispose([x, y]);
          await yieldToPage();
        }
        const features = base.outputs[0].shape.at(-1);
        const values = new Float32Array(rows * features);
        parts.reduce((offset, part) => { values.set(part, offset); return offset + part.length; }, 0);
        outputs.push({ values, shape: [rows, features] });
      }
      return outputs;
    } catch (error) {
      reasons.push(`${name}: ${error.message}`);
    } finally {
      base?.dispose();
    }
  }
  throw new Error(`No TF.js backend runs the frozen base in this browser (${reasons.join("; ")}).`);
}

// The issued model compiled with the job's optimizer on the fastest backend that trains it,
// and the train and validation splits as tensors. The test split stays on the server, which
// tests the weights the tab uploads.
async function prepare(api, job, backends) {
  const tf = globalThis.tf;
  const training = job.training;
  let [artifacts, train, validation] = await Promise.all([
    tf.io.http(job.model_url).load(), api.bundle(job.data.train).then(xy), api.bundle(job.data.validation).then(xy),
  ]);
  if (job.base_url) {
    // A head on a frozen base: the base's outputs for every image, once; the head trains on them.
    [train.x, validation.x] = await baseOutputs(job.base_url, [train.x, validation.x], backends);
  }
  const n = Math.min(training.batch_size, train.x.shape[0]);
  const backend = await useBackend(artifacts, head(train.x, n), head(train.y, n), backends);
  const model = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
  model.compile({ optimizer: makeOptimizer(training.optimizer, training.learning_rate),
    loss: "sparseCategoricalCrossentropy", metrics: ["accuracy"] });
  const data = {
    train: { x: tensorOf(train.x), y: tensorOf(train.y) },
    validation: { x: tensorOf(validation.x), y: tensorOf(validation.y) },
  };
  const probe = job.data.probe ? probeModel(model, (await api.bundle(job.data.probe))[0]) : null;
  return { model, data, backend, weightSpecs: artifacts.weightSpecs, probe };
}

/** The model's Dense layers as outputs of one model, with the probe inputs as a tensor. */
export function probeModel(model, inputs) {
  const tf = globalThis.tf;
  const layers = model.layers.filter((layer) => layer.getClassName() === "Dense");
  return { layers, x: tensorOf(inputs), outputs: tf.model({ inputs: model.inputs, outputs: layers.map((l) => l.output) }) };
}

/** [{layer, units, values}] for every Dense layer on the probe inputs, rounded as trainer/probe.py
 * rounds them (2 decimals). */
export async function probeOutputs({ layers, x, outputs }) {
  const results = [].concat(outputs.predict(x));
  const values = await Promise.all(results.map((t) => t.data()));
  globalThis.tf.dispose(results);
  return layers.map((layer, i) => ({
    layer: layer.name, units: layer.units, values: Array.from(values[i], (v) => Math.round(v * 100) / 100),
  }));
}
