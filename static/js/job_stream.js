// Raw event stream of one job over /ws/jobs/<id>/, resuming from the last seq on reconnect.
const job = JSON.parse(document.getElementById("job-data").textContent);
const rows = document.getElementById("events");
const statusEl = document.getElementById("status");
const progressEl = document.getElementById("progress");
const connectionEl = document.getElementById("connection");
const artifactsEl = document.getElementById("artifacts");
let lastSeq = 0;
let retryMs = 500;

function showStatus(status) {
  statusEl.textContent = status;
  statusEl.className = `status status-${status}`;
}

function showArtifact(a) {
  const li = document.createElement("li");
  const link = document.createElement("a");
  link.href = a.url;
  link.textContent = `${a.kind} ${a.variant}`;
  li.append(link, ` — ${a.bytes} bytes` + (a.accuracy != null ? `, test accuracy ${a.accuracy.toFixed(4)}` : ""));
  artifactsEl.append(li);
}

function showEvent(msg) {
  const tr = document.createElement("tr");
  tr.dataset.seq = msg.seq;
  tr.dataset.type = msg.type;
  for (const text of [msg.seq, msg.type]) {
    const td = document.createElement("td");
    td.textContent = text;
    tr.append(td);
  }
  const td = document.createElement("td");
  const code = document.createElement("code");
  code.textContent = JSON.stringify(msg.data);
  td.append(code);
  tr.append(td);
  rows.append(tr);
  if (msg.type === "status") showStatus(msg.data.status);
  if (msg.type === "batch" || msg.type === "epoch") {
    progressEl.textContent = `epoch ${msg.data.epoch}/${msg.data.epochs}` + (msg.data.step ? `, step ${msg.data.step}/${msg.data.steps}` : "");
  }
  if (msg.type === "artifact") showArtifact(msg.data);
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/ws/jobs/${job.id}/?after=${lastSeq}`);
  ws.onopen = () => { connectionEl.textContent = "live"; retryMs = 500; };
  ws.onmessage = (e) => {
    const msg = JSON.parse(e.data);
    if (msg.type === "snapshot") { showStatus(msg.data.status); return; }
    if (msg.seq <= lastSeq) return;
    lastSeq = msg.seq;
    showEvent(msg);
  };
  ws.onclose = (e) => {
    if (e.code >= 4400 && e.code < 4500) { connectionEl.textContent = `refused (${e.code})`; return; }
    connectionEl.textContent = "reconnecting";
    setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 10000);
  };
}

connect();
