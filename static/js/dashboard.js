// The staff dashboard. One socket (/ws/dashboard/, through live.js) sends whole snapshots: on
// connect, after job events (at most twice a second) and every 2 s. Each snapshot updates the
// tables in place, rows keyed by job id or hostname, so a button under the pointer is never
// replaced mid-click. Actions go to the REST API (session + CSRF), then ask the socket for a
// fresh snapshot.
import { live, showConnection } from "./live.js";

const $ = (id) => document.getElementById(id);
const state = {
  snapshots: 0, snapshot: null, live: null,
  get socket() { return this.live?.socket; }, // the WebSocket open now
};
window.dashboard = { state }; // read by the browser tests, handy in the console too

function time(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  return date.toDateString() === new Date().toDateString() ? date.toLocaleTimeString() : date.toLocaleString();
}
function ago(iso, now) {
  if (!iso) return "never";
  const s = Math.max(0, (Date.parse(now) - Date.parse(iso)) / 1000);
  if (s < 90) return `${Math.round(s)} s ago`;
  return s < 5400 ? `${Math.round(s / 60)} min ago` : `${(s / 3600).toFixed(1)} h ago`;
}

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

// Replaces a cell's content only when its key (the text, or a given signature) changed.
function fill(cell, content, key = String(content)) {
  if (cell.dataset.key === key) return;
  cell.dataset.key = key;
  if (typeof content === "function") cell.replaceChildren(...content());
  else cell.textContent = String(content);
}

// The rows of `tbody`, one per item in order, keyed by `keyOf(item)`; `render(row, item)` fills one.
function syncRows(tbody, items, keyOf, columns, render) {
  const stale = new Map([...tbody.rows].map((row) => [row.dataset.key, row]));
  items.forEach((item, i) => {
    const key = String(keyOf(item));
    let row = stale.get(key);
    stale.delete(key);
    if (!row) {
      row = tbody.insertRow(-1);
      row.dataset.key = key;
      for (let c = 0; c < columns; c++) row.insertCell();
    }
    render(row, item);
    if (tbody.rows[i] !== row) tbody.insertBefore(row, tbody.rows[i] || null);
  });
  for (const row of stale.values()) row.remove();
}

function progressText({ epoch, epochs, step, steps }) {
  if (!epochs) return "–";
  return `epoch ${epoch || 0}/${epochs}` + (steps ? ` · step ${step}/${steps}` : "");
}

function progressValue({ epoch, epochs, step, steps }) {
  if (!epochs || !epoch) return 0;
  return Math.min(1, (epoch - 1 + (steps ? step / steps : 1)) / epochs);
}

const ACTIONS = [
  ["cancel", "Cancel", (job) => ["queued", "running"].includes(job.status) && !job.cancel_requested],
  ["retry", "Retry", (job) => ["failed", "cancelled"].includes(job.status)],
  ["requeue", "Requeue", (job) => job.status === "running"],
];

function renderJob(row, job) {
  row.dataset.job = job.id;
  row.dataset.status = job.status;
  const c = row.cells;
  fill(c[0], () => [el("a", { href: job.url, textContent: `#${job.id}` })], `${job.id}`);
  fill(c[1], job.owner);
  fill(c[2], `${job.recipe} / ${job.dataset}`);
  const notes = [job.cancel_requested && job.status === "running" ? "cancelling" : "",
    job.stale ? "no heartbeat" : "", job.attempts > 1 ? `attempt ${job.attempts}` : ""].filter(Boolean);
  fill(c[3], () => [el("span", { className: `badge status-${job.status}`, textContent: job.status }),
    ...notes.map((note) => el("span", { className: note === "no heartbeat" ? "stale" : "meta", textContent: ` ${note}` }))],
    `${job.status}|${notes}`);
  c[4].className = "progress";
  fill(c[4], () => [el("progress", { max: 1, value: progressValue(job.progress) }), " ", progressText(job.progress)],
    JSON.stringify(job.progress));
  const rate = job.status === "running" ? job.progress.samples_per_s : null;
  fill(c[5], rate ? Math.round(rate) : "–");
  fill(c[6], job.worker || "–");
  fill(c[7], job.gpus ? `${job.queue} (${job.gpus} GPU)` : job.queue);
  fill(c[8], time(job.created_at));
  c[9].className = "actions";
  if (!c[9].children.length) {
    for (const [action, label] of ACTIONS) {
      c[9].append(el("button", { type: "button", className: action, textContent: label }));
      c[9].lastChild.dataset.action = action;
    }
  }
  for (const [action, , allowed] of ACTIONS) c[9].querySelector(`.${action}`).hidden = !allowed(job);
}

function deviceNames(devices) {
  return devices.map((d) => {
    const name = (d.name || d.type || "?").replace(/^\/(physical_)?device:/, "");
    return d.model ? `${name} ${d.model}` : name;
  });
}

function renderWorker(row, worker, now) {
  row.dataset.worker = worker.hostname;
  row.dataset.online = worker.online;
  const c = row.cells;
  fill(c[0], worker.pid ? `${worker.hostname} (pid ${worker.pid})` : worker.hostname);
  c[1].className = worker.online ? "online" : "offline";
  fill(c[1], worker.online ? "online" : "offline");
  fill(c[2], worker.queues.join(", ") || "–");
  c[3].className = "devices";
  fill(c[3], deviceNames(worker.devices).join(", ") + (worker.gpus ? ` · ${worker.gpus} GPU` : "") || "–");
  const job = worker.current_job;
  fill(c[4], () => (job ? [el("a", { href: job.url, textContent: `#${job.id}` }), ` ${job.recipe} (${job.status})`] : ["idle"]),
    job ? `${job.id}|${job.status}` : "idle");
  fill(c[5], ago(worker.last_seen, now));
}

function renderQueue(row, queue) {
  row.dataset.queue = queue.name;
  const c = row.cells;
  fill(c[0], queue.name);
  fill(c[1], queue.queued);
  fill(c[2], queue.broker ?? "–");
  fill(c[3], queue.running);
  fill(c[4], queue.workers);
}

function renderFailure(row, job) {
  row.dataset.job = job.id;
  const c = row.cells;
  fill(c[0], () => [el("a", { href: job.url, textContent: `#${job.id}` })], `${job.id}`);
  fill(c[1], job.owner);
  fill(c[2], `${job.recipe} / ${job.dataset}`);
  fill(c[3], job.worker || "–");
  fill(c[4], time(job.finished_at));
  c[5].className = "reason";
  fill(c[5], job.error || "(no reason recorded)");
}

function render(snapshot) {
  state.snapshot = snapshot;
  state.snapshots += 1;
  $("updated").textContent = time(snapshot.at);
  const t = snapshot.throughput;
  $("finished-last-hour").textContent = t.finished_last_hour;
  $("finished-split").textContent =
    `(${t.succeeded_last_hour} succeeded, ${t.failed_last_hour} failed, ${t.cancelled_last_hour} cancelled)`;
  $("samples-per-s").textContent = Math.round(t.samples_per_s);
  syncRows($("queues").tBodies[0], snapshot.queues, (q) => q.name, 5, renderQueue);
  syncRows($("workers").tBodies[0], snapshot.workers, (w) => w.hostname, 6, (row, w) => renderWorker(row, w, snapshot.at));
  $("no-workers").hidden = snapshot.workers.length > 0;
  syncRows($("jobs").tBodies[0], snapshot.jobs, (j) => j.id, 10, renderJob);
  syncRows($("failures").tBodies[0], snapshot.failures, (j) => j.id, 6, renderFailure);
  $("no-failures").hidden = snapshot.failures.length > 0;
}

function banner(kind, ...content) {
  const box = $("banner");
  box.hidden = false;
  box.className = `banner banner-${kind}`;
  box.replaceChildren(...content);
}

function refresh() {
  state.live?.send({ type: "refresh" });
}

async function act(jobId, action, button) {
  button.disabled = true;
  try {
    const csrf = document.querySelector("[name=csrfmiddlewaretoken]").value;
    const response = await fetch(`/api/v1/jobs/${jobId}/${action}/`, {
      method: "POST", headers: { "X-CSRFToken": csrf, Accept: "application/json" },
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      banner("error", `Could not ${action} job #${jobId}: ${body.detail || `HTTP ${response.status}`}`);
    } else if (action === "retry") {
      banner("info", `Job #${jobId} retried as `, el("a", { href: body.url || `/jobs/${body.id}/`, textContent: `job #${body.id}` }), ".");
    } else if (action === "cancel") {
      banner("info", body.status === "cancelled" ? `Job #${jobId} cancelled.` : `Job #${jobId} stops after its current batch.`);
    } else {
      banner("info", `Job #${jobId} requeued; the next worker resumes it from its last checkpoint.`);
    }
  } catch (error) {
    banner("error", `Could not ${action} job #${jobId}: ${error}`);
  } finally {
    button.disabled = false;
    refresh();
  }
}

$("jobs").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-action]");
  if (button) act(button.closest("tr").dataset.job, button.dataset.action, button);
});

render(JSON.parse($("dashboard-data").textContent));
state.live = live("/ws/dashboard/", { after: null, onSnapshot: render, onState: showConnection($("connection")) });
