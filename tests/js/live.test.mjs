// node --test tests/js/: live.js against a fake WebSocket and mocked timers: the URLs it opens,
// events once and in order, gaps, backoff, and the close codes it does not retry.
import assert from "node:assert/strict";
import { afterEach, beforeEach, mock, test } from "node:test";

import { anyReconnecting, live, showConnection } from "../../static/js/live.js";

class FakeSocket {
  static all = [];
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    FakeSocket.all.push(this);
  }
  send(text) { this.sent.push(JSON.parse(text)); }
  close() { this.serverCloses(1005); }
  // What the server does:
  opens() { this.readyState = 1; this.onopen?.({}); }
  says(message) { this.onmessage({ data: JSON.stringify(message) }); }
  serverCloses(code, reason = "") {
    this.readyState = 3;
    this.onclose({ code, reason });
  }
}

const latest = () => FakeSocket.all.at(-1);
const event = (seq, type = "batch") => ({ seq, type, job: 7, data: { n: seq } });

function opened(after = 0, options = {}) {
  const seen = { events: [], snapshots: [], states: [], other: [] };
  const handle = live("/ws/jobs/7/", {
    after,
    onEvent: (m) => seen.events.push(m.seq),
    onSnapshot: (data) => seen.snapshots.push(data),
    onMessage: (m) => seen.other.push(m),
    onState: (state, detail) => seen.states.push(detail.code ? `${state} ${detail.code}` : state),
    ...options,
  });
  return { handle, seen };
}

function connectedWithSnapshot(seq) {
  latest().opens();
  latest().says({ seq, type: "snapshot", job: 7, data: { status: "running" } });
}

beforeEach(() => {
  FakeSocket.all = [];
  globalThis.WebSocket = FakeSocket;
  globalThis.location = { protocol: "http:", host: "play.test:8000" };
  mock.timers.enable({ apis: ["setTimeout", "Date"], now: 1_000_000 });
});

afterEach(() => mock.timers.reset());

test("it opens the path on this host with ?after and hands over the snapshot", () => {
  const { seen } = opened(5);
  assert.equal(latest().url, "ws://play.test:8000/ws/jobs/7/?after=5");
  connectedWithSnapshot(5);
  assert.deepEqual(seen.snapshots, [{ status: "running" }]);
  assert.deepEqual(seen.states, ["connecting", "live"]);

  globalThis.location = { protocol: "https:", host: "play.test" };
  live("/ws/share/tok/", {});
  assert.equal(latest().url, "wss://play.test/ws/share/tok/?after=0");
  live("ws://elsewhere:1/ws/jobs/3/", { after: 2 });
  assert.equal(latest().url, "ws://elsewhere:1/ws/jobs/3/?after=2");
});

test("each event reaches the page once and in order; frames without a seq go to onMessage", () => {
  const { seen } = opened();
  connectedWithSnapshot(0);
  for (const seq of [1, 2, 2, 1, 3]) latest().says(event(seq));
  latest().says({ type: "pong" });
  assert.deepEqual(seen.events, [1, 2, 3]);
  assert.deepEqual(seen.other, [{ type: "pong" }]);
  assert.deepEqual(latest().sent, []);
});

test("a jump in seq asks for the stored events again, once a second at most, and draws no hole", () => {
  const { seen, handle } = opened();
  connectedWithSnapshot(0);
  latest().says(event(1));
  latest().says(event(3)); // 2 was lost on the way
  latest().says(event(4));
  assert.deepEqual(latest().sent, [{ type: "resume", after: 1 }]);
  assert.deepEqual(seen.events, [1]);

  mock.timers.tick(1000);
  latest().says(event(5)); // the replay is late: ask again
  assert.deepEqual(latest().sent, [{ type: "resume", after: 1 }, { type: "resume", after: 1 }]);

  for (const seq of [2, 3, 4, 5, 2, 3, 4, 5, 6]) latest().says(event(seq)); // two replays, then live
  assert.deepEqual(seen.events, [1, 2, 3, 4, 5, 6]);
  assert.equal(handle.lastSeq, 6);
});

test("a dropped socket comes back from the last seq after 0.5, 1, 2, 4 ... 10 s", () => {
  const { seen } = opened();
  connectedWithSnapshot(0);
  latest().says(event(1));
  latest().says(event(2));
  const delays = [];
  for (let i = 0; i < 7; i++) {
    const before = FakeSocket.all.length;
    latest().serverCloses(1013);
    let waited = 0;
    while (FakeSocket.all.length === before) {
      mock.timers.tick(100);
      waited += 100;
    }
    delays.push(waited);
    latest().opens(); // and closes again before saying anything: no healthy connection yet
  }
  assert.deepEqual(delays, [500, 1000, 2000, 4000, 8000, 10000, 10000]);
  assert.ok(FakeSocket.all.slice(1).every((s) => s.url.endsWith("?after=2")));
  assert.equal(seen.states.filter((s) => s === "reconnecting 1013").length, 7);

  connectedWithSnapshot(2); // a message: the next drop waits 0.5 s again
  latest().serverCloses(1006);
  const before = FakeSocket.all.length;
  mock.timers.tick(499);
  assert.equal(FakeSocket.all.length, before);
  mock.timers.tick(1);
  assert.equal(FakeSocket.all.length, before + 1);
  assert.deepEqual(seen.states.slice(-2), ["live", "reconnecting 1006"]);
});

for (const code of [4400, 4401, 4403, 4404, 4429]) {
  test(`a close with ${code} is a refusal: shown, never retried`, () => {
    const { seen } = opened();
    latest().opens();
    latest().serverCloses(code, "no");
    mock.timers.tick(60_000);
    assert.equal(FakeSocket.all.length, 1);
    assert.deepEqual(seen.states, ["connecting", `refused ${code}`]);
  });
}

test("close() stops it for good, also while it waits to reconnect", () => {
  const { seen, handle } = opened();
  connectedWithSnapshot(0);
  handle.close();
  mock.timers.tick(60_000);
  assert.equal(FakeSocket.all.length, 1);
  assert.equal(seen.states.at(-1), "closed");

  const second = opened();
  latest().serverCloses(1006);
  second.handle.close();
  mock.timers.tick(60_000);
  assert.equal(FakeSocket.all.length, 2);
  assert.deepEqual(second.seen.states, ["connecting", "reconnecting 1006", "closed"]);
});

test("a socket without seqs (the dashboard's) opens without ?after and passes every snapshot", () => {
  const snapshots = [];
  const handle = live("/ws/dashboard/", { after: null, onSnapshot: (data) => snapshots.push(data) });
  assert.equal(latest().url, "ws://play.test:8000/ws/dashboard/");
  assert.equal(handle.send({ type: "refresh" }), false); // not open yet
  latest().opens();
  latest().says({ type: "snapshot", data: { n: 1 } });
  latest().says({ type: "snapshot", data: { n: 1 } });
  assert.equal(handle.send({ type: "refresh" }), true);
  assert.deepEqual(snapshots, [{ n: 1 }, { n: 1 }]);
  assert.deepEqual(latest().sent, [{ type: "refresh" }]);
  latest().serverCloses(1006);
  mock.timers.tick(500);
  assert.equal(latest().url, "ws://play.test:8000/ws/dashboard/");
});

test("the badge and the shared note show what the sockets do", () => {
  const classes = new Set();
  const badge = { dataset: {}, classList: { toggle: (name, on) => (on ? classes.add(name) : classes.delete(name)) } };
  const show = showConnection(badge);
  show("reconnecting", { code: 1006 });
  assert.equal(badge.textContent, "reconnecting…");
  assert.ok(classes.has("connection-down"));
  show("refused", { code: 4401 });
  assert.equal(badge.textContent, "refused (4401)");
  show("live", {});
  assert.deepEqual([badge.textContent, badge.dataset.state, classes.has("connection-down")], ["live", "live", false]);

  const note = { hidden: true };
  const of = anyReconnecting(note);
  of(1)("reconnecting");
  of(2)("reconnecting");
  of(1)("live");
  assert.equal(note.hidden, false);
  of(2)("closed");
  assert.equal(note.hidden, true);
});

test("a replay that never arrives is asked for again, up to the last seq the snapshot named", () => {
  const { seen } = opened(3);
  latest().opens();
  // The job ended at seq 6; the replay of 4..6 is lost on the way (no later event shows a gap).
  latest().says({ seq: 3, type: "snapshot", job: 7, data: { status: "succeeded", last_seq: 6 } });
  assert.deepEqual(latest().sent, []);

  mock.timers.tick(1000);
  assert.deepEqual(latest().sent, [{ type: "resume", after: 3 }]);
  for (const seq of [4, 5]) latest().says(event(seq));
  mock.timers.tick(1000);
  assert.deepEqual(latest().sent.at(-1), { type: "resume", after: 5 });
  latest().says(event(6));
  mock.timers.tick(5000);
  assert.equal(latest().sent.length, 2); // caught up: no more resumes
  assert.deepEqual(seen.events, [4, 5, 6]);
});
