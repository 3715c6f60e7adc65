// An optimizer race: one socket (live.js) per job, stored events replayed and then live, every
// job's val_loss per epoch on one chart, one line per optimizer. A finished job's socket is closed.
import { anyReconnecting, live } from "./live.js";

const race = JSON.parse(document.getElementById("race-data").textContent);
const PALETTE = ["#0b57d0", "#d93025", "#188038", "#e37400", "#9334e6"];

const chart = new Chart(document.getElementById("race-chart"), {
  type: "line",
  data: {
    datasets: race.jobs.map((job, i) => ({
      label: `${job.optimizer} (#${job.id})`, data: [], borderColor: PALETTE[i % PALETTE.length],
      backgroundColor: PALETTE[i % PALETTE.length], tension: 0.2,
    })),
  },
  options: {
    animation: false, parsing: false, responsive: true,
    scales: { x: { type: "linear", title: { display: true, text: "epoch" }, min: 0 },
              y: { title: { display: true, text: "val_loss" } } },
    plugins: { legend: { position: "bottom" } },
  },
});
window.playground = { chart, points: Object.fromEntries(race.jobs.map((job) => [job.optimizer, 0])) };

const FINISHED = new Set(["succeeded", "failed", "cancelled"]);
const note = anyReconnecting(document.getElementById("connection"));

function follow(job, index) {
  const row = document.getElementById(`race-job-${job.id}`);
  const socket = live(`/ws/jobs/${job.id}/`, {
    onEvent: ({ type, data }) => {
      if (type === "status") {
        row.querySelector(".status").textContent = data.status;
        if (FINISHED.has(data.status)) socket.close();
      } else if (type === "epoch" && typeof data.logs?.val_loss === "number") {
        chart.data.datasets[index].data.push({ x: data.epoch, y: data.logs.val_loss });
        chart.update();
        window.playground.points[job.optimizer] += 1;
        row.querySelector(".epochs").textContent = data.epoch;
        row.querySelector(".loss").textContent = data.logs.val_loss.toFixed(4);
      }
    },
    onState: note(job.id),
  });
}

race.jobs.forEach((job, index) => follow(job, index));
