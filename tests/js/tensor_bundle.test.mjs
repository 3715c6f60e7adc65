// node --test tests/js/: the tensor bundle framing of docs/browser-training.md, both ways.
import assert from "node:assert/strict";
import { test } from "node:test";

import { BundleError, decodeBundle, encodeBundle } from "../../static/js/tensor_bundle.js";

// trainer.browser.encode_bundle([("x", [[1.5, -2.0]] float32), ("y", [3] int32)]), as the server sends it.
const FROM_THE_SERVER = "630000005b7b226e616d65223a202278222c20227368617065223a205b312c20325d2c20226474797065223a2022666c6f6174" +
  "3332227d2c207b226e616d65223a202279222c20227368617065223a205b315d2c20226474797065223a2022696e743332227d5d0000c03f000000c003000000";

const bytes = (hex) => Uint8Array.from(hex.match(/../g), (h) => parseInt(h, 16)).buffer;

function rawBundle(header, valueBytes) {
  const text = new TextEncoder().encode(header);
  const buffer = new Uint8Array(4 + text.length + valueBytes);
  new DataView(buffer.buffer).setUint32(0, text.length, true);
  buffer.set(text, 4);
  return buffer.buffer;
}

test("it decodes a bundle the server encoded", () => {
  const [x, y] = decodeBundle(bytes(FROM_THE_SERVER));

  assert.deepEqual([x.name, x.shape, x.dtype, [...x.values]], ["x", [1, 2], "float32", [1.5, -2]]);
  assert.deepEqual([y.name, y.shape, y.dtype, [...y.values]], ["y", [1], "int32", [3]]);
  assert.ok(x.values instanceof Float32Array && y.values instanceof Int32Array);
});

test("what it encodes decodes to the same tensors", () => {
  const tensors = [
    { name: "dense/kernel", shape: [3, 2], dtype: "float32", values: Float32Array.of(0.25, -1, 3e-8, 7, 0, -0.5) },
    { name: "dense/bias", shape: [2], dtype: "float32", values: [1, 2] },
    { name: "labels", shape: [4], dtype: "int32", values: Int32Array.of(0, -3, 2 ** 31 - 1, 9) },
    { name: "empty", shape: [0, 5], dtype: "float32", values: new Float32Array(0) },
  ];

  const decoded = decodeBundle(encodeBundle(tensors));

  const typed = { float32: Float32Array, int32: Int32Array };
  assert.deepEqual(decoded.map((t) => [t.name, t.shape, t.dtype, t.values]),
    tensors.map((t) => [t.name, t.shape, t.dtype, typed[t.dtype].from(t.values)]));
});

test("its layout is the spec's: a little-endian header length, the JSON header, then the values", () => {
  const buffer = encodeBundle([{ name: "w", shape: [2], dtype: "float32", values: [1, -2] }]);
  const view = new DataView(buffer);
  const length = view.getUint32(0, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 4, length)));

  assert.deepEqual(header, [{ name: "w", shape: [2], dtype: "float32" }]);
  assert.equal(buffer.byteLength, 4 + length + 8);
  assert.deepEqual([view.getFloat32(4 + length, true), view.getFloat32(8 + length, true)], [1, -2]);
});

test("it rejects a truncated bundle, saying which tensor is short", () => {
  const whole = bytes(FROM_THE_SERVER);

  assert.throws(() => decodeBundle(whole.slice(0, whole.byteLength - 1)), (e) => e instanceof BundleError && /Tensor y needs 4 bytes; only 3/.test(e.message));
  assert.throws(() => decodeBundle(whole.slice(0, 50)), /header says it is 99 bytes; only 46 follow/);
  assert.throws(() => decodeBundle(whole.slice(0, 2)), /no header length/);
});

test("it rejects bytes after the last tensor, a header that is not JSON, and an unknown dtype", () => {
  const header = '[{"name": "w", "shape": [1], "dtype": "float32"}]';

  assert.ok(decodeBundle(rawBundle(header, 4)));
  assert.throws(() => decodeBundle(rawBundle(header, 8)), /4 bytes follow the last tensor/);
  assert.throws(() => decodeBundle(rawBundle(header.slice(1), 4)), /header is not JSON/);
  assert.throws(() => decodeBundle(rawBundle(header.replace("float32", "float64"), 8)), /dtype must be float32 or int32/);
  assert.throws(() => decodeBundle(rawBundle(header.replace("[1]", "[-1]"), 0)), /shape a list of sizes/);
  assert.throws(() => encodeBundle([{ name: "w", shape: [2, 2], dtype: "float32", values: [1, 2, 3] }]), /3 values for shape \[2,2\]/);
});
