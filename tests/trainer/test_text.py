"""Normalisation (the same cases as the browser's), vocabularies and the Multi30k download."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.ci import unavailable

from tests.trainer.conftest import REPO
from tests.trainer.test_datasets import LoopbackServer
from trainer import datasets
from trainer.datasets import DATASETS, DatasetError, load
from trainer.text import Vocabulary, normalize, tokenize

CASES = json.loads((REPO / "tests" / "fixtures" / "normalize_cases.json").read_text())
SHARED_MULTI30K = REPO.parent / "shared" / "data" / "multi30k"


@pytest.mark.parametrize("case", CASES, ids=[c["input"][:30] or "empty" for c in CASES])
def test_python_normalises_every_shared_case_as_the_fixture_says(case):
    assert normalize(case["input"]) == case["expected"]


def test_the_browser_module_normalises_the_same_cases_under_node():
    node = shutil.which("node")
    if node is None:
        unavailable("node is not installed")
    done = subprocess.run([node, "--test", "tests/js/text_normalize.test.mjs"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "# pass 2" in done.stdout and "# fail 0" in done.stdout


def test_a_vocabulary_keeps_the_most_frequent_tokens_after_the_four_specials():
    vocab = Vocabulary.build(["Ein Mann.", "Ein Hund.", "Ein Mann läuft."], size=6)

    # "ein" and "." occur three times each: ties go alphabetically, so ids never depend on order.
    assert vocab.tokens == ["<pad>", "<unk>", "<s>", "</s>", ".", "ein"]
    assert vocab.encode("Ein Mann!") == [5, 1, 1]
    assert vocab.decode([2, 5, 1, 4, 3, 5]) == ["ein", "<unk>", "."]


def test_a_vocabulary_survives_a_json_round_trip(tmp_path):
    vocab = Vocabulary.build(["Zwei Hunde spielen im Schnee."], size=100)

    loaded = Vocabulary.load(vocab.save(tmp_path / "vocab.json"))

    assert loaded.tokens == vocab.tokens == ["<pad>", "<unk>", "<s>", "</s>", ".", "hunde", "im",
                                              "schnee", "spielen", "zwei"]
    assert json.loads((tmp_path / "vocab.json").read_text())["specials"]["eos"] == 3


def test_tokenize_gives_no_tokens_for_blank_text():
    assert tokenize("  \t ") == []


@pytest.fixture
def multi30k_server(tmp_path):
    if not (SHARED_MULTI30K / "train.de.gz").exists():
        unavailable(f"Multi30k copy not found in {SHARED_MULTI30K}")
    root = tmp_path / "www"
    shutil.copytree(SHARED_MULTI30K, root)
    server = LoopbackServer(root)
    yield server
    server.close()


def test_it_downloads_and_verifies_the_six_multi30k_files_into_the_data_dir(multi30k_server, tmp_path,
                                                                            monkeypatch):
    info = DATASETS["multi30k_de_en"]
    monkeypatch.setitem(DATASETS, "multi30k_de_en", _with_mirror(info, multi30k_server.url))

    corpus = load("multi30k_de_en", tmp_path / "cache")

    assert sorted(multi30k_server.requests) == sorted(f"/{f.name}" for f in info.files)
    assert {split: len(pairs[0]) for split, pairs in corpus.splits.items()} == {
        "train": 29000, "val": 1014, "test_2016_flickr": 1000}
    german, english = corpus.pairs("train")
    assert len(german) == len(english)
    assert english[0] == "Two young, White males are outside near many bushes."
    assert (tmp_path / "cache" / "multi30k_de_en" / "val.en.gz").is_file()

    load("multi30k_de_en", tmp_path / "cache")  # a second load uses the verified files
    assert len(multi30k_server.requests) == 6


def test_a_corrupted_multi30k_file_is_rejected_naming_the_checksums(multi30k_server, tmp_path, monkeypatch):
    (Path(multi30k_server.httpd.RequestHandlerClass.keywords["directory"]) / "val.de.gz").write_bytes(b"junk")
    info = DATASETS["multi30k_de_en"]
    monkeypatch.setitem(DATASETS, "multi30k_de_en", _with_mirror(info, multi30k_server.url))

    with pytest.raises(DatasetError, match=r"val\.de\.gz.*\n.*Checksum mismatch.*6e0e229eb049e3fc99a1ef02fb2d5f91"):
        load("multi30k_de_en", tmp_path / "cache")
    assert not (tmp_path / "cache" / "multi30k_de_en" / "val.de.gz").exists()


def _with_mirror(info, url: str):
    import dataclasses

    return dataclasses.replace(info, mirrors=(url,))


def test_the_registry_points_at_the_publishers_raw_task1_files():
    info = datasets.DATASETS["multi30k_de_en"]
    assert info.mirrors == ("https://raw.githubusercontent.com/multi30k/dataset/master/data/task1/raw/",)
    assert [f.name for f in info.files] == [f"{split}.{lang}.gz" for split in ("train", "val", "test_2016_flickr")
                                            for lang in ("de", "en")]
