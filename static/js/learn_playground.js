// /learn/playground/: TensorFlow Playground on this site's jobs. The setup lives in the query;
// Train submits it as a job (POST /api/v1/jobs/) on the chosen engine, this tab trains it when
// the engine is the browser (browser_engine.js), and the page draws what the job's events say
// (live.js): each neuron's picture and the decision boundary from the sample events' probe
// outputs, the losses from the epoch events. A worker's job and a tab's draw alike.
import { agreement, drawPoints, paint, probability, unitValues } from "./boundary_view.js";
import { live } from "./live.js";

const config = JSON.parse(document.getElementById("pg-config").textContent);
const hp = config.hyperparameters;
const $ = (id) => document.getElementById(id);
const csrf = document.querySelector("[name=csrfmiddlewaretoken]").value;
const FEATURE_LABELS = { x1: "X₁", x2: "X₂", x1_squared: "X₁²", x2_squared: "X₂²", x1_x2: "X₁·X₂", sin_x1: "sin X₁", sin_x2: "sin X₂" };
const LEARNING_RATES = [0.00001, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10];
const REGULARIZATION_RATES = [0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10];
const MAX_NEURONS = hp.hidden_layers.max;
const MAX_LAYERS = hp.hidden_layers.max_items;
const FINISHED = new Set(["succeeded", "failed", "cancelled"]);

// ---- the setup, in the address bar ---------------------------------------------------------

const defaults = {
  dataset: config.default_dataset, engine: "browser",
  ...Object.fromEntries(Object.entries(hp).map(([name, schema]) => [name, schema.default])),
};
const state = { ...defaults };
const query = new URLSearchParams(location.search);
const BACKEND = query.get("backend"); // a TF.js backend to train on instead of the fastest (tests)
for (const [name, value] of query) {
  if (!(name in defaults)) continue;
  if (Array.isArray(defaults[name])) state[name] = value.split(",").filter(Boolean).map((v) => (hp[name].type === "int_list" ? Number(v) : v));
  else if (typeof defaults[name] === "number") state[name] = Number(value);
  else state[name] = value;
}

function syncUrl() {
  const out = new URLSearchParams();
  for (const [name, value] of Object.entries(state)) {
    const text = Array.isArray(value) ? value.join(",") : String(value);
    const base = Array.isArray(defaults[name]) ? defaults[name].join(",") : String(defaults[name]);
    if (text !== base) out.set(name, text);
  }
  const search = out.toString();
  history.replaceState(null, "", search ? `?${search}` : location.pathname);
}

function set(name, value) {
  state[name] = value;
  syncUrl();
}

// ---- controls ------------------------------------------------------------------------------

function options(select, values, current, label = String) {
  select.replaceChildren(...values.map((value) => new Option(label(value), value, false, String(value) === String(current))));
  if (!values.map(String).includes(String(current))) select.add(new Option(label(current), current, false, true));
}

function buildControls() {
  $("pg-datasets").replaceChildren(...config.datasets.map((name) => {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = name[0].toUpperCase() + name.slice(1);
    button.dataset.dataset = name;
    button.setAttribute("role", "radio");
    button.addEventListener("click", () => { set("dataset", name); refreshData(); });
    return button;
  }));
  $("pg-features").replaceChildren(...config.features.map((name) => {
    const label = document.createElement("label");
    label.className = "pg-check";
    const box = document.createElement("input");
    box.type = "checkbox";
    box.value = name;
    box.addEventListener("change", () => {
      const chosen = config.features.filter((f) => (f === name ? box.checked : state.features.includes(f)));
      if (!chosen.length) { box.checked = true; return; } // a network needs an input
      set("features", chosen);
      drawNetwork();
    });
    label.append(box, ` ${FEATURE_LABELS[name] || name}`);
    return label;
  }));
  options($("pg-learning_rate"), LEARNING_RATES, state.learning_rate);
  options($("pg-regularization_rate"), REGULARIZATION_RATES, state.regularization_rate);
  options($("pg-optimizer"), hp.optimizer.choices, state.optimizer);
  options($("pg-activation"), hp.activation.choices, state.activation);
  options($("pg-regularization"), hp.regularization.choices, state.regularization);
  for (const name of ["learning_rate", "regularization_rate", "batch_size", "epochs"]) {
    $(`pg-${name}`).value = state[name];
    $(`pg-${name}`).addEventListener("change", (event) => set(name, Number(event.target.value)));
  }
  $("pg-epochs").addEventListener("change", () => { if (!run) resetChart(); });
  for (const name of ["optimizer", "activation", "regularization"]) {
    $(`pg-${name}`).addEventListener("change", (event) => set(name, event.target.value));
  }
  for (const radio of document.querySelectorAll("input[name=engine]")) {
    radio.checked = radio.value === state.engine;
    radio.addEventListener("change", () => set("engine", radio.value));
  }
  const slider = (id, name, show) => {
    $(id).value = state[name];
    $(`${id}-value`).textContent = show(state[name]);
    $(id).addEventListener("input", (event) => { $(`${id}-value`).textContent = show(Number(event.target.value)); });
    $(id).addEventListener("change", (event) => { set(name, Number(event.target.value)); refreshData(); });
  };
  slider("pg-noise", "noise", (v) => `${Math.round(v * 100)} %`);
  slider("pg-test", "test_ratio", (v) => `${Math.round(v * 100)} %`);
  options($("pg-points"), [100, 250, 500, 1000, 2000], state.points);
  $("pg-points").addEventListener("change", (event) => { set("points", Number(event.target.value)); refreshData(); });
  $("pg-regenerate").addEventListener("click", () => { set("seed", Math.floor(Math.random() * 100000)); refreshData(); });
  $("pg-show-test").addEventListener("change", drawOutput);
  $("pg-add-layer").addEventListener("click", () => {
    if (state.hidden_layers.length < MAX_LAYERS) set("hidden_layers", [...state.hidden_layers, 2]);
    drawNetwork();
  });
  $("pg-remove-layer").addEventListener("click", () => {
    set("hidden_layers", state.hidden_layers.slice(0, -1));
    drawNetwork();
  });
  $("pg-play").addEventListener("click", train);
  $("pg-stop").addEventListener("click", stop);
}

// ---- data and pictures ---------------------------------------------------------------------

let points = { train: [], test: [] };
let sample = null; // the latest sample event's data: {epoch, probe: [{layer, units, values}]}

async function refreshData() {
  for (const button of $("pg-datasets").children) button.setAttribute("aria-checked", String(button.dataset.dataset === state.dataset));
  const params = new URLSearchParams({ dataset: state.dataset, points: state.points, noise: state.noise,
    test_ratio: state.test_ratio, seed: state.seed });
  const response = await fetch(`/learn/playground/points/?${params}`);
  if (response.ok) points = await response.json();
  sample = null;
  drawOutput();
  drawNetwork();
}

function drawOutput() {
  const canvas = $("pg-canvas");
  const output = sample?.probe.at(-1);
  if (output) {
    paint(canvas, unitValues(output, output.units - 1), config.grid, probability);
  } else {
    canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
  }
  drawPoints(canvas, points.train, config.extent);
  if ($("pg-show-test").checked) drawPoints(canvas, points.test, config.extent, { test: true });
  canvas.dataset.epoch = sample?.epoch ?? 0;
  canvas.dataset.trainAgreement = output ? agreement(points.train, output, config.grid, config.extent).toFixed(3) : "";
}

// The network as columns of neurons: the inputs by name, then each hidden layer's neurons, each
// a small picture of its output over the square once a sample has arrived. +/− change a layer's
// width; the pictures belong to the run that drew them.
function drawNetwork() {
  for (const box of $("pg-features").querySelectorAll("input")) box.checked = state.features.includes(box.value);
  const columns = state.hidden_layers.map((units, index) => {
    const column = document.createElement("div");
    column.className = "pg-layer";
    const controls = document.createElement("p");
    controls.className = "pg-layer-controls";
    const more = Object.assign(document.createElement("button"), { type: "button", className: "pg-small", textContent: "+" });
    const fewer = Object.assign(document.createElement("button"), { type: "button", className: "pg-small", textContent: "−" });
    more.setAttribute("aria-label", `More neurons in layer ${index + 1}`);
    fewer.setAttribute("aria-label", `Fewer neurons in layer ${index + 1}`);
    more.addEventListener("click", () => resize(index, 1));
    fewer.addEventListener("click", () => resize(index, -1));
    controls.append(more, fewer, ` ${units} neuron${units === 1 ? "" : "s"}`);
    column.append(controls);
    const layer = sample?.probe[index];
    for (let unit = 0; unit < units; unit++) {
      const neuron = document.createElement("canvas");
      neuron.width = neuron.height = 48;
      neuron.className = "pg-neuron";
      neuron.title = `Layer ${index + 1}, neuron ${unit + 1}`;
      if (layer && layer.units === units) {
        paint(neuron, unitValues(layer, unit), config.grid);
        neuron.dataset.drawn = "true";
      }
      column.append(neuron);
    }
    return column;
  });
  $("pg-layers").replaceChildren(...columns);
  const widths = [state.features.length, ...state.hidden_layers, 2];
  $("pg-shape").textContent = `${widths.join(" → ")} · ${widths.slice(1).reduce((sum, w, i) => sum + widths[i] * w + w, 0)} weights`;
}

function resize(index, step) {
  const layers = [...state.hidden_layers];
  layers[index] = Math.max(1, Math.min(MAX_NEURONS, layers[index] + step));
  set("hidden_layers", layers);
  drawNetwork();
}

// ---- a run ---------------------------------------------------------------------------------

let chart = null;
let run = null; // {job, socket}

function resetChart() {
  chart?.destroy();
  chart = new globalThis.Chart($("pg-chart"), {
    type: "line",
    data: { datasets: [
      { label: "train loss", data: [], borderColor: "#0877bd", pointRadius: 0, borderWidth: 2 },
      { label: "validation loss", data: [], borderColor: "#f59322", pointRadius: 0, borderWidth: 2 },
    ] },
    options: { animation: false, maintainAspectRatio: false, parsing: false,
      scales: { x: { type: "linear", min: 1, max: state.epochs, title: { display: true, text: "epoch" } },
        y: { beginAtZero: true } } },
  });
}

function status(text) {
  $("pg-status").textContent = text;
}

function showErrors(errors) {
  const list = $("pg-errors");
  const lines = Object.entries(errors).flatMap(([field, messages]) => (typeof messages === "object" && !Array.isArray(messages)
    ? Object.entries(messages).map(([name, inner]) => `${name}: ${[].concat(inner).join(" ")}`)
    : [`${field}: ${[].concat(messages).join(" ")}`]));
  list.replaceChildren(...lines.map((line) => Object.assign(document.createElement("li"), { textContent: line })));
  list.hidden = !lines.length;
}

function onEvent({ type, data }) {
  if (type === "epoch") {
    $("pg-epoch").textContent = `${data.epoch} / ${data.epochs}`;
    $("pg-loss").textContent = data.logs.loss.toFixed(3);
    if (data.logs.val_loss !== undefined) $("pg-val-loss").textContent = data.logs.val_loss.toFixed(3);
    chart.data.datasets[0].data.push({ x: data.epoch, y: data.logs.loss });
    chart.data.datasets[1].data.push({ x: data.epoch, y: data.logs.val_loss });
    chart.update();
  } else if (type === "sample" && data.probe) {
    showSample(data);
  } else if (type === "status") {
    finished(data.status, data.error);
  } else if (type === "error") {
    status(`Failed: ${data.message || data.error || "see the job page"}.`);
  }
}

function showSample(data) {
  if (sample && data.epoch < sample.epoch) return;
  sample = data;
  drawOutput();
  drawNetwork();
}

function finished(jobStatus, error) {
  if (!run) return;
  const link = `job #${run.job.id}`;
  if (!FINISHED.has(jobStatus)) {
    status(`${jobStatus === "running" ? "Training" : "Waiting"} (${link}, ${run.job.engine === "browser" ? "this browser" : "a server worker"})…`);
    return;
  }
  $("pg-status").replaceChildren(`${jobStatus[0].toUpperCase()}${jobStatus.slice(1)}${error ? `: ${error}` : ""} · `,
    Object.assign(document.createElement("a"), { href: `/jobs/${run.job.id}/`, textContent: `open ${link}` }));
  $("pg").dataset.job = run.job.id;
  $("pg").dataset.status = jobStatus;
  $("pg-play").disabled = false;
  $("pg-stop").disabled = true;
  run.socket.close();
}

async function train() {
  if (!config.logged_in) {
    location.href = `/accounts/login/?next=${encodeURIComponent(location.pathname + location.search)}`;
    return;
  }
  showErrors({});
  const { dataset, engine, ...rest } = state;
  const hyperparameters = Object.fromEntries(Object.entries(rest).filter(([name]) => name in hp));
  $("pg-play").disabled = true;
  status("Submitting…");
  const response = await fetch("/api/v1/jobs/", {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf },
    body: JSON.stringify({ recipe: config.recipe, dataset, engine, hyperparameters }),
  });
  const body = await response.json().catch(() => ({ detail: `${response.status} ${response.statusText}` }));
  if (!response.ok) {
    showErrors(typeof body.detail === "string" ? { submission: body.detail } : body);
    status("Not started.");
    $("pg-play").disabled = false;
    return;
  }
  $("pg").dataset.status = body.status;
  delete $("pg").dataset.job;
  sample = null;
  resetChart();
  drawOutput();
  drawNetwork();
  $("pg-stop").disabled = false;
  run = { job: body, socket: live(`/ws/jobs/${body.id}/`, { after: 0, onEvent, onSnapshot: (s) => finished(s.status, s.error) }) };
  if (engine === "browser") trainHere(body);
}

async function trainHere(job) {
  const { trainInBrowser } = await import("./browser_engine.js");
  try {
    await trainInBrowser(job.id, { csrf, onProbe: showSample, backend: BACKEND });
  } catch (error) {
    status(`This browser stopped: ${error.message}`);
    $("pg-play").disabled = false;
  }
}

async function stop() {
  if (!run) return;
  $("pg-stop").disabled = true;
  await fetch(`/api/v1/jobs/${run.job.id}/cancel/`, { method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrf } });
}

buildControls();
syncUrl();
resetChart();
refreshData();
