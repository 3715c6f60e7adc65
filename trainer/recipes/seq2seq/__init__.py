"""German→English translation: an LSTM encoder–decoder with optional attention (Multi30k).

Three Keras models share one set of layers: the training model (teacher forcing: the decoder
reads the reference shifted right), the encoder (source ids → encoder outputs + LSTM states)
and the one-step decoder (previous token, encoder outputs, states → next-token probabilities,
new states). The last two are what the browser and the server's beam search run.

Attention is built from layers tfjs-layers 4.22 has (Dense, Dot, Add, Activation, Reshape,
Concatenate) — it has no Attention/AdditiveAttention layer — so the exported decoder loads with
`tf.loadLayersModel`. "luong" scores with a dot product between decoder output and encoder
outputs; "bahdanau" with the additive score v·tanh(W₁h_enc + W₂h_dec). Either way the context
vector is concatenated with the decoder output and passed through a tanh layer (Luong's
attentional hidden state) before the softmax.

Sources are padded at the front (so the encoder's final state follows the last real word,
without masking, which keeps the graph simple for TF.js); targets at the back, with padding
weighted out of the loss and the token accuracy.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trainer.hyperparams import COMMON, Param
from trainer.recipes import ModelCount, Recipe
from trainer.recipes.seq2seq import serving
from trainer.text import BOS, EOS, PAD, SPECIALS, Vocabulary, detokenize, normalize

ATTENTIONS = ("none", "luong", "bahdanau")
# Shown on the job page every epoch (from val) and offered as examples on the try page.
FIXED_SAMPLES = 6
EXAMPLES = ("Ein Mann fährt Fahrrad.", "Zwei Hunde spielen im Schnee.",
            "Eine Frau sitzt auf einer Bank.", "Ein kleines Mädchen klettert auf einen Baum.",
            "Ein Mann in einem blauen Hemd spielt Gitarre.")


@dataclass
class Seq2SeqModels:
    """The training model and the two inference models that share its layers."""

    train: Any
    encoder: Any
    decoder: Any


def build_models(hp: dict[str, Any], source_vocab: int, target_vocab: int) -> Seq2SeqModels:
    """Returns the training, encoder and one-step decoder models (uncompiled).

    Args:
        hp: `units`, `layers`, `embedding_size`, `dropout`, `attention`, `max_length`.
        source_vocab: German vocabulary size.
        target_vocab: English vocabulary size.
    """
    import tf_keras as keras
    from tf_keras import layers

    units, depth, length = hp["units"], hp["layers"], hp["max_length"]
    source_length, target_length = length, length + 1  # targets gain <s> / </s>
    attention = hp["attention"]

    source_embedding = layers.Embedding(source_vocab, hp["embedding_size"], name="source_embedding")
    target_embedding = layers.Embedding(target_vocab, hp["embedding_size"], name="target_embedding")
    encoder_lstms = [layers.LSTM(units, return_sequences=True, return_state=True,
                                 name=f"encoder_lstm_{i}") for i in range(depth)]
    decoder_lstms = [layers.LSTM(units, return_sequences=True, return_state=True,
                                 name=f"decoder_lstm_{i}") for i in range(depth)]
    dropout = layers.Dropout(hp["dropout"], name="dropout")
    key_projection = layers.Dense(units, use_bias=False, name="attention_keys")
    query_projection = layers.Dense(units, name="attention_query")
    energy = layers.Dense(1, use_bias=False, name="attention_energy")
    attentional = layers.Dense(units, activation="tanh", name="attentional_hidden")
    output = layers.Dense(target_vocab, activation="softmax", dtype="float32", name="next_token")

    def encode(source):
        x, states = dropout(source_embedding(source)), []
        for lstm in encoder_lstms:
            x, h, c = lstm(x)
            states += [h, c]
            x = dropout(x)
        return x, states

    def attend(query, keys, steps: int, tag: str):
        if attention == "luong":
            scores = layers.Dot(axes=(2, 2), name=f"{tag}_scores")([query, keys])
        else:  # bahdanau: v·tanh(W₁k + W₂q), broadcast over (query step, key step)
            k = layers.Reshape((1, source_length, units), name=f"{tag}_keys")(key_projection(keys))
            q = layers.Reshape((steps, 1, units), name=f"{tag}_query")(query_projection(query))
            summed = layers.Activation("tanh", name=f"{tag}_tanh")(layers.Add(name=f"{tag}_add")([q, k]))
            scores = layers.Reshape((steps, source_length), name=f"{tag}_scores")(energy(summed))
        weights = layers.Activation("softmax", name=f"{tag}_weights")(scores)
        context = layers.Dot(axes=(2, 1), name=f"{tag}_context")([weights, keys])
        return attentional(layers.Concatenate(name=f"{tag}_concat")([context, query]))

    def decode(tokens, keys, states, steps: int, tag: str):
        x, new_states = dropout(target_embedding(tokens)), []
        for i, lstm in enumerate(decoder_lstms):
            x, h, c = lstm(x, initial_state=states[2 * i: 2 * i + 2])
            new_states += [h, c]
            x = dropout(x)
        if attention != "none":
            x = dropout(attend(x, keys, steps, tag))
        return output(x), new_states

    source = keras.Input((source_length,), dtype="int32", name="source")
    target_in = keras.Input((target_length,), dtype="int32", name="target_in")
    keys, states = encode(source)
    probabilities, _ = decode(target_in, keys, states, target_length, "train_attention")
    train = keras.Model([source, target_in], probabilities, name="seq2seq")

    encoder = keras.Model(source, [keys, *states], name="encoder")

    token = keras.Input((1,), dtype="int32", name="token")
    encoder_outputs = keras.Input((source_length, units), name="encoder_outputs")
    state_inputs = [keras.Input((units,), name=f"{kind}{i}") for i in range(depth) for kind in "hc"]
    step, step_states = decode(token, encoder_outputs, state_inputs, 1, "step_attention")
    # Without attention the encoder outputs are not used, and a Keras input must be.
    step_inputs = [token, *([encoder_outputs] if attention != "none" else []), *state_inputs]
    decoder = keras.Model(step_inputs, [step, *step_states], name="decoder")
    return Seq2SeqModels(train, encoder, decoder)


def build_seq2seq(hp: dict[str, Any], input_shape: tuple[int, ...], num_classes: int):
    """`Recipe.build`: the training model, with one vocabulary size for both languages."""
    return build_models(hp, num_classes, num_classes).train


def count_seq2seq(hp: dict[str, Any], input_shape: tuple[int, ...], num_classes: int = 0) -> ModelCount:
    """Returns the size of `build_models`' training model without building it.

    Args:
        hp: the hyperparameters `build_models` takes, and `vocab_size`.
        input_shape: `(source, target)`: the most tokens each vocabulary can have on the
            dataset (the corpus' distinct tokens); each is also capped at `vocab_size`.
        num_classes: unused (the recipe interface's classifier argument).

    The encoder and decoder that are exported hold exactly the training model's layers.
    Activations count, per LSTM layer and step, the 4 gates and the cell state that
    backpropagation through time keeps besides the output.
    """
    source_vocab, target_vocab = (min(hp["vocab_size"], cap) for cap in input_shape)
    units, depth, embedding = hp["units"], hp["layers"], hp["embedding_size"]
    source_steps, target_steps = hp["max_length"], hp["max_length"] + 1

    def lstms() -> int:
        return sum(4 * ((embedding if i == 0 else units) * units + units * units + units)
                   for i in range(depth))

    params = (source_vocab + target_vocab) * embedding + 2 * lstms() + units * target_vocab + target_vocab
    # Embedding + dropout, then per LSTM layer its output, gates + cell state, dropout.
    activations = (source_steps + target_steps) * (2 * embedding + depth * 7 * units)
    if hp["attention"] != "none":
        params += 2 * units * units + units  # the attentional tanh layer over [context, query]
        scores = target_steps * source_steps
        # scores, softmax weights, context, concat, attentional hidden state, dropout
        activations += 2 * scores + target_steps * units * 5
    if hp["attention"] == "bahdanau":
        params += units * units + (units * units + units) + units  # keys, query, energy
        # Projected and reshaped keys and query, then the broadcast sum and its tanh over
        # every (query step, key step) pair: the largest tensors of this recipe.
        activations += 2 * (source_steps + target_steps) * units + 2 * scores * units + scores
    activations += target_steps * target_vocab  # the softmax over the target vocabulary
    return ModelCount(params, params, params, activations, exports_optimizer=False)


# ---- data --------------------------------------------------------------------------------------

# The ids of `trainer.text.SPECIALS` in every vocabulary.
PAD_ID, BOS_ID, EOS_ID = (SPECIALS.index(token) for token in (PAD, BOS, EOS))


def encode_sources(sentences: list[str], vocab: Vocabulary, length: int) -> np.ndarray:
    """Returns `(n, length)` int32 ids, front-padded; sentences too long keep their start."""
    out = np.full((len(sentences), length), PAD_ID, dtype=np.int32)
    for row, sentence in enumerate(sentences):
        ids = vocab.encode(sentence)[:length]
        if ids:
            out[row, length - len(ids):] = ids
    return out


def encode_targets(sentences: list[str], vocab: Vocabulary, length: int):
    """Returns decoder inputs (`<s>` + ids), outputs (ids + `</s>`), both back-padded, and the
    0/1 mask of real output tokens."""
    steps = length + 1
    inputs = np.full((len(sentences), steps), PAD_ID, dtype=np.int32)
    outputs = np.full((len(sentences), steps), PAD_ID, dtype=np.int32)
    for row, sentence in enumerate(sentences):
        ids = vocab.encode(sentence)[:length]
        inputs[row, : len(ids) + 1] = [BOS_ID, *ids]
        outputs[row, : len(ids) + 1] = [*ids, EOS_ID]
    return inputs, outputs, (outputs != PAD_ID).astype(np.float32)


def fits(sentence: str, max_tokens: int) -> bool:
    return len(normalize(sentence).split(" ")) <= max_tokens


# ---- decoding ----------------------------------------------------------------------------------

def _step_inputs(decoder, tokens, keys, states) -> list:
    return [tokens, *([keys] if len(decoder.inputs) > len(states) + 1 else []), *states]


def greedy_decode(encoder, decoder, sources: np.ndarray, max_steps: int,
                  batch_size: int = 500) -> list[list[int]]:
    """Returns the greedy token ids (up to `</s>`, excluded) for each row of `sources`.

    The same loop as the browser's: one decoder call per step, argmax of the probabilities.
    """
    results: list[list[int]] = []
    for start in range(0, len(sources), batch_size):
        batch = sources[start: start + batch_size]
        keys, *states = [np.asarray(t) for t in encoder(batch, training=False)]
        tokens = np.full((len(batch), 1), BOS_ID, dtype=np.int32)
        picked = np.zeros((len(batch), max_steps), dtype=np.int32)
        done = np.zeros(len(batch), dtype=bool)
        for step in range(max_steps):
            probabilities, *states = [np.asarray(t) for t in decoder(
                _step_inputs(decoder, tokens, keys, states), training=False)]
            tokens = np.argmax(probabilities[:, -1, :], axis=-1).astype(np.int32)[:, None]
            picked[:, step] = tokens[:, 0]
            done |= tokens[:, 0] == EOS_ID
            if done.all():
                break
        for row in picked:
            ids = row.tolist()
            results.append(ids[: ids.index(EOS_ID)] if EOS_ID in ids else ids)
    return results


def beam_decode(encoder, decoder, source: np.ndarray, max_steps: int,
                width: int = 4) -> tuple[list[int], float]:
    """Returns the best token ids for one source row (shape `(1, length)`) and their log-prob.

    Hypotheses are ranked by log-probability per token (length penalty 1), so short
    translations are not favoured; width 1 is exactly the greedy decode.
    """
    keys, *states = [np.asarray(t) for t in encoder(source, training=False)]
    beams = [([], 0.0, [s[0] for s in states])]  # (ids, summed log-prob, LSTM states)
    finished: list[tuple[list[int], float]] = []
    for _ in range(max_steps):
        tokens = np.array([[ids[-1] if ids else BOS_ID] for ids, _, _ in beams], dtype=np.int32)
        batch_states = [np.stack([beam[2][i] for beam in beams]) for i in range(len(states))]
        batch_keys = np.repeat(keys, len(beams), axis=0)
        probabilities, *new_states = [np.asarray(t) for t in decoder(
            _step_inputs(decoder, tokens, batch_keys, batch_states), training=False)]
        log_p = np.log(np.clip(probabilities[:, -1, :], 1e-30, 1.0))
        candidates = []
        for b, (ids, score, _) in enumerate(beams):
            # argmax for the first pick keeps width 1 identical to greedy_decode's tie-breaking.
            best = [int(np.argmax(log_p[b]))] if width == 1 else np.argsort(-log_p[b], kind="stable")[:width]
            candidates += [(score + float(log_p[b, k]), b, int(k)) for k in best]
        candidates.sort(key=lambda c: -c[0])
        next_beams = []
        for score, b, k in candidates:
            ids = [*beams[b][0], k]
            if k == EOS_ID:
                finished.append((ids[:-1], score))
            else:
                next_beams.append((ids, score, [s[b] for s in new_states]))
            if len(next_beams) == width:
                break
        beams = next_beams
        if len(finished) >= width or not beams:
            break
    if not finished:
        finished = [(ids, score) for ids, score, _ in beams]
    return max(finished, key=lambda f: f[1] / (len(f[0]) + 1))


# ---- metrics -----------------------------------------------------------------------------------

def masked_crossentropy(y_true, y_pred):
    """Cross-entropy per real target token: padding (id 0) neither counts nor dilutes the mean.

    (Keras' sample weights would zero the padding but still divide by every position, so the
    loss would shrink with the share of padding rather than measure the tokens.)
    """
    import tensorflow as tf

    y_true = tf.cast(y_true, tf.int32)
    losses = _sparse_crossentropy(y_true, y_pred)
    mask = tf.cast(tf.not_equal(y_true, PAD_ID), losses.dtype)
    return tf.reduce_sum(losses * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)


def token_accuracy(y_true, y_pred):
    """Share of real target tokens (padding excluded) whose argmax is right, per batch."""
    import tensorflow as tf

    y_true = tf.cast(y_true, tf.int32)
    right = tf.cast(tf.equal(y_true, tf.argmax(y_pred, axis=-1, output_type=tf.int32)), tf.float32)
    mask = tf.cast(tf.not_equal(y_true, PAD_ID), tf.float32)
    return tf.reduce_sum(right * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)


def _sparse_crossentropy(y_true, y_pred):
    import tf_keras as keras

    return keras.losses.sparse_categorical_crossentropy(y_true, y_pred)


def bleu(hypotheses: list[str], references: list[str]) -> float:
    """Returns corpus BLEU (sacrebleu, 0–100) of normalised hypotheses against references.

    Both sides are lowercased and punctuation-split by `normalize` first, the usual
    "tokenized, lowercased" BLEU of Multi30k papers.
    """
    import sacrebleu

    return float(sacrebleu.corpus_bleu(hypotheses, [[normalize(r) for r in references]],
                                       tokenize="none", force=True).score)


def translate_batch(encoder, decoder, sentences: list[str], source_vocab: Vocabulary,
                    target_vocab: Vocabulary, max_length: int) -> list[str]:
    """Returns the greedy translations of `sentences`, normalised (tokens joined by spaces)."""
    ids = greedy_decode(encoder, decoder, encode_sources(sentences, source_vocab, max_length),
                        max_length + 1)
    return [detokenize(target_vocab.decode(row)) for row in ids]


# ---- training (training.py) --------------------------------------------------------------------

def run_seq2seq(context) -> dict[str, Any]:
    """`Recipe.run`: trains, scores and exports the translation model (`training.run_seq2seq`,
    imported when a job runs: importing the recipes must not import TensorFlow)."""
    from trainer.recipes.seq2seq import training

    return training.run_seq2seq(context)


# ---- server-side translation -------------------------------------------------------------------

def translate_with_export(workdir, text: str, beam_width: int = 4) -> dict[str, Any]:
    """Translates one German sentence with a job's exported Keras encoder and decoder.

    The models come from `trainer.inference`'s LRU cache, so only the first request pays for
    loading TensorFlow and the models.

    Returns:
        `{"translation", "tokens", "ids", "source_tokens", "unknown", "score", "beam_width",
        "latency_ms", "ms_per_token"}`.
    """
    from trainer import inference

    workdir = Path(workdir)
    settings = json.loads((workdir / "translate.json").read_text())
    source_vocab = _cached_vocab(workdir / "vocab.de.json")
    target_vocab = _cached_vocab(workdir / "vocab.en.json")
    encoder = inference.load_model(workdir / "encoder.h5")
    decoder = inference.load_model(workdir / "decoder.h5")
    source = encode_sources([text], source_vocab, settings["max_length"])
    started = time.perf_counter()
    ids, score = beam_decode(encoder, decoder, source, settings["max_steps"], beam_width)
    latency_ms = (time.perf_counter() - started) * 1000
    tokens = target_vocab.decode(ids)
    source_tokens = normalize(text).split(" ") if normalize(text) else []
    return {
        "translation": detokenize(tokens), "tokens": tokens, "ids": [int(i) for i in ids],
        "source_tokens": source_tokens,
        "unknown": [t for t in source_tokens if source_vocab.id(t) == 1],
        "score": float(score), "beam_width": beam_width, "latency_ms": latency_ms,
        # +1: the step that produced </s> counts too.
        "ms_per_token": latency_ms / (len(ids) + 1),
    }


_vocab_cache: dict[tuple[str, int], Vocabulary] = {}


def _cached_vocab(path: Path) -> Vocabulary:
    key = (str(path), path.stat().st_mtime_ns)
    if key not in _vocab_cache:
        _vocab_cache[key] = Vocabulary.load(path)
    return _vocab_cache[key]


RECIPE = Recipe(
    name="seq2seq",
    title="German→English translation (LSTM seq2seq)",
    task="translation",
    description=(
        "An LSTM encoder-decoder with optional Luong or Bahdanau attention, trained on Multi30k.\n"
        "Watch fixed sentences improve every epoch, then translate your own in the browser."
    ),
    datasets=("multi30k_de_en",),
    default_dataset="multi30k_de_en",
    hyperparameters={
        **{name: param for name, param in COMMON.items() if name != "validation_split"},
        # Multi30k has its own validation split, so validation_split is not offered.
        # Measured (benchmarks/translation_bleu.py, 2 shared CPU cores): 8 epochs in about 8 minutes
        # reach BLEU 31.6 on test_2016_flickr (greedy); val_bleu passes 18 after epoch 3.
        "epochs": COMMON["epochs"].with_default(8),
        "batch_size": COMMON["batch_size"].with_default(64),
        "learning_rate": COMMON["learning_rate"].with_default(0.003),
        # 128 units: an epoch over all 29,000 pairs takes about 1 minute on 2 CPU cores (2-3 when
        # they are shared), so the fixed sentences change visibly within minutes.
        "units": Param("int", 128, min=8, max=1024, help="LSTM units (encoder and decoder)."),
        "layers": Param("int", 1, min=1, max=4, help="Stacked LSTM layers in encoder and decoder."),
        "embedding_size": Param("int", 128, min=8, max=1024, help="Word embedding size."),
        "dropout": Param("float", 0.2, min=0.0, max=0.8, help="Dropout after embeddings and LSTMs."),
        "attention": Param("str", "luong", choices=ATTENTIONS,
                           help="none, luong (dot score) or bahdanau (additive score)."),
        "vocab_size": Param("int", 8000, min=10, max=50000,
                            help="Most frequent tokens kept per language (<unk> for the rest)."),
        "max_length": Param("int", 20, min=4, max=64,
                            help="Longest sentence in tokens; longer training pairs are skipped."),
        "train_pairs": Param("int", 29000, min=10, max=29000,
                             help="Train on the first N pairs of the 29,000 (fewer trains faster)."),
        "bleu_sample": Param("int", 200, min=6, max=1014,
                             help="Validation sentences translated for val_bleu every epoch."),
    },
    build=build_seq2seq,
    count=count_seq2seq,
    run=run_seq2seq,
    pages=(serving.PAGE,), actions=(serving.TRANSLATE,),
)
