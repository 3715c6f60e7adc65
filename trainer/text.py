"""Text normalisation, tokenization and vocabularies for the translation recipe.

The normalisation is specified once, here and in `static/js/text_normalize.js`, and both are
tested against the same cases (`tests/fixtures/normalize_cases.json`): what the browser feeds
the exported encoder must be exactly what the trainer fed it.

The specification:
  1. Unicode NFC (a composed "ä" and "a" + combining diaeresis become the same token).
  2. Lowercase (`str.lower` / `String.toLowerCase`, which agree on Latin, German included).
  3. Every character of `PUNCTUATION` becomes a token of its own (spaces around it).
  4. Runs of whitespace (space, tab, newline, carriage return, form feed, vertical tab,
     no-break space) become one space; leading and trailing spaces go.
Tokens are then the space-separated pieces.
"""

from __future__ import annotations

import json
import os
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

# Straight and typographic quotes, dashes and brackets as they occur in Multi30k captions.
PUNCTUATION = ".,!?;:\"'()[]{}-–—/&…„“”‚‘’«»"
WHITESPACE = " \t\n\r\f\v\u00a0"

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
SPECIALS = (PAD, UNK, BOS, EOS)  # ids 0..3 in every vocabulary

_SPACED = {ord(char): f" {char} " for char in PUNCTUATION} | {ord(char): " " for char in WHITESPACE}


def normalize(text: str) -> str:
    """Returns `text` normalised as the module docstring specifies, tokens joined by spaces."""
    text = unicodedata.normalize("NFC", text).lower()
    return " ".join(piece for piece in text.translate(_SPACED).split(" ") if piece)


def tokenize(text: str) -> list[str]:
    """Returns the tokens of `text` after normalisation."""
    normalized = normalize(text)
    return normalized.split(" ") if normalized else []


def detokenize(tokens: Iterable[str]) -> str:
    """Returns tokens joined by spaces: the form BLEU is computed on (lowercased, split)."""
    return " ".join(tokens)


@dataclass
class Vocabulary:
    """Token ↔ id mapping; ids 0..3 are `<pad>`, `<unk>`, `<s>`, `</s>`."""

    tokens: list[str]

    def __post_init__(self) -> None:
        if tuple(self.tokens[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"A vocabulary starts with {SPECIALS}.")
        self._ids = {token: i for i, token in enumerate(self.tokens)}

    @classmethod
    def build(cls, sentences: Iterable[str], size: int, min_count: int = 1) -> Vocabulary:
        """Returns the `size` most frequent tokens of `sentences` (specials included).

        Ties are broken alphabetically, so the same corpus always gives the same ids.
        """
        counts = Counter(token for sentence in sentences for token in tokenize(sentence))
        ranked = sorted((t for t, n in counts.items() if n >= min_count and t not in SPECIALS),
                        key=lambda t: (-counts[t], t))
        return cls([*SPECIALS, *ranked[: max(0, size - len(SPECIALS))]])

    def __len__(self) -> int:
        return len(self.tokens)

    def id(self, token: str) -> int:
        return self._ids.get(token, 1)

    def encode(self, text: str) -> list[int]:
        """Returns the ids of `text`'s tokens (unknown ones as `<unk>`), without `<s>`/`</s>`."""
        return [self.id(token) for token in tokenize(text)]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Returns the tokens of `ids` up to the first `</s>`, skipping `<pad>` and `<s>`."""
        tokens = []
        for i in ids:
            i = int(i)
            if i == 3:
                break
            if i > 2 or i == 1:
                tokens.append(self.tokens[i] if i < len(self.tokens) else UNK)
        return tokens

    def to_json(self) -> dict:
        return {"tokens": self.tokens, "specials": {"pad": 0, "unk": 1, "bos": 2, "eos": 3}}

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_json(), ensure_ascii=False))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Vocabulary:
        return cls(json.loads(Path(path).read_text())["tokens"])
