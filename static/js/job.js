// The live job page: one WebSocket (/ws/jobs/<id>/?after=<seq>, through live.js) feeds status,
// progress, charts, the epoch table, samples, test metrics and exports. A finished job renders
// the same way from its stored events; after a drop the page reconnects with the last seq and
// loses nothing.
import { batchValue, smooth } from "./chart_math.js";
import { live, showConnection } from "./live.js";
import { drawNetwork } from "./network_diagram.js";

const job = JSON.parse(document.getElementById("job-data").textContent);
const $ = (id) => document.getElementById(id);
// Where the page reads from: the owner's API and socket, or a share link's read-only URLs
// (/s/<token>/..., given in #job-urls; cancel is null there).
const urls = {
  job: `/api/v1/jobs/${job.id}/`, ws: `/ws/jobs/${job.id}/`, artifacts: `/api/v1/jobs/${job.id}/artifacts/`,
  cancel: `/api/v1/jobs/${job.id}/cancel/`,
  ...JSON.parse(document.getElementById("job-urls")?.textContent || "{}"),
};
const FINISHED = new Set(["succeeded", "failed", "cancelled"]);

const state = {
  lastSeq: 0,
  status: job.status,
  startedAt: job.started_at ? Date.parse(job.started_at) : null,
  epochs: new Map(), // epoch -> data
  bestEpoch: null,
  lastBatch: null, // {epoch, step, mean}: the last batch event drawn
  history: [], // every event, in seq order, for a replay
};
// Read by the browser tests, handy in the console too.
window.playground = { state, epochPoints: [], batchPoints: [] };

$("settings").textContent = JSON.stringify(
  { hyperparameters: job.hyperparameters, precision: job.precision, strategy: job.strategy,
    ran_with: job.run_info }, null, 1);

// Integers (a count of classes, an epoch) print as integers.
const fmt = (v, digits = 4) => (typeof v !== "number" ? "–" : Number.isInteger(v) ? String(v) : v.toFixed(digits));
const bytes = (n) => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(2)} MB` : `${(n / 1024).toFixed(1)} kB`);
const duration = (s) => {
  if (!isFinite(s) || s < 0) return "–";
  const m = Math.floor(s / 60);
  return m ? `${m} min ${Math.round(s % 60)} s` : `${s.toFixed(1)} s`;
};

const PALETTE = ["#0b57d0", "#d93025", "#188038", "#e37400", "#9334e6", "#12b5cb", "#b06000", "#5f6368"];

// Epoch k is drawn at x = k (the axis starts at 1); the loss chart's batches lie between, the
// first epoch's in (0, 1].
function lineChart(canvas, min) {
  return new Chart(canvas, {
    type: "line",
    data: { datasets: [] },
    options: {
      animation: false, parsing: false, normalized: true, responsive: true,
      scales: {
        x: { type: "linear", title: { display: true, text: "epoch" }, min, ticks: { precision: 0 } },
        y: { type: "linear", position: "left" },
        // Metrics that leave [0, 1] (a GAN's distinct classes, 0-10) get their own axis, so the
        // 0-1 ones do not flatten.
        wide: { type: "linear", position: "right", display: "auto", grid: { drawOnChartArea: false } },
      },
      plugins: { legend: { position: "bottom" } },
    },
  });
}

const lossChart = lineChart($("loss-chart"), 0);
const metricsChart = lineChart($("metrics-chart"), 1);
const BATCHES = "loss (per batch)";

// One dataset per log name, created when first seen: losses in one chart, the rest in the other.
function series(name, first = 0) {
  const chart = name.includes("loss") ? lossChart : metricsChart;
  let dataset = chart.data.datasets.find((d) => d.label === name);
  if (!dataset) {
    const color = name === BATCHES ? "rgba(11, 87, 208, .45)"
      : PALETTE[(chart.data.datasets.length + (name.startsWith("val_") ? 1 : 0)) % PALETTE.length];
    dataset = { label: name, data: [], raw: [], borderColor: color, backgroundColor: color, borderWidth: 2,
      pointRadius: name === BATCHES ? 0 : 2, borderDash: name.startsWith("val_") ? [5, 3] : [],
      yAxisID: chart === metricsChart && (first < 0 || first > 1) ? "wide" : "y" };
    if (name === BATCHES) dataset.borderWidth = 1;
    chart.data.datasets.push(dataset);
  }
  return dataset;
}

const view = { smoothing: Number($("smoothing")?.value || 0), log: false };

function push(dataset, point) {
  dataset.raw.push(point);
  if (view.smoothing) dataset.data = smooth(dataset.raw, view.smoothing);
  else dataset.data.push(point);
}

function restyle() {
  for (const chart of [lossChart, metricsChart]) {
    for (const dataset of chart.data.datasets) dataset.data = smooth(dataset.raw, view.smoothing);
  }
  lossChart.options.scales.y.type = view.log ? "logarithmic" : "linear";
  redraw();
}

$("replay").addEventListener("click", replay);
$("smoothing")?.addEventListener("input", (event) => {
  view.smoothing = Number(event.target.value);
  $("smoothing-value").textContent = view.smoothing.toFixed(2);
  restyle();
});
$("log-scale")?.addEventListener("change", (event) => {
  view.log = event.target.checked;
  restyle();
});

let redrawQueued = false;
function redraw() {
  if (redrawQueued) return;
  redrawQueued = true;
  requestAnimationFrame(() => {
    redrawQueued = false;
    lossChart.update("none");
    metricsChart.update("none");
  });
}

function showStatus(status) {
  state.status = status;
  document.dispatchEvent(new CustomEvent("job-status", { detail: status }));
  $("status").textContent = status;
  $("status").className = `badge status-${status}`;
  if ($("cancel")) $("cancel").hidden = FINISHED.has(status);
  const tryLink = $("try-link");
  if (tryLink) tryLink.hidden = status !== "succeeded";
  if (status === "running" && !state.startedAt) state.startedAt = Date.now();
  if (FINISHED.has(status)) {
    $("progress-text").textContent = status === "succeeded" ? "finished" : status;
    if (status === "succeeded") $("progress").value = 1;
  }
}

function banner(text, kind) {
  const el = $("banner");
  el.hidden = false;
  el.className = `banner banner-${kind}`;
  el.textContent = text;
}

function showProgress({ epoch, epochs, step, steps, samples_per_s }) {
  if (!epochs) return;
  const done = Math.min(1, ((epoch - 1) + (steps ? step / steps : 1)) / epochs);
  $("progress").value = done;
  let text = `epoch ${epoch}/${epochs}` + (steps ? ` · step ${step}/${steps}` : "");
  if (samples_per_s) text += ` · ${Math.round(samples_per_s)} samples/s`;
  if (state.startedAt && done > 0 && !FINISHED.has(state.status)) {
    const elapsed = (Date.now() - state.startedAt) / 1000;
    text += ` · ETA ${duration((elapsed * (1 - done)) / done)}`;
  }
  $("progress-text").textContent = text;
}

function drawBatch(data) {
  const x = data.epoch - 1 + data.step / data.steps;
  const loss = batchValue(state.lastBatch, data);
  if (loss === null) return null;
  state.lastBatch = { epoch: data.epoch, step: data.step, mean: data.logs.loss };
  push(series(BATCHES), { x, y: loss });
  redraw();
  return { x, loss };
}

function drawEpoch(data) {
  for (const [name, value] of Object.entries(data.logs || {})) {
    if (typeof value === "number" && isFinite(value)) push(series(name, value), { x: data.epoch, y: value });
  }
  redraw();
}

function onBatch(data) {
  const point = drawBatch(data);
  if (point) window.playground.batchPoints.push(point);
  if (!FINISHED.has(state.status)) showProgress(data);
}

// Replay: a finished job's curves drawn again at a pace a person can follow (an epoch every
// 300 ms, its batches between), from the events this page already has. ?replay starts it.
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function replay() {
  const button = $("replay");
  button.disabled = true;
  for (const chart of [lossChart, metricsChart]) {
    for (const dataset of chart.data.datasets) {
      dataset.raw = [];
      dataset.data = [];
    }
  }
  state.lastBatch = null;
  redraw();
  const events = state.history.filter((m) => m.type === "batch" || m.type === "epoch");
  const batchesPerEpoch = Math.max(1, events.filter((m) => m.type === "batch").length / Math.max(1, state.epochs.size));
  for (const message of events) {
    await pause(message.type === "epoch" ? 300 : Math.max(10, 300 / batchesPerEpoch));
    if (message.type === "batch") drawBatch(message.data);
    else drawEpoch(message.data);
  }
  button.disabled = false;
}

function epochColumns(logs) {
  if (state.columns) return state.columns;
  state.columns = Object.keys(logs);
  const head = $("epochs-head");
  head.replaceChildren(...["epoch", ...state.columns, "time", ""].map((text) => {
    const th = document.createElement("th");
    th.textContent = text;
    return th;
  }));
  return state.columns;
}

function onEpoch(data) {
  const logs = data.logs || {};
  state.epochs.set(data.epoch, data);
  drawEpoch(data);
  window.playground.epochPoints.push({ epoch: data.epoch, ...logs });
  if (data.best_epoch) state.bestEpoch = data.best_epoch;

  const row = document.createElement("tr");
  row.dataset.epoch = data.epoch;
  const values = [data.epoch, ...epochColumns(logs).map((name) => fmt(logs[name])), duration(data.duration_s), ""];
  for (const value of values) {
    const cell = document.createElement("td");
    cell.textContent = value;
    row.append(cell);
  }
  $("epochs").append(row);
  markBest();
  if (!FINISHED.has(state.status)) showProgress({ ...data, step: null, steps: null });
  redraw();
}

function markBest() {
  for (const row of $("epochs").rows) {
    const best = Number(row.dataset.epoch) === state.bestEpoch;
    row.classList.toggle("best", best);
    row.cells[row.cells.length - 1].textContent = best ? "★ best" : "";
  }
}

// Sample events by shape: translations → a table, image → a film with an epoch slider,
// predictions → text, anything else → JSON.
const film = [];

function onSample(data) {
  $("sample-box").hidden = false;
  const extra = ["accuracy", "bleu"].filter((k) => typeof data[k] === "number").map((k) => `${k} ${fmt(data[k], 3)}`);
  $("sample-caption").textContent = [`after epoch ${data.epoch}`, ...extra].join(" · ");
  const box = $("sample");
  if (Array.isArray(data.translations)) {
    const table = document.createElement("table");
    table.className = "translations";
    table.innerHTML = "<thead><tr><th>German</th><th>reference</th><th>model</th></tr></thead>";
    const body = document.createElement("tbody");
    for (const t of data.translations) {
      const row = document.createElement("tr");
      for (const text of [t.source, t.reference, t.hypothesis]) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.append(cell);
      }
      body.append(row);
    }
    table.append(body);
    box.replaceChildren(table);
  } else if (typeof data.image === "string") {
    film.push(data);
    showFilm(film.length - 1);
  } else if (Array.isArray(data.predictions)) {
    box.textContent = data.predictions.join(" ");
  } else {
    box.textContent = JSON.stringify(data, null, 1);
  }
}

function showFilm(index) {
  let slider = $("film-slider");
  if (!slider) {
    const image = document.createElement("img");
    image.id = "film-frame";
    image.alt = "generated samples";
    slider = document.createElement("input");
    slider.type = "range";
    slider.id = "film-slider";
    slider.min = 0;
    slider.addEventListener("input", () => showFrame(Number(slider.value)));
    const label = document.createElement("span");
    label.id = "film-label";
    // Play the epochs as a film: frames per second from the speed menu, from the first frame
    // again when it is at the last.
    const play = Object.assign(document.createElement("button"), { type: "button", id: "film-play", textContent: "▶ Play" });
    const speed = document.createElement("select");
    speed.id = "film-speed";
    speed.setAttribute("aria-label", "Frames per second");
    speed.append(...[1, 2, 5, 10].map((fps) => new Option(`${fps} / s`, fps, false, fps === 2)));
    let timer = null;
    const pause = () => {
      clearInterval(timer);
      timer = null;
      play.textContent = "▶ Play";
    };
    const start = () => {
      if (Number(slider.value) >= Number(slider.max)) slider.value = 0;
      showFrame(Number(slider.value));
      timer = setInterval(() => {
        if (Number(slider.value) >= Number(slider.max)) return pause();
        slider.value = Number(slider.value) + 1;
        showFrame(Number(slider.value));
      }, 1000 / Number(speed.value));
      play.textContent = "❚❚ Pause";
    };
    play.addEventListener("click", () => (timer ? pause() : start()));
    speed.addEventListener("change", () => { if (timer) { pause(); start(); } });
    slider.addEventListener("pointerdown", pause);
    const controls = document.createElement("p");
    controls.className = "film-controls";
    controls.append(play, " ", speed, " ", slider, label);
    $("sample").replaceChildren(image, controls);
  }
  const following = Number(slider.value) === Number(slider.max) || slider.max === "";
  slider.max = film.length - 1;
  if (following) {
    slider.value = index;
    showFrame(index);
  }
}

function showFrame(index) {
  const frame = film[index];
  $("film-frame").src = frame.image;
  $("film-label").textContent = ` epoch ${frame.epoch}`;
}

function onLog({ message = "", warning }) {
  if (warning) banner(message, "warning");
  else if (message.startsWith("Early stopping")) banner(message, "info");
  // Until the first batch, the state line is what the worker last said ("quality judge ready
  // in 2.0 s", "mixed_float16 needs a GPU; runs in float32").
  if (!state.epochs.size && !state.lastBatch && !FINISHED.has(state.status) && message) {
    $("progress-text").textContent = message;
  }
}

function onArtifact(a) {
  $("exports-box").hidden = false;
  const row = document.createElement("tr");
  row.dataset.variant = `${a.kind}-${a.variant}`;
  const links = (a.files || [a.path]).map((file) => {
    const link = document.createElement("a");
    link.href = `${urls.artifacts}${file}`;
    link.textContent = file.split("/").pop();
    link.download = "";
    return link;
  });
  // Whatever the export measured on its reloaded files: accuracy, BLEU, RMSE, ...
  const measured = Object.entries(a).filter(([k, v]) => typeof v === "number" && k !== "bytes")
    .map(([k, v]) => `${k} ${fmt(v)}`).join(", ") || "–";
  const label = ({ tfjs: "TF.js", keras: "Keras", json: "JSON" })[a.kind] || a.kind;
  for (const value of [a.model ? `${label} ${a.model}` : label, a.variant, bytes(a.bytes), measured]) {
    const cell = document.createElement("td");
    cell.textContent = value;
    row.append(cell);
  }
  const files = document.createElement("td");
  links.forEach((link, i) => files.append(...(i ? [" ", link] : [link])));
  row.append(files);
  $("exports").append(row);
}

function onFinalStatus(data) {
  if (data.status === "failed") banner(`Failed: ${data.error || "see the event stream"}`, "error");
  if (data.status === "cancelled") banner("Cancelled.", "info");
  // A job that ended before its first batch has nothing to chart.
  const drawn = [lossChart, metricsChart].some((chart) => chart.data.datasets.some((d) => d.raw.length));
  if (FINISHED.has(data.status)) {
    $("charts").hidden = !drawn;
    $("epochs-box").hidden = !state.epochs.size;
    $("replay").hidden = !drawn;
    if (drawn && new URLSearchParams(location.search).has("replay") && !state.replayed) {
      state.replayed = true;
      replay();
    }
  }
  if ($("retry")) $("retry").hidden = !["failed", "cancelled"].includes(data.status);
}

function showTestMetrics(metrics) {
  if (!metrics) return;
  $("test-box").hidden = false;
  $("test-metrics").textContent = Object.entries(metrics).map(([k, v]) => `${k} ${fmt(v)}`).join(" · ");
}

function appendRaw(message) {
  const row = document.createElement("tr");
  row.dataset.seq = message.seq;
  row.dataset.type = message.type;
  for (const value of [message.seq, message.type]) {
    const cell = document.createElement("td");
    cell.textContent = value;
    row.append(cell);
  }
  const cell = document.createElement("td");
  const code = document.createElement("code");
  code.textContent = JSON.stringify(message.data);
  cell.append(code);
  row.append(cell);
  $("events").append(row);
  $("event-count").textContent = message.seq;
}

function onSnapshot(snapshot) {
  if (snapshot.started_at) state.startedAt = Date.parse(snapshot.started_at);
  // A final status waits for its own status event, which the replay behind the snapshot
  // brings after the epochs this page has not seen yet.
  if (!FINISHED.has(snapshot.status)) showStatus(snapshot.status);
  showTestMetrics(snapshot.test_metrics);
}

function onEvent(message) {
  state.lastSeq = message.seq;
  state.history.push(message);
  appendRaw(message);
  const data = message.data;
  switch (message.type) {
    case "status": showStatus(data.status); onFinalStatus(data); break;
    case "batch": onBatch(data); break;
    case "epoch": onEpoch(data); break;
    case "sample": onSample(data); break;
    case "log": onLog(data); break;
    case "artifact": onArtifact(data); break;
  }
  if (message.type === "status" && data.status === "succeeded") refreshTestMetrics();
}

async function refreshTestMetrics() {
  const response = await fetch(urls.job, { headers: { Accept: "application/json" } });
  if (response.ok) showTestMetrics((await response.json()).test_metrics);
}

// Retry: the same spec as a new job (quotas and limits apply as to any submission).
$("retry")?.addEventListener("click", async () => {
  $("retry").disabled = true;
  const spec = { recipe: job.recipe, dataset: job.dataset, hyperparameters: job.hyperparameters, engine: job.engine,
    precision: job.precision, strategy: job.strategy, gpus: job.gpus,
    ...(job.parent ? { parent: { job: job.parent, freeze: job.freeze || "none",
      epoch: /^\d+$/.test(job.parent_epoch) ? Number(job.parent_epoch) : job.parent_epoch || "best" } } : {}) };
  const response = await fetch("/api/v1/jobs/", {
    method: "POST", credentials: "same-origin", body: JSON.stringify(spec),
    headers: { "Content-Type": "application/json", Accept: "application/json",
      "X-CSRFToken": document.querySelector("[name=csrfmiddlewaretoken]").value },
  });
  const body = await response.json().catch(() => ({}));
  if (response.ok) {
    location.href = `/jobs/${body.id}/`;
  } else {
    banner(`Could not retry: ${body.detail || JSON.stringify(body)}`, "error");
    $("retry").disabled = false;
  }
});

$("cancel")?.addEventListener("click", async () => {
  $("cancel").disabled = true;
  const csrf = document.querySelector("[name=csrfmiddlewaretoken]").value;
  const response = await fetch(urls.cancel, { method: "POST", headers: { "X-CSRFToken": csrf } });
  if (!response.ok) {
    banner(`Could not cancel: ${(await response.json()).detail || response.status}`, "error");
    $("cancel").disabled = false;
  } else {
    $("cancel").textContent = "Cancelling…";
  }
});

// ---- a browser job (docs/browser-training.md) ----------------------------------------------
// A queued one is claimed and trained by this tab (./browser_engine.js); its events come back
// through the socket like a worker's. A running one trains in another tab, or that tab went
// away (browser_stopped) and the job can continue on a server worker.
const csrf = () => document.querySelector("[name=csrfmiddlewaretoken]").value;

function showEngine(text) {
  $("engine-box").hidden = false;
  $("engine-text").textContent = text;
}

function engineText({ state: phase, backend, samplesPerS }) {
  const speed = samplesPerS ? ` · ${Math.round(samplesPerS)} samples/s` : "";
  switch (phase) {
    case "claiming": return "Claiming this job for this browser…";
    case "loading": return "Loading the model and the data into this browser…";
    case "training": return `Training in this browser on ${backend}${speed}. Keep this tab open.`;
    case "uploading": return `Trained in this browser on ${backend}${speed}; the server is testing and exporting the weights…`;
    case "finished": return `Trained in this browser on ${backend}${speed}.`;
    case "stopping": case "stopped": return "Stopped in this browser after the cancel.";
    default: return phase;
  }
}

async function trainHere() {
  // times: when each phase began (ms since the page loaded), for the tests and benchmarks.
  const engine = { state: "claiming", backend: null, samplesPerS: null, error: null, times: {} };
  window.playground.engine = engine;
  const update = (changes) => {
    Object.assign(engine, changes);
    engine.times[engine.state] ??= Math.round(performance.now());
    showEngine(engineText(engine));
  };
  update({});
  try {
    const { trainInBrowser } = await import("./browser_engine.js");
    const result = await trainInBrowser(job.id, {
      csrf: csrf(), backend: new URLSearchParams(location.search).get("backend"),
      onState: (phase) => update({ state: phase }),
      onBackend: (backend) => update({ backend }),
      onSpeed: (samplesPerS) => update({ samplesPerS }),
    });
    if (result === "taken") return watchOtherBrowser();
    update({ state: result });
  } catch (error) {
    update({ state: "failed", error: error.message });
    showEngine("Training in this browser stopped.");
    banner(`Training in this browser stopped: ${error.message}`, "error");
  }
}

// Another tab trains it: the job says when that tab has gone quiet.
async function watchOtherBrowser() {
  showEngine("Training in another browser.");
  while (!FINISHED.has(state.status)) {
    await new Promise((resolve) => setTimeout(resolve, 5000));
    const response = await fetch(urls.job, { headers: { Accept: "application/json" } });
    if (!response.ok) continue;
    const current = await response.json();
    if (current.engine !== "browser") return;
    if (current.browser_stopped) return showStopped(current.browser_stopped);
  }
}

function showStopped({ epoch }) {
  showEngine(`The browser stopped at epoch ${epoch}.`);
  const button = $("continue");
  button.hidden = false;
  button.addEventListener("click", async () => {
    button.disabled = true;
    const response = await fetch(`/api/v1/jobs/${job.id}/continue/`, { method: "POST", headers: { "X-CSRFToken": csrf() } });
    if (response.ok) {
      button.hidden = true;
      showEngine(`The browser stopped at epoch ${epoch}; continuing on a server worker from there.`);
    } else {
      banner(`Could not continue on a server worker: ${(await response.json().catch(() => ({}))).detail || response.status}`, "error");
      button.disabled = false;
    }
  });
}

// The network, drawn when first opened (a diagram builds the model on the server).
$("network-box").addEventListener("toggle", () => {
  if ($("network-box").open && !$("network-diagram").dataset.state) {
    drawNetwork($("network-diagram"), { recipe: job.recipe, dataset: job.dataset, hyperparameters: job.hyperparameters });
  }
});

showStatus(job.status);
window.playground.live = live(urls.ws, { after: 0, onSnapshot, onEvent, onState: showConnection($("connection")) });
if (job.engine === "browser" && $("engine-box")) {
  if (job.browser_stopped) showStopped(job.browser_stopped);
  else if (job.status === "queued") trainHere();
  else if (job.status === "running") watchOtherBrowser();
  else if (job.status === "succeeded") showEngine("Trained in a browser.");
}
