import assert from "node:assert/strict";
import { test } from "node:test";

import { batchValue, smooth } from "../../static/js/chart_math.js";

test("the loss between two reports is recovered from Keras' running means", () => {
  // Batches with losses 4, 2, 3, 1: running means 4, 3, 3, 2.5; reported after steps 1 and 4.
  const first = { epoch: 1, step: 1, logs: { loss: 4 } };
  assert.equal(batchValue(null, first), 4);
  assert.equal(batchValue({ epoch: 1, step: 1, mean: 4 }, { epoch: 1, step: 4, logs: { loss: 2.5 } }), 2);
  // Any metric: accuracy 1, 0, 0, 1 (running means 1, .5, .33, .5); between steps 2 and 4: 0.5.
  assert.equal(batchValue({ epoch: 1, step: 2, mean: 0.5 }, { epoch: 1, step: 4, logs: { accuracy: 0.5 } }, "accuracy"), 0.5);
});

test("a new epoch starts its own mean, and a report without a finite loss draws nothing", () => {
  assert.equal(batchValue({ epoch: 1, step: 9, mean: 0.5 }, { epoch: 2, step: 3, logs: { loss: 0.4 } }), 0.4);
  assert.equal(batchValue(null, { epoch: 1, step: 1, logs: { loss: NaN } }), null);
  assert.equal(batchValue(null, { epoch: 1, step: 1, logs: {} }), null);
});

test("smoothing is debiased at the start and 0 keeps the values", () => {
  const points = [{ x: 1, y: 10 }, { x: 2, y: 10 }, { x: 3, y: 0 }];
  assert.deepEqual(smooth(points, 0), points);
  const smoothed = smooth(points, 0.6);
  assert.equal(smoothed[0].y, 10); // not 4: the start is not pulled towards 0
  assert.ok(Math.abs(smoothed[1].y - 10) < 1e-12);
  assert.ok(Math.abs(smoothed[2].y - 3.84 / 0.784) < 1e-12); // (0.6·6.4 + 0.4·0) / (1 − 0.6³)
});
