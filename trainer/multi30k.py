"""Multi30k task 1 (German/English image captions): the translation recipe's dataset.

The files are the raw (untokenized) task-1 files of the publisher's repository,
github.com/multi30k/dataset, data/task1/raw/. Line i of `<split>.de` translates line i of
`<split>.en`.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass, field
from pathlib import Path

from trainer.datasets import DatasetError, DatasetInfo, RemoteFile, fetch, register

SPLITS = ("train", "val", "test_2016_flickr")

# md5 of each .gz as published, then of its decompressed text. Both were measured on the copies
# in ../shared/data/multi30k/ (29,000 / 1,014 / 1,000 lines); the .gz md5s of train and val equal
# those torchtext's Multi30k loader verifies against the same URLs, so they are the publisher's.
FILES = (
    RemoteFile("train.de.gz", "81ff90b99829c0cd4b1b587d394afd39", "d3b4bc1671cfb805267f97f16884beba"),
    RemoteFile("train.en.gz", "0065d13af80720a55ca8153d126e6627", "053a34ece7c904dbc8c7361799afbe4c"),
    RemoteFile("val.de.gz", "6e0e229eb049e3fc99a1ef02fb2d5f91", "9f139b15d9d11936dea7af2904e57d8c"),
    RemoteFile("val.en.gz", "2b69aa9253948ac9f67e94917272dd40", "2234730e7925354b766681b029b347ec"),
    RemoteFile("test_2016_flickr.de.gz", "efd67d314d98489b716b145475101932",
               "cde61d7401b116652ee84099c7858ca3"),
    RemoteFile("test_2016_flickr.en.gz", "ff2c0fcb4893a13bd73414306bc250ae",
               "2022a6c31e2418047a0511333d55ed42"),
)


@dataclass
class ParallelCorpus:
    """Sentence pairs per split: `splits["train"] == (german_lines, english_lines)`."""

    name: str
    splits: dict[str, tuple[list[str], list[str]]] = field(default_factory=dict)
    source_language: str = "de"
    target_language: str = "en"

    def pairs(self, split: str) -> tuple[list[str], list[str]]:
        return self.splits[split]


def read_lines(path: str | os.PathLike) -> list[str]:
    """Returns the lines of a gzipped UTF-8 text file, without line ends."""
    with gzip.open(path, "rt", encoding="utf-8") as stream:
        return stream.read().splitlines()


def _load_multi30k(info: DatasetInfo, data_dir: str | os.PathLike | None) -> ParallelCorpus:
    folder = fetch(info, data_dir)
    corpus = ParallelCorpus(info.name)
    for split in SPLITS:
        german = read_lines(Path(folder) / f"{split}.de.gz")
        english = read_lines(Path(folder) / f"{split}.en.gz")
        if len(german) != len(english):
            raise DatasetError(
                f"{folder}/{split}.de.gz has {len(german)} lines but {split}.en.gz has "
                f"{len(english)}; delete both and let them download again."
            )
        corpus.splits[split] = (german, english)
    return corpus


MULTI30K = register(DatasetInfo(
    "multi30k_de_en", "Multi30k task 1, German→English", (), _load_multi30k,
    mirrors=("https://raw.githubusercontent.com/multi30k/dataset/master/data/task1/raw/",),
    files=FILES,
    homepage="https://github.com/multi30k/dataset/tree/master/data/task1/raw",
    # The distinct tokens (specials included) of its 29,000 training pairs, German and English.
    shape=((17_916, 9_788), 0), train_samples=29_000,
))
