// The pages' one WebSocket client (job, share, home, race, dashboard), by the contract in
// ../shared/DESIGN.md. A job socket (/ws/jobs/<id>/ or /ws/share/<token>/, ?after=<seq>) starts
// with a snapshot, then hands the page each event once and in seq order: a replayed event the
// page has is dropped, and a jump in seq (an event lost on the way; the server's seqs have no
// holes) asks for the stored ones again with {"type": "resume", "after": <last seq>}, once a
// second at most. A socket without seqs (the dashboard's) passes its snapshots through.
// A dropped socket reconnects from the last seq after 0.5 s, 1 s, 2 s, ... 10 s at most; the
// delay starts over once a connection has delivered a message, not merely opened (a server
// that accepts and then closes with 1013 while Redis is away would otherwise be retried at
// 0.5 s for ever).

// The server's refusals, which another try would get again: 4400 a bad ?after, 4401 not logged
// in or the token or share link was revoked, 4403 not staff, 4404 no such job (or another
// user's), 4429 too many sockets open. 1006 (server gone), 1011, 1013 (Redis away) are retried.
const refused = (code) => code >= 4400 && code < 4500;
const OPEN = 1; // WebSocket.OPEN

/**
 * Opens `path` (a path on this host, or a ws:// / wss:// URL) and keeps it open until close().
 *
 * after: the last seq the page already has (a job socket), or null for a socket without seqs.
 * onSnapshot(data, message): the snapshot the server sends on every (re)connect.
 * onEvent(message): each job event `{seq, type, job, data}`, once, in seq order.
 * onMessage(message): anything else (pong, error frames).
 * onState(state, {code, reason, retryMs}): "connecting", "live" (a message came), "reconnecting",
 *   "refused" (a 44xx close: no retry) or "closed" (by close()).
 *
 * Returns {send(frame) → whether it went out, close(), lastSeq, socket (the current WebSocket), state}.
 */
export function live(path, {
  after = 0, onSnapshot = () => {}, onEvent = () => {}, onMessage = () => {}, onState = () => {},
  firstRetryMs = 500, maxRetryMs = 10_000, resumeEveryMs = 1000,
} = {}) {
  const sequenced = after !== null;
  let lastSeq = after ?? 0;
  let socket = null;
  let state = null;
  let retryMs = firstRetryMs;
  let resumedAt = -Infinity;
  let stopped = false;
  let timer = null;
  let known = 0; // the highest seq the server said the job has
  let catchUpTimer = null;

  const setState = (next, detail = {}) => {
    state = next;
    onState(next, detail);
  };

  function url() {
    const base = /^wss?:/.test(path) ? path : `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}`;
    return sequenced ? `${base}?after=${lastSeq}` : base;
  }

  function send(frame) {
    if (socket?.readyState !== OPEN) return false;
    socket.send(JSON.stringify(frame));
    return true;
  }

  function receive(message) {
    if (state !== "live") {
      retryMs = firstRetryMs;
      setState("live");
    }
    if (message.type === "snapshot") {
      // The job's last seq when the server read it: the replay behind the snapshot brings the
      // events up to it. A replay that never comes (the last events of a job that then ended,
      // so no later event reveals the gap) is asked for again.
      if (sequenced && Number.isInteger(message.data?.last_seq)) {
        known = Math.max(known, message.data.last_seq);
        catchUp();
      }
      return onSnapshot(message.data, message);
    }
    if (!sequenced || typeof message.seq !== "number") return onMessage(message);
    if (message.seq <= lastSeq) return; // replayed, already seen
    if (message.seq > lastSeq + 1) {
      // This one comes back with the replay, in order.
      if (Date.now() - resumedAt >= resumeEveryMs) {
        resumedAt = Date.now();
        send({ type: "resume", after: lastSeq });
      }
      return;
    }
    lastSeq = message.seq;
    if (lastSeq < known) { // still catching up: ask again only after a second without events
      clearTimeout(catchUpTimer);
      catchUpTimer = null;
      catchUp();
    }
    onEvent(message);
  }

  // While the page is behind what the server said it has, ask for the rest every resumeEveryMs.
  function catchUp() {
    if (catchUpTimer !== null) return;
    catchUpTimer = setTimeout(() => {
      catchUpTimer = null;
      if (stopped || lastSeq >= known) return;
      if (state === "live" && Date.now() - resumedAt >= resumeEveryMs) {
        resumedAt = Date.now();
        send({ type: "resume", after: lastSeq });
      }
      catchUp();
    }, resumeEveryMs);
  }

  function connect() {
    timer = null;
    const ws = new WebSocket(url());
    socket = ws;
    ws.onmessage = (event) => {
      if (ws === socket && !stopped) receive(JSON.parse(event.data));
    };
    ws.onclose = (event) => {
      if (ws !== socket) return;
      if (stopped) return setState("closed");
      if (refused(event.code)) return setState("refused", { code: event.code, reason: event.reason });
      setState("reconnecting", { code: event.code, retryMs });
      timer = setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, maxRetryMs);
    };
  }

  function close() {
    if (stopped) return;
    stopped = true;
    clearTimeout(catchUpTimer);
    if (timer !== null) {
      clearTimeout(timer);
      timer = null;
      setState("closed");
    } else if (state === "refused") {
      setState("closed");
    } else {
      socket.close();
    }
  }

  setState("connecting");
  connect();
  return {
    send, close,
    get lastSeq() { return lastSeq; },
    get socket() { return socket; },
    get state() { return state; },
  };
}

/** An onState for a page's connection badge: its text ("live", "reconnecting…", "refused (4401)",
 * ...), data-state, and the connection-down class while it is reconnecting or refused. */
export function showConnection(element) {
  return (state, { code } = {}) => {
    element.textContent = state === "reconnecting" ? "reconnecting…" : state === "refused" ? `refused (${code})` : state;
    element.dataset.state = state;
    element.classList.toggle("connection-down", state === "reconnecting" || state === "refused");
  };
}

/** One "reconnecting…" note for several sockets (the home page's jobs, a race's): `note(key)` is
 * the onState of socket `key`; the element is shown while any of them is reconnecting. */
export function anyReconnecting(element) {
  const down = new Set();
  return (key) => (state) => {
    if (state === "reconnecting") down.add(key);
    else down.delete(key);
    if (element) element.hidden = down.size === 0;
  };
}
