// Live status for the user's unfinished jobs on the home page: one WebSocket per such job,
// reading only status events (after the current seq, so nothing is replayed). A dropped
// socket shows "reconnecting…" and comes back from the last seq it saw.
const FINISHED = new Set(["succeeded", "failed", "cancelled"]);
const scheme = location.protocol === "https:" ? "wss" : "ws";
const indicator = document.getElementById("connection");
const down = new Set(); // jobs whose socket is waiting to reconnect

function showConnection() {
  if (indicator) indicator.hidden = down.size === 0;
}

function follow(row, retry = { ms: 500 }) {
  const cell = row.querySelector(".status");
  const ws = new WebSocket(`${scheme}://${location.host}/ws/jobs/${row.dataset.job}/?after=${row.dataset.seq}`);
  ws.onopen = () => {
    retry.ms = 500;
    down.delete(row.dataset.job);
    showConnection();
  };
  ws.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (typeof message.seq !== "number") return; // pong, error frames
    row.dataset.seq = Math.max(Number(row.dataset.seq), message.seq);
    const status = message.type === "snapshot" ? message.data.status : message.type === "status" ? message.data.status : null;
    if (!status) return;
    row.dataset.status = status;
    cell.textContent = status;
    cell.className = `status status-${status}`;
    if (FINISHED.has(status)) ws.close();
  };
  ws.onclose = (event) => {
    if (FINISHED.has(row.dataset.status) || (event.code >= 4400 && event.code < 4500)) return;
    down.add(row.dataset.job);
    showConnection();
    setTimeout(() => follow(row, retry), retry.ms);
    retry.ms = Math.min(retry.ms * 2, 10000);
  };
}

for (const row of document.querySelectorAll("#jobs tr[data-job]")) {
  if (!FINISHED.has(row.dataset.status)) follow(row);
}
