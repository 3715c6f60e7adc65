// node --test tests/js/: the browser's normalisation against the cases Python is tested on.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { decode, encode, normalize } from "../../static/js/text_normalize.js";

const cases = JSON.parse(readFileSync(new URL("../fixtures/normalize_cases.json", import.meta.url)));

test("every shared case normalises in JS as the fixture says", () => {
  assert.ok(cases.length >= 10);
  for (const { input, expected } of cases) assert.equal(normalize(input), expected, JSON.stringify(input));
});

test("encoding maps unknown tokens to <unk> and decoding stops at </s>", () => {
  const tokens = ["<pad>", "<unk>", "<s>", "</s>", "ein", "mann", "."];
  const ids = new Map(tokens.map((t, i) => [t, i]));
  assert.deepEqual(encode("Ein Mann schläft.", ids), [4, 5, 1, 6]);
  assert.deepEqual(decode([2, 4, 5, 3, 6], tokens), ["ein", "mann"]);
});
