// A race: one socket (live.js) per job, stored events replayed and then live, every job's
// val_loss on one chart. An optimizer race or a sweep plots it per epoch, one line per optimizer or
// per value of the swept hyperparameter (labelled by the page, "learning_rate = 0.01"). An engine
// race (the same job in this browser and on a server worker) plots it against the seconds since
// the race was submitted, shows each engine's samples/s, test accuracy and time to finish, and
// trains the browser's job in this tab (./browser_engine.js). A finished job's socket is closed.
import { anyReconnecting, live } from "./live.js";

const race = JSON.parse(document.getElementById("race-data").textContent);
const byEngine = race.kind === "engines";
const PALETTE = ["#0b57d0", "#d93025", "#188038", "#e37400", "#9334e6", "#12b5cb", "#b06000", "#5f6368"];
const racer = (job) => job.label;
// The server's clock, as the stored points' x: seconds since the race was submitted.
const clockOffsetMs = byEngine ? race.server_now_ms - Date.now() : 0;
const secondsSinceStart = () => (Date.now() + clockOffsetMs - race.started_ms) / 1000;

const chart = new Chart(document.getElementById("race-chart"), {
  type: "line",
  data: {
    datasets: race.jobs.map((job, i) => ({
      label: `${racer(job)} (#${job.id})`, data: (job.points ?? []).map(({ x, y }) => ({ x, y })),
      borderColor: PALETTE[i % PALETTE.length], backgroundColor: PALETTE[i % PALETTE.length], tension: 0.2,
    })),
  },
  options: {
    animation: false, parsing: false, responsive: true,
    scales: { x: { type: "linear", title: { display: true, text: byEngine ? "seconds since the race was submitted" : "epoch" }, min: 0 },
              y: { title: { display: true, text: "val_loss" } } },
    plugins: { legend: { position: "bottom" } },
  },
});
window.playground = {
  chart, points: Object.fromEntries(race.jobs.map((job) => [racer(job), job.points?.length ?? 0])), results: {},
};

const FINISHED = new Set(["succeeded", "failed", "cancelled"]);
const note = anyReconnecting(document.getElementById("connection"));
const csrf = () => document.querySelector("[name=csrfmiddlewaretoken]").value;

function showEpoch(row, epoch, valLoss, samplesPerS) {
  row.querySelector(".epochs").textContent = epoch;
  row.querySelector(".loss").textContent = valLoss.toFixed(4);
  if (byEngine && samplesPerS) row.querySelector(".speed").textContent = Math.round(samplesPerS).toLocaleString("en");
}

// The finished job's test accuracy and how long it took from the race's start.
async function showResult(job, row) {
  const response = await fetch(`/api/v1/jobs/${job.id}/`, { headers: { Accept: "application/json" } });
  if (!response.ok) return;
  const done = await response.json();
  const accuracy = done.test_metrics?.accuracy;
  const elapsed = (Date.parse(done.finished_at) - race.started_ms) / 1000;
  window.playground.results[racer(job)] = { accuracy, elapsed_s: elapsed };
  if (typeof accuracy === "number") row.querySelector(".accuracy").textContent = accuracy.toFixed(4);
  if (Number.isFinite(elapsed)) row.querySelector(".elapsed").textContent = `${elapsed.toFixed(1)} s`;
}

function follow(job, index) {
  const row = document.getElementById(`race-job-${job.id}`);
  const last = job.points?.at(-1);
  if (last) showEpoch(row, last.epoch, last.y, last.samples_per_s);
  const socket = live(`/ws/jobs/${job.id}/`, {
    after: job.after ?? 0,
    onEvent: ({ type, data }) => {
      if (type === "status") {
        row.querySelector(".status").textContent = data.status;
        if (FINISHED.has(data.status)) socket.close();
        if (byEngine && data.status === "succeeded") showResult(job, row);
      } else if (type === "epoch" && typeof data.logs?.val_loss === "number") {
        chart.data.datasets[index].data.push({ x: byEngine ? secondsSinceStart() : data.epoch, y: data.logs.val_loss });
        chart.update();
        window.playground.points[racer(job)] += 1;
        showEpoch(row, data.epoch, data.logs.val_loss, data.samples_per_s);
      }
    },
    onState: note(job.id),
  });
}

// The browser's side of an engine race trains here, once: another tab that opens the race
// later finds it claimed (or finished) and only watches.
async function trainBrowserJob(job) {
  const text = document.getElementById("engine-text");
  const show = (message) => { text.hidden = false; text.textContent = message; };
  const engine = { state: "claiming", backend: null };
  window.playground.engine = engine;
  try {
    const { trainInBrowser } = await import("./browser_engine.js");
    const result = await trainInBrowser(job.id, {
      csrf: csrf(), backend: new URLSearchParams(location.search).get("backend"),
      onState: (state) => { engine.state = state; show(`The browser's job: ${state}${engine.backend ? ` on ${engine.backend}` : ""}…`); },
      onBackend: (backend) => { engine.backend = backend; },
    });
    engine.state = result;
    show(result === "taken" ? "Another tab trains the browser's job." : `The browser's job: ${result} on ${engine.backend}.`);
  } catch (error) {
    engine.state = "failed";
    show(`Training in this browser stopped: ${error.message}`);
  }
}

race.jobs.forEach((job, index) => follow(job, index));
race.jobs.filter((job) => byEngine && job.engine === "browser" && job.status === "queued").forEach(trainBrowserJob);
