// Live status for the user's unfinished jobs on the home page: one WebSocket per such job,
// reading only status events (after the current seq, so nothing is replayed).
const FINISHED = new Set(["succeeded", "failed", "cancelled"]);
const scheme = location.protocol === "https:" ? "wss" : "ws";

for (const row of document.querySelectorAll("#jobs tr[data-job]")) {
  if (FINISHED.has(row.dataset.status)) continue;
  const cell = row.querySelector(".status");
  const ws = new WebSocket(`${scheme}://${location.host}/ws/jobs/${row.dataset.job}/?after=${row.dataset.seq}`);
  ws.onmessage = (event) => {
    const message = JSON.parse(event.data);
    const status = message.type === "snapshot" ? message.data.status : message.type === "status" ? message.data.status : null;
    if (!status) return;
    row.dataset.status = status;
    cell.textContent = status;
    cell.className = `status status-${status}`;
    if (FINISHED.has(status)) ws.close();
  };
}
