// node --test tests/js/: the capture page's zip writer (STORE only), read back by a tiny reader
// that walks the archive the way unzip tools do: from the end-of-central-directory record.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { crc32, zipStore } from "../../static/js/zip_store.js";

const text = (s) => new TextEncoder().encode(s);
const decoder = new TextDecoder();

/** The entries of a zip: [{name, data, crc, flags, method, time, date}], checked against the local headers. */
function readZip(zip) {
  const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  const end = zip.length - 22;
  assert.equal(view.getUint32(end, true), 0x06054b50, "end-of-central-directory signature");
  const count = view.getUint16(end + 10, true);
  const size = view.getUint32(end + 12, true);
  let at = view.getUint32(end + 16, true);
  assert.equal(at + size, end, "the central directory ends where the end record starts");
  const entries = [];
  for (let i = 0; i < count; i++) {
    assert.equal(view.getUint32(at, true), 0x02014b50, "central header signature");
    const [flags, method, time, date] = [8, 10, 12, 14].map((o) => view.getUint16(at + o, true));
    const [crc, compressed, length] = [16, 20, 24].map((o) => view.getUint32(at + o, true));
    const nameLength = view.getUint16(at + 28, true);
    const extra = view.getUint16(at + 30, true) + view.getUint16(at + 32, true);
    const offset = view.getUint32(at + 42, true);
    const name = decoder.decode(zip.subarray(at + 46, at + 46 + nameLength));
    at += 46 + nameLength + extra;

    assert.equal(view.getUint32(offset, true), 0x04034b50, "local header signature");
    assert.equal(view.getUint32(offset + 14, true), crc, "local and central CRC agree");
    assert.equal(compressed, length, "stored: compressed size = size");
    const localName = view.getUint16(offset + 26, true), localExtra = view.getUint16(offset + 28, true);
    assert.equal(decoder.decode(zip.subarray(offset + 30, offset + 30 + localName)), name);
    const start = offset + 30 + localName + localExtra;
    entries.push({ name, data: zip.subarray(start, start + length), crc, flags, method, time, date });
  }
  return entries;
}

test("CRC-32 of the check string is 0xCBF43926, and of nothing 0", () => {
  assert.equal(crc32(text("123456789")), 0xcbf43926);
  assert.equal(crc32(new Uint8Array()), 0);
  assert.equal(crc32(text("The quick brown fox jumps over the lazy dog")), 0x414fa339);
});

test("a zip of two files in two folders reads back byte for byte, stored, with UTF-8 names", () => {
  const png = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) % 256);
  const files = [{ name: "circles/1.png", data: png }, { name: "Kätzchen/2.png", data: text("second") }];

  const zip = zipStore(files, new Date(2024, 4, 17, 13, 45, 30));
  const entries = readZip(zip);

  assert.deepEqual(entries.map((e) => e.name), ["circles/1.png", "Kätzchen/2.png"]);
  assert.deepEqual(entries[0].data, png);
  assert.equal(decoder.decode(entries[1].data), "second");
  for (const e of entries) {
    assert.equal(e.method, 0);
    assert.equal(e.flags, 0x0800);
    assert.equal(e.crc, crc32(e.data));
    assert.equal(e.date, ((2024 - 1980) << 9) | (5 << 5) | 17);
    assert.equal(e.time, (13 << 11) | (45 << 5) | 15);
  }
  const headers = 2 * (30 + 46) + 22 + 2 * "circles/1.png".length + 2 * text("Kätzchen/2.png").length;
  assert.equal(zip.length, headers + png.length + "second".length);
});

test("an empty zip is just the end record", () => {
  assert.deepEqual(readZip(zipStore([])), []);
  assert.equal(zipStore([]).length, 22);
});

test("Python's zipfile reads it and its CRC check passes", (t) => {
  let python = null;
  for (const candidate of [fileURLToPath(new URL("../../.venv/bin/python", import.meta.url)), "python3"]) {
    try { execFileSync(candidate, ["-c", "pass"]); python = candidate; break; } catch { /* next */ }
  }
  if (!python) { t.skip("no Python here"); return; }
  const dir = mkdtempSync(join(tmpdir(), "zip-store-"));
  try {
    const path = join(dir, "capture.zip");
    writeFileSync(path, zipStore([{ name: "a/1.png", data: text("one") }, { name: "b/ü.png", data: text("two") }]));
    const out = execFileSync(python, ["-c", "import json, sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); "
      + "assert z.testzip() is None; print(json.dumps({i.filename: z.read(i).decode() for i in z.infolist()}))", path]);
    assert.deepEqual(JSON.parse(out), { "a/1.png": "one", "b/ü.png": "two" });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
