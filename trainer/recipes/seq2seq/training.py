"""Training the translation model: teacher forcing, BLEU on a fixed validation sample every
epoch (with those sentences' translations as the epoch's `sample`), BLEU on the test set, and
the export of the encoder and decoder for TF.js (see the package docstring)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainer.artifacts import Artifact
from trainer.fitting import make_optimizer
from trainer.recipes.seq2seq import (EXAMPLES, FIXED_SAMPLES, Seq2SeqModels, bleu, build_models, encode_sources,
                                     encode_targets, fits, masked_crossentropy, token_accuracy, translate_batch)
from trainer.text import Vocabulary

if TYPE_CHECKING:
    from trainer.context import RunContext


def run_seq2seq(context: RunContext) -> dict[str, Any]:
    """The runner of `seq2seq`: train with teacher forcing, BLEU per epoch, export for TF.js."""
    hp, events = context.hp, context.events
    corpus = context.load_dataset()
    length = hp["max_length"]
    train_de, train_en = prepare_pairs(*corpus.pairs("train"), hp["train_pairs"], length)
    val_de, val_en = corpus.pairs("val")
    test_de, test_en = corpus.pairs("test_2016_flickr")
    source_vocab = Vocabulary.build(train_de, hp["vocab_size"])
    target_vocab = Vocabulary.build(train_en, hp["vocab_size"])

    x_train = [encode_sources(train_de, source_vocab, length),
               *encode_targets(train_en, target_vocab, length)]
    x_val = [encode_sources(val_de, source_vocab, length), *encode_targets(val_en, target_vocab, length)]
    events.log(f"Training seq2seq ({hp['attention']} attention) on {len(train_de)} Multi30k pairs "
               f"(vocabularies: {len(source_vocab)} German, {len(target_vocab)} English tokens; "
               f"{len(val_de)} validation pairs) with {context.precision} on "
               f"{', '.join(context.devices)}.")
    with context.strategy.scope():
        models = build_models(hp, len(source_vocab), len(target_vocab))
        models.train.compile(optimizer=make_optimizer(hp["optimizer"], hp["learning_rate"]),
                             loss=masked_crossentropy, metrics=[token_accuracy])

    def translate(sentences: list[str]) -> list[str]:
        return translate_batch(models.encoder, models.decoder, sentences, source_vocab,
                               target_vocab, length)

    sample_size = min(hp["bleu_sample"], len(val_de))
    bleu_callback = _bleu_callback_class()(translate, val_de[:sample_size], val_en[:sample_size])
    result = context.fit(models.train, x_train[:2], x_train[2], validation_data=(x_val[:2], x_val[2]),
                         num_samples=len(train_de), monitor="val_loss",
                         sample=lambda model: bleu_callback.sample(), callbacks=[bleu_callback])

    def evaluate(result: dict[str, Any]) -> dict[str, Any]:
        x_test = [encode_sources(test_de, source_vocab, length), *encode_targets(test_en, target_vocab, length)]
        loss, accuracy = models.train.evaluate(x_test[:2], x_test[2], batch_size=256, verbose=0)
        test_bleu = bleu(translate(test_de), test_en)
        events.log(f"BLEU on test_2016_flickr ({len(test_de)} sentences, greedy): {test_bleu:.2f}; exporting.")
        return {"test_metrics": {"bleu": test_bleu, "loss": float(loss), "token_accuracy": float(accuracy),
                                 "decoding": "greedy", "sentences": len(test_de)}}

    return context.finish(result, evaluate=evaluate, export=lambda: export_translation(
        models, context.workdir, source_vocab, target_vocab, hp, test_de, test_en, **context.export_options()))


def prepare_pairs(german: list[str], english: list[str], limit: int, max_length: int):
    """Returns the first `limit` pairs whose both sides fit in `max_length` tokens."""
    kept = [(de, en) for de, en in zip(german, english)
            if de.strip() and en.strip() and fits(de, max_length) and fits(en, max_length)]
    kept = kept[:limit]
    return [de for de, _ in kept], [en for _, en in kept]


def _bleu_callback_class():
    import tf_keras as keras

    class BleuCallback(keras.callbacks.Callback):
        """Adds `val_bleu` (greedy, on a fixed validation sample) to every epoch's logs.

        It runs before the job callback, which then reports the logs (so BLEU is charted with
        the losses) and sends `sample()` — the fixed sentences' current translations.
        """

        def __init__(self, translate, sources: list[str], references: list[str]) -> None:
            super().__init__()
            self._supports_tf_logs = True
            self.translate = translate
            self.sources, self.references = sources, references
            self.hypotheses: list[str] = []
            self.bleu = 0.0

        def on_epoch_end(self, epoch: int, logs=None) -> None:
            self.hypotheses = self.translate(self.sources)
            self.bleu = bleu(self.hypotheses, self.references)
            if logs is not None:
                logs["val_bleu"] = self.bleu

        def sample(self) -> dict[str, Any]:
            return {"bleu": self.bleu, "translations": [
                {"source": s, "reference": r, "hypothesis": h}
                for s, r, h in list(zip(self.sources, self.references, self.hypotheses))[:FIXED_SAMPLES]
            ]}

    return BleuCallback


# ---- export ------------------------------------------------------------------------------------

EXPORT_BLEU_SENTENCES = 100


def export_translation(models: Seq2SeqModels, workdir, source_vocab: Vocabulary,
                       target_vocab: Vocabulary, hp: dict[str, Any], test_de: list[str],
                       test_en: list[str], **options: Any) -> list[dict[str, Any]]:
    """Exports encoder and decoder (h5 + TF.js variants), both vocabularies and the settings;
    `options` (`max_tfjs_bytes`, `log`) go to `trainer.export.export_keras_model`.

    Each exported model is loaded back and paired with the other, in-memory model to measure
    BLEU on the first `EXPORT_BLEU_SENTENCES` test sentences, so a variant's figure shows what
    its quantization costs.
    """
    from trainer.export import export_keras_model

    workdir = Path(workdir)
    length = hp["max_length"]
    sources, references = test_de[:EXPORT_BLEU_SENTENCES], test_en[:EXPORT_BLEU_SENTENCES]

    def measured(encoder, decoder) -> dict[str, Any]:
        hypotheses = translate_batch(encoder, decoder, sources, source_vocab, target_vocab, length)
        return {"bleu": bleu(hypotheses, references), "bleu_sentences": len(sources)}

    artifacts = export_keras_model(models.encoder, workdir, lambda e: measured(e, models.decoder),
                                   name="encoder", **options)
    artifacts += export_keras_model(models.decoder, workdir, lambda d: measured(models.encoder, d),
                                    name="decoder", **options)
    files = {
        "source": source_vocab.save(workdir / "vocab.de.json"),
        "target": target_vocab.save(workdir / "vocab.en.json"),
        "settings": _write_json(workdir / "translate.json", {
            "source_language": "de", "target_language": "en", "max_length": length,
            "max_steps": length + 1, "attention": hp["attention"], "layers": hp["layers"],
            "units": hp["units"], "padding": {"source": "front", "target": "back"},
            "specials": {"pad": 0, "unk": 1, "bos": 2, "eos": 3}, "examples": list(EXAMPLES),
        }),
    }
    for variant, path in files.items():
        artifacts.append(Artifact.written(workdir, "json", variant, path.name).to_dict())
    return artifacts


def _write_json(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1))
    return path
