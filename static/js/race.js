// An optimizer race: one WebSocket per job (stored events replay, then live), every job's
// val_loss per epoch on one chart, one line per optimizer.
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

function follow(job, index, after = 0) {
  const row = document.getElementById(`race-job-${job.id}`);
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/ws/jobs/${job.id}/?after=${after}`);
  let lastSeq = after;
  let finished = false;
  ws.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.seq <= lastSeq) return; // a replayed event we already have
    lastSeq = message.seq;
    const data = message.data;
    if (message.type === "status") {
      row.querySelector(".status").textContent = data.status;
      finished = ["succeeded", "failed", "cancelled"].includes(data.status);
    } else if (message.type === "epoch" && typeof data.logs?.val_loss === "number") {
      chart.data.datasets[index].data.push({ x: data.epoch, y: data.logs.val_loss });
      chart.update();
      window.playground.points[job.optimizer] += 1;
      row.querySelector(".epochs").textContent = data.epoch;
      row.querySelector(".loss").textContent = data.logs.val_loss.toFixed(4);
    }
  };
  // After a drop, reconnect from the last event seen; a finished job has nothing more to say.
  ws.onclose = (event) => {
    if (!finished && !(event.code >= 4400 && event.code < 4500)) setTimeout(() => follow(job, index, lastSeq), 1000);
  };
}

race.jobs.forEach((job, index) => follow(job, index));
