// /try/classify/<id>/: a photo (a file, or a camera frame) → its centred 224 px square → the job's
// pre-trained CNN in this browser (TF.js: wasm, else webgl, else cpu; ?backend= picks one) and on
// the server (POST the same square as a PNG to the job's classify action), top 5 side by side.
const config = JSON.parse(document.getElementById("try-config").textContent);
const $ = (id) => document.getElementById(id);
const csrf = () => document.querySelector("[name=csrfmiddlewaretoken]").value;
const input = $("input");
const context = input.getContext("2d", { willReadFrequently: true });
const state = { labels: null, browser: null, server: null, backend: null, runs: 0 };
window.playground = state;

function fail(message) {
  $("error").hidden = false;
  $("error").textContent = message;
}

async function chooseBackend() {
  if (tf.wasm) tf.wasm.setWasmPaths("/static/vendor/");
  const asked = new URLSearchParams(location.search).get("backend");
  for (const name of asked ? [asked] : ["wasm", "webgl", "cpu"]) {
    try {
      if (await tf.setBackend(name)) break;
    } catch { /* not available here: the next one */ }
  }
  await tf.ready();
  state.backend = tf.getBackend();
  $("backend").textContent = state.backend;
}

const models = {};
async function model(variant) {
  models[variant] ??= tf.loadLayersModel(config.variants[variant].url);
  return models[variant];
}

function labels() {
  state.labels ??= fetch(config.labelsUrl).then((response) => {
    if (!response.ok) throw new Error(`the class names did not load (HTTP ${response.status})`);
    return response.json();
  });
  return state.labels;
}

// The model's input from the canvas, as Keras' preprocess_input for that model does it.
function preprocess(meta) {
  return tf.tidy(() => {
    const pixels = tf.browser.fromPixels(input).toFloat();
    const x = meta.preprocess === "tf" ? pixels.div(127.5).sub(1)
      : pixels.div(255).sub(tf.tensor1d(meta.mean)).div(tf.tensor1d(meta.std));
    return x.expandDims(0);
  });
}

function top5(probabilities, classes) {
  return Array.from(probabilities).map((p, i) => ({ class: i, label: classes[i], probability: p }))
    .sort((a, b) => b.probability - a.probability).slice(0, 5);
}

function show(cells, top) {
  document.querySelectorAll(cells).forEach((cell, i) => {
    const entry = top[i];
    cell.textContent = entry ? `${entry.label} ${(100 * entry.probability).toFixed(1)} %` : "–";
    cell.dataset.class = entry?.class ?? "";
  });
}

async function inBrowser() {
  const meta = await labels();
  const loaded = await model($("variant").value);
  const x = preprocess(meta);
  const started = performance.now();
  const output = loaded.predict(x);
  const probabilities = await output.data();
  const latency = performance.now() - started;
  tf.dispose([x, output]);
  state.browser = { top: top5(probabilities, meta.classes), latency_ms: latency, variant: $("variant").value };
  show(".browser-top", state.browser.top);
  $("browser-latency").textContent = `${latency.toFixed(0)} ms (${state.backend})`;
}

async function onServer() {
  const started = performance.now();
  const response = await fetch(config.classifyUrl, {
    method: "POST", headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
    body: JSON.stringify({ image: input.toDataURL("image/png"), top: 5 }),
  });
  const body = await response.json();
  if (!response.ok) throw new Error(body.detail ?? JSON.stringify(body));
  state.server = { ...body, round_trip_ms: performance.now() - started };
  show(".server-top", body.top);
  $("server-latency").textContent = `${body.latency_ms.toFixed(0)} ms forward, ${state.server.round_trip_ms.toFixed(0)} ms round trip`;
}

async function classify() {
  $("error").hidden = true;
  $("agreement").textContent = "classifying…";
  const results = await Promise.allSettled([inBrowser(), onServer()]);
  const failed = results.filter((r) => r.status === "rejected").map((r) => r.reason.message);
  if (failed.length) fail(`Could not classify: ${failed.join("; ")}`);
  const [browser, server] = [state.browser?.top[0], state.server?.top[0]];
  $("agreement").textContent = browser && server
    ? (browser.class === server.class ? `Browser and server agree: ${browser.label}.` : "Browser and server disagree on the top class.")
    : "";
  state.runs += 1;
}

function drawSquare(source, width, height) {
  const side = Math.min(width, height);
  context.drawImage(source, (width - side) / 2, (height - side) / 2, side, side, 0, 0, input.width, input.height);
}

$("photo").addEventListener("change", async () => {
  const file = $("photo").files[0];
  if (!file) return;
  try {
    const bitmap = await createImageBitmap(file);
    drawSquare(bitmap, bitmap.width, bitmap.height);
    bitmap.close();
  } catch {
    fail(`${file.name} is not an image this browser can read (PNG, JPEG or WebP).`);
    return;
  }
  await classify();
});

let stream = null;
$("camera").addEventListener("click", async () => {
  const status = $("camera-status");
  status.hidden = false;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
  } catch (error) {
    status.textContent = `No camera here (${error.name}): choose a photo instead.`;
    return;
  }
  $("video").srcObject = stream;
  $("video").hidden = false;
  $("snap").hidden = false;
  await $("video").play();
  status.textContent = "Point the camera, then take the photo.";
});
$("snap").addEventListener("click", async () => {
  const video = $("video");
  drawSquare(video, video.videoWidth, video.videoHeight);
  await classify();
});
$("variant").addEventListener("change", () => { if (state.runs) classify(); });

(async () => {
  try {
    await chooseBackend();
    await Promise.all([labels(), model($("variant").value)]);
    $("model-status").textContent = "ready";
  } catch (error) {
    $("model-status").textContent = "";
    fail(`The model did not load: ${error.message}`);
  }
})();
