"""The seq2seq recipe: models built from TF.js-loadable layers, decoding, a tiny real run, export."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tests.support.ci import unavailable

from tests.trainer.conftest import REPO, make_spec
from trainer.recipes import RECIPES
from trainer.recipes.seq2seq import beam_decode, build_models, greedy_decode, translate_with_export
from trainer.reporter import ListReporter
from trainer.run import train

SHARED_MULTI30K = REPO.parent / "shared" / "data" / "multi30k"
# Layer classes tfjs-layers 4.22 can deserialize (node_modules/@tensorflow/tfjs-layers), of those
# this recipe could use; Attention and AdditiveAttention are not among them.
TFJS_LAYERS = {"InputLayer", "Embedding", "LSTM", "Dropout", "Dense", "Dot", "Add", "Activation",
               "Reshape", "Concatenate"}
TINY = {"train_pairs": 300, "epochs": 2, "units": 24, "embedding_size": 16, "vocab_size": 400,
        "max_length": 12, "bleu_sample": 12, "batch_size": 32, "learning_rate": 0.01}


def hp(**overrides):
    return {**RECIPES["seq2seq"].defaults(), "units": 16, "embedding_size": 8, "max_length": 6, **overrides}


@pytest.mark.parametrize("attention", ["none", "luong", "bahdanau"])
@pytest.mark.parametrize("layers", [1, 2])
def test_encoder_and_decoder_use_only_layers_tfjs_can_load(attention, layers):
    models = build_models(hp(attention=attention, layers=layers), 30, 40)

    for model in (models.train, models.encoder, models.decoder):
        assert {type(layer).__name__ for layer in model.layers} <= TFJS_LAYERS
    assert models.train.output_shape == (None, 7, 40)  # max_length + 1 target steps
    assert models.encoder.output_shape[0] == (None, 6, 16)
    assert len(models.encoder.outputs) == 1 + 2 * layers  # outputs, then h and c per layer
    assert models.decoder.output_shape[0] == (None, 1, 40)
    assert len(models.decoder.inputs) == 1 + (attention != "none") + 2 * layers


def test_inference_models_share_the_training_models_weights():
    models = build_models(hp(attention="luong"), 30, 40)
    trained_names = {w.name for w in models.train.weights}

    assert {w.name for w in models.encoder.weights} | {w.name for w in models.decoder.weights} == trained_names


@pytest.mark.parametrize("attention", ["none", "bahdanau"])
def test_a_beam_of_width_one_decodes_exactly_like_greedy(attention):
    models = build_models(hp(attention=attention), 30, 40)
    sources = np.random.default_rng(0).integers(4, 30, (5, 6)).astype(np.int32)

    greedy = greedy_decode(models.encoder, models.decoder, sources, 7)
    beams = [beam_decode(models.encoder, models.decoder, sources[i: i + 1], 7, width=1)[0] for i in range(5)]

    assert beams == greedy
    assert all(len(ids) <= 7 and 3 not in ids for ids in greedy)


def sequence_log_probability(models, source, ids, finished: bool) -> float:
    """Teacher-forces `ids` (+ </s> if finished) through the step decoder, summing log-probs."""
    keys, *states = [np.asarray(t) for t in models.encoder(source)]
    total, previous = 0.0, 2
    for token in [*ids, *([3] if finished else [])]:
        probabilities, *states = [np.asarray(t) for t in models.decoder([np.array([[previous]]), keys, *states])]
        total += float(np.log(probabilities[0, -1, token]))
        previous = token
    return total


def test_a_wider_beam_scores_its_translation_with_the_decoders_own_probabilities():
    models = build_models(hp(attention="luong"), 30, 40)
    source = np.arange(4, 10, dtype=np.int32)[None]

    ids, score = beam_decode(models.encoder, models.decoder, source, 7, width=4)

    finished = len(ids) < 7
    assert score == pytest.approx(sequence_log_probability(models, source, ids, finished), abs=1e-4)
    assert score < 0


@pytest.fixture
def data_dir(tmp_path):
    if not (SHARED_MULTI30K / "train.de.gz").exists():
        unavailable(f"Multi30k copy not found in {SHARED_MULTI30K}")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "multi30k_de_en").symlink_to(SHARED_MULTI30K)
    return tmp_path / "data"


def test_a_tiny_job_trains_reports_bleu_and_samples_and_exports_loadable_models(data_dir, tmp_path):
    from tensorflowjs import converters

    reporter = ListReporter()
    workdir = tmp_path / "job"

    result = train(make_spec("seq2seq", attention="luong", **TINY), reporter, workdir, data_dir=data_dir)

    assert result["status"] == "succeeded" and result["epochs_run"] == 2
    epochs = [data for kind, data in reporter.events if kind == "epoch"]
    assert [e["epoch"] for e in epochs] == [1, 2]
    assert {"loss", "token_accuracy", "val_loss", "val_token_accuracy", "val_bleu"} <= set(epochs[0]["logs"])
    assert epochs[1]["logs"]["loss"] < epochs[0]["logs"]["loss"]
    assert result["history"]["val_bleu"] == [e["logs"]["val_bleu"] for e in epochs]
    samples = [data for kind, data in reporter.events if kind == "sample"]
    assert [s["epoch"] for s in samples] == [1, 2]
    first = samples[0]["translations"][0]
    assert first["source"] == "Eine Gruppe von Männern lädt Baumwolle auf einen Lastwagen"
    assert first["reference"] == "A group of men are loading cotton onto a truck"
    assert isinstance(first["hypothesis"], str) and len(samples[0]["translations"]) == 6
    assert samples[1]["bleu"] == epochs[1]["logs"]["val_bleu"]
    metrics = result["test_metrics"]
    assert metrics["sentences"] == 1000 and 0 <= metrics["bleu"] <= 100 and 0 < metrics["token_accuracy"] < 1

    artifacts = {(a.get("model"), a["kind"], a["variant"]): a for a in result["artifacts"]}
    for model in ("encoder", "decoder"):
        for kind, variant in [("keras", "h5"), ("tfjs", "float32"), ("tfjs", "float16"), ("tfjs", "uint8")]:
            artifact = artifacts[(model, kind, variant)]
            assert all((workdir / f).is_file() for f in artifact["files"])
            assert artifact["bleu_sentences"] == 100
    assert artifacts[("decoder", "tfjs", "uint8")]["bytes"] < artifacts[("decoder", "tfjs", "float32")]["bytes"]
    for variant in ("source", "target", "settings"):
        assert (workdir / artifacts[(None, "json", variant)]["path"]).is_file()
    settings = json.loads((workdir / "translate.json").read_text())
    assert settings["max_length"] == 12 and settings["attention"] == "luong"
    assert [e for kind, e in reporter.events if kind == "artifact"] == result["artifacts"]

    # Export round trip: the server's beam-1 translation from encoder.h5/decoder.h5 is the greedy
    # decode of the TF.js float32 files loaded back.
    server = translate_with_export(workdir, "Ein Mann fährt Fahrrad.", beam_width=1)
    encoder = converters.load_keras_model(str(workdir / "tfjs/encoder/float32/model.json"))
    decoder = converters.load_keras_model(str(workdir / "tfjs/decoder/float32/model.json"))
    from trainer.recipes.seq2seq import encode_sources
    from trainer.text import Vocabulary

    source = encode_sources(["Ein Mann fährt Fahrrad."], Vocabulary.load(workdir / "vocab.de.json"), 12)
    assert greedy_decode(encoder, decoder, source, 13) == [server["ids"]]
    assert server["source_tokens"] == ["ein", "mann", "fährt", "fahrrad", "."]
    assert server["ms_per_token"] > 0


def test_a_cancelled_job_stops_at_once_and_exports_nothing(data_dir, tmp_path):
    reporter = ListReporter()
    reporter.stop = True

    result = train(make_spec("seq2seq", attention="none", **TINY), reporter, tmp_path / "job", data_dir=data_dir)

    assert result["status"] == "cancelled" and result["epochs_run"] == 0
    assert "artifacts" not in result and not (tmp_path / "job" / "encoder.h5").exists()
