// The job's generator draws a grid of samples in the browser; pick two tiles and the slider walks
// between their latent vectors (spherical interpolation, since latents are Gaussian).
const config = JSON.parse(document.getElementById("try-config").textContent);
const $ = (id) => document.getElementById(id);
const SIDE = 4;  // a 4x4 grid: big enough to choose from, small enough to redraw at once

let model = null;
let meta = null;        // {latent_dim, image_shape, grid_latents}
let latents = [];       // the grid's latent vectors (arrays of numbers)
let picks = [];         // indices of the (up to two) chosen tiles
let busy = false, again = false;

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function fmt(value, digits = 3) {
  return typeof value === "number" ? value.toFixed(digits) : "–";
}

// ---- generating ------------------------------------------------------------------------------

/** Images (Float32Array per sample, row-major in [0, 1]) for latent vectors, and the time taken. */
async function generate(vectors) {
  const start = performance.now();
  const output = tf.tidy(() => model.predict(tf.tensor2d(vectors.flat(), [vectors.length, meta.latent_dim])));
  const pixels = await output.data();
  output.dispose();
  const size = meta.image_shape[0] * meta.image_shape[1];
  const images = vectors.map((_, i) => pixels.subarray(i * size, (i + 1) * size));
  return { images, latencyMs: performance.now() - start };
}

function randomLatents(n) {
  return tf.tidy(() => tf.randomNormal([n, meta.latent_dim]).arraySync());
}

/** Spherical interpolation; falls back to a straight line when the two vectors are parallel. */
function slerp(a, b, t) {
  const norm = (v) => Math.hypot(...v);
  const cos = a.reduce((s, v, i) => s + v * b[i], 0) / (norm(a) * norm(b));
  const omega = Math.acos(Math.min(1, Math.max(-1, cos)));
  if (Math.abs(Math.sin(omega)) < 1e-6) return a.map((v, i) => (1 - t) * v + t * b[i]);
  const wa = Math.sin((1 - t) * omega) / Math.sin(omega), wb = Math.sin(t * omega) / Math.sin(omega);
  return a.map((v, i) => wa * v + wb * b[i]);
}

// ---- drawing ---------------------------------------------------------------------------------

function imageCanvas(pixels) {
  const [height, width] = meta.image_shape;
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d");
  const image = context.createImageData(width, height);
  pixels.forEach((v, i) => {
    const shade = 255 - Math.round(255 * Math.min(1, Math.max(0, v)));  // ink dark, as in the film
    image.data.set([shade, shade, shade, 255], 4 * i);
  });
  context.putImageData(image, 0, 0);
  return canvas;
}

function drawInto(target, pixels, x = 0, y = 0, w = target.width, h = target.height) {
  const context = target.getContext("2d");
  context.imageSmoothingEnabled = false;
  context.drawImage(imageCanvas(pixels), x, y, w, h);
}

let gridImages = [];

function drawGrid() {
  const canvas = $("grid");
  const context = canvas.getContext("2d");
  const tile = canvas.width / SIDE;
  context.fillStyle = "#fff";
  context.fillRect(0, 0, canvas.width, canvas.height);
  gridImages.forEach((pixels, i) => {
    const [row, col] = [Math.floor(i / SIDE), i % SIDE];
    drawInto(canvas, pixels, col * tile + 2, row * tile + 2, tile - 4, tile - 4);
  });
  context.lineWidth = 3;
  picks.forEach((i, k) => {
    context.strokeStyle = k === 0 ? "#0b57d0" : "#d93025";
    context.strokeRect((i % SIDE) * tile + 1.5, Math.floor(i / SIDE) * tile + 1.5, tile - 3, tile - 3);
  });
}

async function newGrid(vectors) {
  latents = vectors;
  picks = [];
  $("mix").disabled = true;
  $("picked").textContent = "none";
  const { images, latencyMs } = await generate(latents);
  gridImages = images;
  drawGrid();
  $("latency").textContent = `${latencyMs.toFixed(1)} ms for ${vectors.length} samples`;
  $("grid").dataset.draws = String(Number($("grid").dataset.draws || 0) + 1);
}

// ---- picking and sliding ---------------------------------------------------------------------

$("grid").addEventListener("click", (event) => {
  if (!model) return;
  const rect = $("grid").getBoundingClientRect();
  const col = Math.floor(((event.clientX - rect.left) / rect.width) * SIDE);
  const row = Math.floor(((event.clientY - rect.top) / rect.height) * SIDE);
  const index = row * SIDE + col;
  if (picks.includes(index)) return;
  picks = [...picks, index].slice(-2);
  drawGrid();
  $("picked").textContent = picks.map((i) => `#${i + 1}`).join(" → ");
  if (picks.length === 2) {
    drawInto($("from"), gridImages[picks[0]]);
    drawInto($("to"), gridImages[picks[1]]);
    $("mix").disabled = false;
    scheduleBetween();
  }
});

function scheduleBetween() {
  if (busy) { again = true; return; }
  busy = true;
  requestAnimationFrame(async () => {
    try {
      await drawBetween();
    } finally {
      busy = false;
      if (again) { again = false; scheduleBetween(); }
    }
  });
}

async function drawBetween() {
  if (picks.length < 2) return;
  const t = Number($("mix").value) / 100;
  const { images, latencyMs } = await generate([slerp(latents[picks[0]], latents[picks[1]], t)]);
  drawInto($("between"), images[0]);
  $("mix-value").textContent = t.toFixed(2);
  $("latency").textContent = `${latencyMs.toFixed(2)} ms a sample`;
  $("between").dataset.t = t.toFixed(2);
}

$("mix").addEventListener("input", scheduleBetween);
$("new-samples").addEventListener("click", () => model && newGrid(randomLatents(SIDE * SIDE)));

// ---- the model -------------------------------------------------------------------------------

async function loadVariant(variant) {
  $("grid").dataset.model = "";
  $("model-status").textContent = `loading ${variant}…`;
  showError("");
  let loaded;
  try {
    if (!meta) meta = await (await fetch(config.metaUrl)).json();
    loaded = await tf.loadLayersModel(config.variants[variant].url);
  } catch (error) {
    $("model-status").textContent = `${variant} failed to load`;
    showError(`Could not load the ${variant} generator (${error.message}). Reload the page, or pick another variant.`);
    return;
  }
  if (model) model.dispose();
  model = loaded;
  for (const id of ["from", "to", "between"]) [$(id).height, $(id).width] = meta.image_shape;
  tf.tidy(() => model.predict(tf.zeros([1, meta.latent_dim])));  // warm-up: compile kernels now
  const { bytes, maxAbsDiff } = config.variants[variant];
  $("model-status").textContent = `${variant}: ${(bytes / 1024).toFixed(1)} KB`
    + (maxAbsDiff != null ? `, max pixel error vs Keras ${fmt(maxAbsDiff, 4)}` : "");
  const keep = latents.length ? latents : meta.grid_latents.slice(0, SIDE * SIDE);
  const kept = picks;
  await newGrid(keep);
  picks = kept;  // switching variants keeps the chosen pair: compare their outputs directly
  drawGrid();
  if (picks.length === 2) { $("mix").disabled = false; scheduleBetween(); }
  $("grid").dataset.model = variant;
}

$("variant").addEventListener("change", () => loadVariant($("variant").value));
$("quality-confidence").textContent = fmt(config.quality.confidence);
$("quality-diversity").textContent = fmt(config.quality.diversity);

// For tests and benchmarks: the same generation path the page uses.
window.tryGan = { generate, slerp, loadVariant, get meta() { return meta; } };

await tf.ready();
$("backend").textContent = tf.getBackend();
await loadVariant($("variant").value);
