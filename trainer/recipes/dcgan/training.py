"""Training the DCGAN: the quality judge, the callback that scores every epoch with it, the
runner, and the generator's export (see the package docstring)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from trainer.artifacts import Artifact
from trainer.fitting import make_optimizer, split_validation
from trainer.recipes.dcgan import (GRID_SEED, GRID_SIDE, META_FILE, QUALITY_SAMPLES, QUALITY_SEED, build_dcgan,
                                   data_url, grid_png, latent_batch, quality)

if TYPE_CHECKING:
    from trainer.context import RunContext


def run_dcgan(context: RunContext) -> dict[str, Any]:
    """Trains the GAN with the job callback, then exports the generator (see the package docstring)."""
    import tf_keras as keras

    from trainer.datasets import default_data_dir

    hp, events = context.hp, context.events
    given = context.dataset is not None
    dataset = context.load_dataset()
    x_train, _, x_val, _ = split_validation(dataset.x_train.astype(np.float32), dataset.y_train,
                                            hp["validation_split"], hp["seed"])
    events.log(f"Training dcgan on {dataset.name} ({len(x_train)} images of "
               f"{'x'.join(map(str, dataset.input_shape))}, {len(x_val)} held out) with "
               f"{context.precision} on {', '.join(context.devices)}.")

    started = time.perf_counter()
    # Shared between jobs only for a dataset loaded by name: data a caller passes in may differ
    # under one name. Kept in the job's folder otherwise, so a resumed job scores its remaining
    # epochs with the judge that scored the first ones.
    cache_dir = (context.workdir / "judge" if given
                 else Path(context.data_dir or default_data_dir()) / "gan_judges")
    judge, judge_accuracy = train_judge(dataset, hp["seed"], cache_dir)
    events.log(f"Quality judge ready in {time.perf_counter() - started:.1f} s: a small convnet "
               f"with test accuracy {judge_accuracy:.3f} scores each epoch's samples.")

    grid_latents = latent_batch(GRID_SIDE * GRID_SIDE, hp["latent_dim"], GRID_SEED)
    quality_latents = latent_batch(QUALITY_SAMPLES, hp["latent_dim"], QUALITY_SEED)
    def optimizer(learning_rate: float):
        if hp["optimizer"] == "adam":
            chosen = keras.optimizers.Adam(learning_rate, beta_1=hp["beta_1"])
        else:
            chosen = make_optimizer(hp["optimizer"], learning_rate)
        if context.precision.startswith("mixed"):
            return keras.mixed_precision.LossScaleOptimizer(chosen)
        return chosen

    with context.strategy.scope():
        gan = build_dcgan(hp, dataset.input_shape)
        gan.compile(d_optimizer=optimizer(hp["d_learning_rate"]),
                    g_optimizer=optimizer(hp["learning_rate"]))
    gan(grid_latents[:1])  # builds the model, so checkpoints can save its weights

    def sample(model) -> dict[str, Any]:
        images = model.generator.predict(grid_latents, batch_size=256, verbose=0)
        return {"image": data_url(grid_png(images))}

    # No validation loss to monitor: without patience the latest generator is the one kept;
    # with it, the judge's score picks the best epoch (GANs can get worse, e.g. collapse).
    result = context.fit(gan, x_train, num_samples=len(x_train),
                         monitor="quality_loss" if hp["patience"] else None, sample=sample,
                         callbacks=[_quality_callback_class()(judge, quality_latents, x_val)])

    def evaluate(result: dict[str, Any]) -> dict[str, Any]:
        # The exported generator is the best epoch's (the latest one unless patience is on).
        last = {name: values[result["best_epoch"] - 1] for name, values in result["history"].items()
                if len(values) >= result["best_epoch"]}
        test_metrics = {
            **{name: last[name] for name in ("confidence", "diversity", "distinct_classes",
                                             "quality_loss", "d_loss", "g_loss", "d_real", "d_fake",
                                             "val_d_real") if name in last},
            "judge_accuracy": judge_accuracy,
            # The same judge on real test images: the confidence a perfect generator would reach.
            "real_confidence": quality(judge.predict(dataset.x_test, batch_size=256, verbose=0))["confidence"],
        }
        events.log("Quality per epoch (confidence / diversity): " + ", ".join(
            f"{epoch}: {c:.3f} / {d:.3f}" for epoch, (c, d) in enumerate(
                zip(result["history"].get("confidence", []), result["history"].get("diversity", [])),
                start=1)) + "; exporting the generator.")
        return {"test_metrics": test_metrics}

    return context.finish(result, evaluate=evaluate, export=lambda: export_generator(
        gan.generator, context.workdir, judge, quality_latents, grid_latents, dataset, **context.export_options()))


# ---- the quality judge ----------------------------------------------------------------------

def build_judge(input_shape: tuple[int, ...], num_classes: int):
    """Returns the small convnet that scores generated images (trained on the real data)."""
    import tf_keras as keras

    return keras.Sequential([
        keras.Input(shape=input_shape),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(num_classes, activation="softmax", dtype="float32"),
    ], name="judge")


def train_judge(dataset, seed: int, cache_dir: Path | None = None):
    """Returns `(judge, test_accuracy)`: a classifier of `dataset`, loaded from `cache_dir` if
    an earlier job trained one on the same data (seconds on digits, about a minute on MNIST).
    """
    import tf_keras as keras

    cache = (cache_dir / f"{dataset.name}-{len(dataset.x_train)}-{seed}.h5") if cache_dir else None
    judge = _load_judge(cache)
    if judge is None:
        judge = build_judge(dataset.input_shape, dataset.num_classes)
        judge.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        # About 300 steps: enough for ~97% on digits (13 epochs, seconds); MNIST gets 2 passes.
        epochs = max(2, min(40, 20000 // max(len(dataset.x_train), 1)))
        judge.fit(dataset.x_train, dataset.y_train, epochs=epochs, batch_size=64, verbose=0)
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            # Written aside, then renamed: a job starting meanwhile never reads half a file.
            partial = cache.with_suffix(f".{os.getpid()}.partial.h5")
            judge.save(partial)
            os.replace(partial, cache)
    accuracy = judge.evaluate(dataset.x_test, dataset.y_test, batch_size=256, verbose=0)[1]
    return judge, float(accuracy)


def _load_judge(cache: Path | None):
    import tf_keras as keras

    if cache is None or not cache.exists():
        return None
    try:
        return keras.models.load_model(cache)
    except (OSError, ValueError):  # an unreadable cache is retrained, not fatal
        return None


def _quality_callback_class():
    import tf_keras as keras

    class QualityCallback(keras.callbacks.Callback):
        """Adds the judge's scores and D(x) on held-out real images to each epoch's logs, before
        the job callback reports them (Keras hands the same logs dict to every callback in turn,
        as ReduceLROnPlateau does with `lr`)."""

        def __init__(self, judge, latents: np.ndarray, x_val: np.ndarray) -> None:
            super().__init__()
            self._supports_tf_logs = True
            self.judge = judge
            self.latents = latents
            self.x_val = x_val

        def on_epoch_end(self, epoch: int, logs=None) -> None:
            if logs is None:
                return
            images = self.model.generator.predict(self.latents, batch_size=256, verbose=0)
            scores = quality(self.judge.predict(images, batch_size=256, verbose=0))
            logits = self.model.discriminator.predict(self.x_val, batch_size=256, verbose=0)
            logs.update(scores, quality_loss=1.0 - scores["confidence"] * scores["diversity"],
                        val_d_real=float(np.mean(1 / (1 + np.exp(-logits)))))

    return QualityCallback


# ---- the export -----------------------------------------------------------------------------

def export_generator(generator, workdir: str | Path, judge, quality_latents: np.ndarray,
                     grid_latents: np.ndarray, dataset, **options: Any) -> list[dict[str, Any]]:
    """Exports the generator (.h5 + TF.js float32/float16/uint8) and `gan.json`; `options`
    (`max_tfjs_bytes`, `log`) go to `trainer.export.export_keras_model`.

    Each artifact records the judge's scores of its own output and `max_abs_diff`, the largest
    pixel difference from the trained generator on the fixed grid batch (quantization error).

    Returns:
        The generator's artifacts plus `{"kind": "json", "variant": "latent_space",
        "path": "gan.json", ...}` holding latent_dim, image_shape and the grid's latent batch.
    """
    from trainer.export import export_keras_model

    workdir = Path(workdir)
    reference = generator.predict(grid_latents, verbose=0)

    def evaluate(loaded) -> dict[str, float]:
        images = loaded.predict(quality_latents, batch_size=256, verbose=0)
        scores = quality(judge.predict(images, batch_size=256, verbose=0))
        diff = float(np.max(np.abs(loaded.predict(grid_latents, verbose=0) - reference)))
        return {**scores, "max_abs_diff": diff}

    artifacts = export_keras_model(generator, workdir, evaluate, name="generator", **options)
    meta = {
        "latent_dim": int(grid_latents.shape[1]),
        "image_shape": list(dataset.input_shape),
        "dataset": dataset.name,
        "grid_latents": np.round(grid_latents, 5).tolist(),
    }
    path = workdir / META_FILE
    path.write_text(json.dumps(meta))
    artifacts.append(Artifact.written(workdir, "json", "latent_space", META_FILE).to_dict())
    return artifacts
