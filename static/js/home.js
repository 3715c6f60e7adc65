// Live status for the user's unfinished jobs on the home page: one socket (live.js) per such
// job, from the seq the page was rendered at, so nothing is replayed; only the status is shown.
// "reconnecting…" shows while any of them is down; a finished job's socket is closed.
import { anyReconnecting, live } from "./live.js";

const FINISHED = new Set(["succeeded", "failed", "cancelled"]);
const note = anyReconnecting(document.getElementById("connection"));

function follow(row) {
  const cell = row.querySelector(".status");
  const show = (status) => {
    row.dataset.status = status;
    cell.textContent = status;
    cell.className = `status status-${status}`;
    if (FINISHED.has(status)) socket.close();
  };
  const socket = live(`/ws/jobs/${row.dataset.job}/`, {
    after: Number(row.dataset.seq),
    onSnapshot: (snapshot) => show(snapshot.status),
    onEvent: (message) => {
      row.dataset.seq = message.seq;
      if (message.type === "status") show(message.data.status);
    },
    onState: note(row.dataset.job),
  });
}

for (const row of document.querySelectorAll("#jobs tr[data-job]")) {
  if (!FINISHED.has(row.dataset.status)) follow(row);
}

// "Compare": the ticked jobs as one list, /compare/?jobs=1,2,3 (without this module the form
// still sends jobs=3&jobs=2&jobs=1, which /compare/ takes too).
const compareForm = document.getElementById("compare-form");
if (compareForm) {
  // Oldest first: the order they were started in (the list shows the newest first).
  const ticked = () => [...compareForm.querySelectorAll("input[name=jobs]:checked")].map((box) => Number(box.value))
    .sort((a, b) => a - b);
  const hint = document.getElementById("compare-hint");
  const hintText = hint.textContent;
  compareForm.addEventListener("change", () => {
    const count = ticked().length;
    hint.textContent = count ? `${count} ticked. ${hintText}` : hintText;
  });
  compareForm.addEventListener("submit", (event) => {
    event.preventDefault();
    location.assign(`${compareForm.action}?jobs=${ticked().join(",")}`);
  });
}
