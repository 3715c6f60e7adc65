// The compare page: one line per job on one chart, for the metric picked (any name the jobs'
// epoch events logged), per epoch (from 1) or per batch, against the epoch or the seconds since
// each job started. The stored points come in #compare-config (read by the page's view); an
// unfinished job is followed live (live.js) from the seq they end at. The picks live in the
// address bar (?metric=, x=time, batch=1), so a link reproduces the view.
import { batchValue } from "./chart_math.js";
import { anyReconnecting, live } from "./live.js";

const config = JSON.parse(document.getElementById("compare-config").textContent);
const $ = (id) => document.getElementById(id);
const PALETTE = ["#0b57d0", "#d93025", "#188038", "#e37400", "#9334e6", "#12b5cb", "#b06000", "#5f6368"];
const FINISHED = new Set(["succeeded", "failed", "cancelled"]);
const clockOffsetMs = config.server_now_ms - Date.now();
const metricPick = $("metric");
const axisPick = $("x-axis");
const perBatch = $("per-batch");
const chartNote = $("chart-note");
const batchMetrics = new Set(config.batch_metrics);

const query = new URLSearchParams(location.search);
// The usual metrics first, then the others alphabetically, as the page's view orders them.
const USUAL = ["loss", "val_loss", "accuracy", "val_accuracy"];
const rank = (name) => (USUAL.includes(name) ? `0${USUAL.indexOf(name)}` : `1${name}`);
function addMetric(name) {
  const options = [...metricPick.options];
  if (options.some((option) => option.value === name)) return;
  const before = options.find((option) => rank(option.value) > rank(name));
  const chosen = metricPick.value;
  metricPick.add(new Option(name, name), before ?? null);
  metricPick.value = chosen; // adding the first option would choose it
}
const wanted = query.get("metric");
if (wanted && config.metrics.includes(wanted)) metricPick.value = wanted;
else if (config.metrics.includes("val_loss")) metricPick.value = "val_loss";
axisPick.value = query.get("x") === "time" ? "time" : "epoch";
perBatch.checked = query.get("batch") === "1";

const chart = new Chart($("compare-chart"), {
  type: "line",
  data: {
    datasets: config.jobs.map((job, i) => ({
      label: job.label, data: [], borderColor: PALETTE[i % PALETTE.length], backgroundColor: PALETTE[i % PALETTE.length],
      borderWidth: 2, pointRadius: 2, tension: 0.1,
    })),
  },
  options: {
    animation: false, parsing: false, normalized: true, responsive: true, maintainAspectRatio: false,
    interaction: { mode: "nearest", intersect: false },
    scales: { x: { type: "linear", title: { display: true } }, y: { title: { display: true } } },
    plugins: { legend: { position: "bottom" } },
  },
});
window.playground = { chart, config, points: [] };

// Per batch, each point is the metric over the batches since the previous point (chart_math.js),
// not Keras' running mean since the epoch began.
function drawn(job, metric, batches, axis) {
  const x = (point) => (axis === "time" ? point.t : point.x);
  if (!batches) {
    return job.epochs.filter((point) => typeof point.logs[metric] === "number").map((point) => ({ x: x(point), y: point.logs[metric] }));
  }
  let previous = null;
  return job.batches.flatMap((point) => {
    const y = batchValue(previous, point, metric);
    if (y === null) return [];
    previous = { epoch: point.epoch, step: point.step, mean: point.logs[metric] };
    return [{ x: x(point), y }];
  });
}

function syncUrl() {
  const next = new URLSearchParams(location.search);
  next.set("metric", metricPick.value);
  if (axisPick.value === "time") next.set("x", "time"); else next.delete("x");
  if (perBatch.checked) next.set("batch", "1"); else next.delete("batch");
  history.replaceState(null, "", `?${next.toString().replaceAll("%2C", ",")}`);
}

function redraw() {
  const metric = metricPick.value;
  const hasBatches = batchMetrics.has(metric);
  perBatch.disabled = !hasBatches;
  const batches = perBatch.checked && hasBatches;
  const axis = axisPick.value;
  chart.data.datasets.forEach((dataset, i) => {
    dataset.data = drawn(config.jobs[i], metric, batches, axis);
    dataset.pointRadius = dataset.data.length > 100 ? 0 : 2;
  });
  const x = chart.options.scales.x;
  x.title.text = axis === "time" ? "seconds since the job started" : "epoch";
  x.min = axis === "time" ? 0 : batches ? 0 : 1;
  x.ticks = axis === "epoch" && !batches ? { precision: 0 } : {};
  chart.options.scales.y.title.text = metric;
  chart.update("none");
  window.playground.points = chart.data.datasets.map((dataset) => dataset.data.length);
  const notes = [];
  if (!metric) notes.push("No epoch has ended yet.");
  else if (!hasBatches) notes.push(`${metric} is logged once per epoch.`);
  else if (batches && config.jobs.some((job) => job.batch_count > config.max_batch_points)) {
    notes.push(`Batches thinned to ${config.max_batch_points} per job.`);
  }
  chartNote.textContent = notes.join(" ");
  if (metric) syncUrl();
}

let queued = false;
function redrawSoon() {
  if (queued) return;
  queued = true;
  requestAnimationFrame(() => { queued = false; redraw(); });
}

for (const control of [metricPick, axisPick, perBatch]) control.addEventListener("change", redraw);
redraw();

// Live: each unfinished job's new epochs and batches join its line; wall time by this
// page's clock, set to the server's.
const note = anyReconnecting($("connection"));
const secondsSince = (startedMs) => (Date.now() + clockOffsetMs - startedMs) / 1000;

function showStatus(column, status) {
  const cell = document.querySelector(`#results tr[data-result="status"] td:nth-of-type(${column + 1})`);
  if (cell) cell.textContent = status;
}

function follow(job, column) {
  const socket = live(`/ws/jobs/${job.id}/`, {
    after: job.after,
    onEvent: ({ type, data }) => {
      if (type === "status") {
        showStatus(column, data.status);
        if (data.status === "running" && !job.started_ms) job.started_ms = Date.now() + clockOffsetMs;
        if (FINISHED.has(data.status)) {
          socket.close();
          $("finished-note").hidden = false;
        }
        return;
      }
      if (type !== "epoch" && type !== "batch") return;
      const logs = Object.fromEntries(Object.entries(data.logs ?? {}).filter(([, v]) => typeof v === "number"));
      const t = job.started_ms ? Math.round(secondsSince(job.started_ms) * 1000) / 1000 : 0;
      if (type === "epoch") {
        job.epochs.push({ x: data.epoch, t, logs });
        Object.keys(logs).forEach(addMetric);
        if (!metricPick.value) metricPick.value = "val_loss" in logs ? "val_loss" : metricPick.options[0]?.value ?? "";
      } else if (data.steps) {
        job.batches.push({ x: data.epoch - 1 + data.step / data.steps, epoch: data.epoch, step: data.step, t, logs });
        // Thinned as the page's view thins stored ones: every other point once over twice the cap.
        if (job.batches.length > 2 * config.max_batch_points) {
          job.batches = job.batches.filter((_, i, all) => i % 2 === 0 || i === all.length - 1);
        }
        Object.keys(logs).forEach((name) => batchMetrics.add(name));
      }
      redrawSoon();
    },
    onState: note(job.id),
  });
}

config.jobs.forEach((job, column) => { if (!FINISHED.has(job.status)) follow(job, column); });
