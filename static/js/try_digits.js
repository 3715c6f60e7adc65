// Draw a digit; the job's TF.js model classifies it in the browser as you draw, and the server's
// Keras model can be asked about the same preprocessed input for comparison.
import { conventionFor, inkFromRgba, preprocess } from "./digit_preprocess.js";
import { drawOn } from "./draw_pad.js";
import { inspector } from "./inspect_neurons.js";
import { live } from "./live.js";

const config = JSON.parse(document.getElementById("try-config").textContent);
const csrfToken = document.querySelector("[name=csrfmiddlewaretoken]").value;
const $ = (id) => document.getElementById(id);
const pad = $("pad");
const padContext = pad.getContext("2d", { willReadFrequently: true });
const preview = $("preview");
const variantSelect = $("variant");

let model = null;          // the loaded tf.LayersModel
let inputShape = null;     // [height, width, channels]
let busy = false, again = false;
let neurons = null;        // the "inspect neurons" view of the loaded model, made when first opened

const chart = new Chart($("chart"), {
  type: "bar",
  data: { labels: config.classNames, datasets: [{ label: "probability", data: config.classNames.map(() => 0), backgroundColor: "#0b57d0" }] },
  options: { animation: false, responsive: true, maintainAspectRatio: false,
             scales: { y: { min: 0, max: 1 } }, plugins: { legend: { display: false } } },
});

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function className(k) {
  return config.classNames[k] ?? String(k);
}

function formatProbabilities(probabilities) {
  return Array.from(probabilities, (p) => p.toFixed(3)).join(" ");
}

// ---- the model -------------------------------------------------------------------------------

async function loadVariant(variant) {
  pad.dataset.model = "";
  $("model-status").textContent = `loading ${variant}…`;
  showError("");
  let loaded;
  try {
    loaded = await tf.loadLayersModel(config.variants[variant].url);
  } catch (error) {
    $("model-status").textContent = `${variant} failed to load`;
    showError(`Could not load the ${variant} model (${error.message}). Reload the page, or pick another variant.`);
    return;
  }
  const [, height, width, channels] = loaded.inputs[0].shape;
  if (loaded.inputs[0].shape.length !== 4 || channels !== 1) {
    showError(`This model takes inputs of shape [${loaded.inputs[0].shape.slice(1)}], not one-channel images; `
              + `this page needs an image classifier trained on ${config.datasets.join(", ")}.`);
    return;
  }
  if (model) model.dispose();
  model = loaded;
  neurons = null;
  inputShape = [height, width, channels];
  padContext.lineWidth = conventionFor(height, width) === "fill" ? 30 : 22;
  if (!backendChosen) await chooseFastestBackend();
  tf.tidy(() => model.predict(tf.zeros([1, ...inputShape])));  // warm-up: compile kernels now
  $("input-shape").textContent = `${height}×${width}`;
  const { bytes, accuracy } = config.variants[variant];
  $("model-status").textContent = `${variant}: ${(bytes / 1024).toFixed(1)} KB`
    + (accuracy != null ? `, test accuracy ${(100 * accuracy).toFixed(1)}%` : "")
    + (config.training ? ` — epoch ${config.training.epoch} of ${config.training.epochs}, still training` : "");
  pad.dataset.model = variant;
  pad.dataset.epoch = config.training ? config.training.epoch : "";
  schedulePrediction();
}

// Models this small spend more time getting data to and from a GPU than computing (WebGL: ~5 ms
// a prediction in headless Chromium, plain JS: under 1 ms), while big ones win on the GPU. So the
// page times both on the first model and keeps the faster.
let backendChosen = false;

async function chooseFastestBackend() {
  const zeros = new Float32Array(inputShape[0] * inputShape[1]);
  const medians = {};
  for (const backend of ["webgl", "cpu"]) {
    if (!(await tf.setBackend(backend))) continue;
    for (let i = 0; i < 3; i++) await predictPixels(zeros);  // shader compilation, first allocations
    const times = [];
    for (let i = 0; i < 11; i++) times.push((await predictPixels(zeros)).latencyMs);
    medians[backend] = times.sort((a, b) => a - b)[5];
  }
  const fastest = Object.keys(medians).reduce((a, b) => (medians[b] < medians[a] ? b : a));
  await tf.setBackend(fastest);
  backendChosen = true;
  $("backend").textContent = tf.getBackend();
  $("backend").title = "Median of 11 predictions: "
    + Object.entries(medians).map(([backend, ms]) => `${backend} ${ms.toFixed(2)} ms`).join(", ");
}

/** The drawing as the model's input (Float32Array, row-major), or null when the pad is empty. */
function currentInput() {
  if (!inputShape) return null;
  const ink = inkFromRgba(padContext.getImageData(0, 0, pad.width, pad.height).data);
  return preprocess(ink, pad.width, pad.height, inputShape[0], inputShape[1]);
}

/** Class probabilities for one preprocessed input, and the milliseconds they took. */
async function predictPixels(pixels) {
  const start = performance.now();
  const output = tf.tidy(() => model.predict(tf.tensor4d(pixels, [1, ...inputShape])));
  const probabilities = await output.data();
  output.dispose();
  return { probabilities, latencyMs: performance.now() - start };
}

function argmax(values) {
  return values.reduce((best, v, i) => (v > values[best] ? i : best), 0);
}

// ---- predicting as you draw ------------------------------------------------------------------

function schedulePrediction() {
  if (busy) { again = true; return; }
  busy = true;
  requestAnimationFrame(async () => {
    try {
      await predictDrawing();
    } finally {
      busy = false;
      if (again) { again = false; schedulePrediction(); }
    }
  });
}

async function predictDrawing() {
  const pixels = model && currentInput();
  drawPreview(pixels);
  if (!pixels) {
    chart.data.datasets[0].data = config.classNames.map(() => 0);
    chart.update();
    $("prediction").textContent = "–";
    $("latency").textContent = "–";
    return;
  }
  const { probabilities, latencyMs } = await predictPixels(pixels);
  const k = argmax(probabilities);
  chart.data.datasets[0].data = Array.from(probabilities);
  chart.update();
  $("prediction").textContent = `${className(k)} (${(100 * probabilities[k]).toFixed(1)}%)`;
  $("latency").textContent = `${latencyMs.toFixed(2)} ms`;
  pad.dataset.predicted = className(k);
  if ($("neurons-box").open) {
    neurons ??= inspector(model, inputShape, $("neurons"));
    await neurons.show(pixels);
  }
}

function drawPreview(pixels) {
  const context = preview.getContext("2d");
  if (!pixels) { context.clearRect(0, 0, preview.width, preview.height); return; }
  const [height, width] = inputShape;
  preview.width = width;
  preview.height = height;
  const image = context.createImageData(width, height);
  pixels.forEach((v, i) => {
    const shade = 255 - Math.round(255 * v);
    image.data.set([shade, shade, shade, 255], 4 * i);
  });
  context.putImageData(image, 0, 0);
}

// ---- drawing: pointer events cover mouse, pen and touch --------------------------------------

const context = padContext;
context.strokeStyle = "#000";
drawOn(pad, schedulePrediction);

$("clear").addEventListener("click", () => {
  context.clearRect(0, 0, pad.width, pad.height);
  delete pad.dataset.predicted;
  for (const id of ["browser-class", "server-class", "browser-probabilities", "server-probabilities",
                    "browser-latency", "server-latency"]) $(id).textContent = "–";
  schedulePrediction();
});

variantSelect.addEventListener("change", () => loadVariant(variantSelect.value));

// ---- ask the server: the same input through the job's Keras model ------------------------------

$("ask").addEventListener("click", async () => {
  const pixels = model && currentInput();
  if (!pixels) { showError("Draw a digit first, then ask the server."); return; }
  showError("");
  const [height, width] = inputShape;
  const rows = Array.from({ length: height }, (_, y) => Array.from(pixels.slice(y * width, (y + 1) * width)));
  $("server-class").textContent = "asking…";
  const browser = await predictPixels(pixels);
  const kBrowser = argmax(browser.probabilities);
  $("browser-class").textContent = `${className(kBrowser)} (${(100 * browser.probabilities[kBrowser]).toFixed(1)}%)`;
  $("browser-probabilities").textContent = formatProbabilities(browser.probabilities);
  $("browser-latency").textContent = `${browser.latencyMs.toFixed(2)} ms in ${tf.getBackend()} (TF.js ${variantSelect.value})`;

  const start = performance.now();
  let response, body;
  try {
    response = await fetch(config.predictUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken },
      body: JSON.stringify({ inputs: rows }),
    });
    body = await response.json();
  } catch (error) {
    $("server-class").textContent = "–";
    showError(`The server did not answer (${error.message}). Is it still running?`);
    return;
  }
  const roundTrip = performance.now() - start;
  if (!response.ok) {
    $("server-class").textContent = "–";
    const detail = body.detail ?? Object.entries(body).map(([field, errors]) => `${field}: ${errors}`).join("; ");
    showError(`The server refused (${response.status}): ${detail}`);
    return;
  }
  const [server] = body.predictions;
  $("server-class").textContent = `${className(server.class)} (${(100 * server.probabilities[server.class]).toFixed(1)}%)`;
  $("server-probabilities").textContent = formatProbabilities(server.probabilities);
  $("server-latency").textContent = `${body.latency_ms.toFixed(2)} ms model, ${roundTrip.toFixed(0)} ms round trip (${body.model})`;
  const gap = Math.max(...server.probabilities.map((p, i) => Math.abs(p - browser.probabilities[i])));
  $("agreement").textContent = (server.class === kBrowser ? "Both say the same class" : "They disagree")
    + `; largest probability difference ${gap.toFixed(4)}.`;
});

// ---- still training: follow the job and load each newer snapshot -------------------------------

let checking = null;  // one look at the job at a time; epochs can end many times a second

function newerSnapshot() {
  checking ??= checkJob().finally(() => { checking = null; });
}

async function checkJob() {
  const response = await fetch(`/api/v1/jobs/${config.job}/`);
  if (!response.ok) return;
  const job = await response.json();
  if (job.status === "succeeded") { location.reload(); return; }  // the final exports
  if (job.status !== "running") {
    $("model-status").textContent += ` — the job ${job.status}`;
    return;
  }
  if (job.snapshot && job.snapshot.epoch > config.training.epoch) {
    config.training.epoch = job.snapshot.epoch;
    config.variants.float32 = { ...config.variants.float32, url: job.snapshot.url, bytes: job.snapshot.bytes };
    await loadVariant("float32");
  }
}

if (config.training) {
  live(`/ws/jobs/${config.job}/`, {
    after: config.training.lastSeq,
    onEvent: (message) => {
      if (message.type === "epoch" || (message.type === "status" && message.data.status !== "running")) newerSnapshot();
    },
  });
}

// For the benchmark and tests: the same prediction path the page uses.
window.tryDigits = { loadVariant, predictPixels, get inputShape() { return inputShape; } };

await tf.ready();
$("backend").textContent = tf.getBackend();
await loadVariant(variantSelect.value);

// Opening "inspect neurons" draws the current digit's activations at once.
$("neurons-box").addEventListener("toggle", () => { if ($("neurons-box").open) schedulePrediction(); });
