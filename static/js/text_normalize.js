// Text normalisation for the translation models: the same specification as trainer/text.py
// (NFC, lowercase, punctuation as tokens of their own, whitespace runs → one space), tested
// against the same cases (tests/fixtures/normalize_cases.json) on both sides.

export const PUNCTUATION = ".,!?;:\"'()[]{}-–—/&…„“”‚‘’«»";
export const WHITESPACE = " \t\n\r\f\v\u00a0";

const PUNCTUATION_SET = new Set(PUNCTUATION);
const WHITESPACE_SET = new Set(WHITESPACE);

export function normalize(text) {
  const lowered = text.normalize("NFC").toLowerCase();
  let spaced = "";
  for (const char of lowered) {
    if (PUNCTUATION_SET.has(char)) spaced += ` ${char} `;
    else if (WHITESPACE_SET.has(char)) spaced += " ";
    else spaced += char;
  }
  return spaced.split(" ").filter((piece) => piece).join(" ");
}

export function tokenize(text) {
  const normalized = normalize(text);
  return normalized ? normalized.split(" ") : [];
}

// ids 0..3 are <pad>, <unk>, <s>, </s> in every vocabulary (trainer/text.py).
export const PAD = 0, UNK = 1, BOS = 2, EOS = 3;

export function encode(text, tokenIds) {
  return tokenize(text).map((token) => tokenIds.get(token) ?? UNK);
}

export function decode(ids, tokens) {
  const out = [];
  for (const id of ids) {
    if (id === EOS) break;
    if (id > BOS || id === UNK) out.push(tokens[id] ?? "<unk>");
  }
  return out;
}
