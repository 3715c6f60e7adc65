"""DCGAN: a convolutional generator learns to draw digits (or clothes) that fool a discriminator.

Every epoch the generator draws the same fixed latent batch (a `sample` event with a PNG grid,
so the job page plays training as a film), and a small classifier trained on the same dataset at
the start of the job scores a larger fixed batch: mean confidence and class diversity, a quality
figure that needs no download. Only the generator is exported (Keras .h5 + TF.js), with a JSON
file describing its latent space for the in-browser page `/try/gan/<id>/`.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import io
import math
from typing import Any

import numpy as np

from trainer.hyperparams import COMMON, Param
from trainer.recipes import ModelCount, Recipe
from trainer.recipes.dcgan import serving

GRID_SIDE = 8            # the film's grid: 8x8 samples from a fixed latent batch
QUALITY_SAMPLES = 500    # generated images the judge scores each epoch
GRID_SEED = 1234         # fixed latent batches: the same points every epoch, and in the browser
QUALITY_SEED = 4321
META_FILE = "gan.json"


# ---- the networks ---------------------------------------------------------------------------

def _upsampling_steps(image_shape: tuple[int, ...]) -> int:
    # 8x8 digits grow from 4x4 in one stride-2 step; 28x28 (MNIST) from 7x7 in two.
    height, width = image_shape[:2]
    for steps in (2, 1):
        if height % 2**steps == 0 and width % 2**steps == 0 and height // 2**steps >= 4:
            return steps
    raise ValueError(f"dcgan needs images whose sides divide by 2 or 4, got {height}x{width}.")


def build_generator(hp: dict[str, Any], image_shape: tuple[int, ...]):
    """Returns the generator: latent vector → image in [0, 1] of `image_shape`.

    Args:
        hp: hyperparameters with `latent_dim` and `filters`.
        image_shape: (height, width, channels) of the training images.
    """
    import tf_keras as keras

    height, width, channels = image_shape
    steps = _upsampling_steps(image_shape)
    base_h, base_w = height // 2**steps, width // 2**steps
    widest = hp["filters"] * 2**steps
    layers = [
        keras.Input(shape=(hp["latent_dim"],)),
        keras.layers.Dense(base_h * base_w * widest, use_bias=False),
        keras.layers.BatchNormalization(),
        keras.layers.LeakyReLU(0.2),
        keras.layers.Reshape((base_h, base_w, widest)),
    ]
    for step in range(steps):
        layers += [
            keras.layers.Conv2DTranspose(widest // 2 ** (step + 1), 4, strides=2, padding="same",
                                         use_bias=False),
            keras.layers.BatchNormalization(),
            keras.layers.LeakyReLU(0.2),
        ]
    # Sigmoid, because the datasets are scaled to [0, 1]; float32 output under mixed precision.
    layers.append(keras.layers.Conv2D(channels, 3, padding="same", activation="sigmoid",
                                      dtype="float32"))
    return keras.Sequential(layers, name="generator")


def build_discriminator(hp: dict[str, Any], image_shape: tuple[int, ...]):
    """Returns the discriminator: image → one logit (real > 0 > fake).

    Args:
        hp: hyperparameters with `filters`.
        image_shape: (height, width, channels) of the training images.
    """
    import tf_keras as keras

    steps = _upsampling_steps(image_shape)
    layers = [keras.Input(shape=image_shape)]
    for step in range(steps):
        layers += [
            keras.layers.Conv2D(hp["filters"] * 2**step, 4, strides=2, padding="same"),
            keras.layers.LeakyReLU(0.2),
            keras.layers.Dropout(0.3),
        ]
    layers += [keras.layers.Flatten(), keras.layers.Dense(1, dtype="float32")]
    return keras.Sequential(layers, name="discriminator")


def build_dcgan(hp: dict[str, Any], input_shape: tuple[int, ...], num_classes: int = 0):
    """Returns an uncompiled `DCGAN` model (generator + discriminator) for `input_shape` images.

    `num_classes` is accepted for the `Recipe.build` signature; this GAN is unconditional.
    """
    return _dcgan_class()(build_generator(hp, input_shape), build_discriminator(hp, input_shape),
                          hp["latent_dim"], hp["label_smoothing"])


def count_dcgan(hp: dict[str, Any], input_shape: tuple[int, ...], num_classes: int = 0) -> ModelCount:
    """Returns the size of `build_dcgan`'s generator + discriminator without building them.

    Only the generator is exported. Per training step the generator runs twice (for D's and
    for G's update) and the discriminator three times (real, fake, fooled), so their layer
    outputs count that often.
    """
    generator, g_frozen, g_outputs = _count_generator(hp, input_shape)
    discriminator, d_outputs = _count_discriminator(hp, input_shape)
    params = generator + discriminator
    return ModelCount(params, params - g_frozen, generator, 2 * g_outputs + 3 * d_outputs,
                      exports_optimizer=False)


def _count_generator(hp: dict[str, Any], image_shape: tuple[int, ...]) -> tuple[int, int, int]:
    # (weights, non-trainable ones: batch norms' moving mean and variance, layer outputs)
    height, width, channels = image_shape
    steps = _upsampling_steps(image_shape)
    height, width = height // 2**steps, width // 2**steps
    filters = hp["filters"] * 2**steps
    units = height * width * filters
    # Dense without bias, BatchNormalization, LeakyReLU, Reshape.
    params, frozen, outputs = hp["latent_dim"] * units + 4 * units, 2 * units, 4 * units
    for step in range(steps):
        narrower = filters // 2
        height, width = height * 2, width * 2
        # Conv2DTranspose 4x4 without bias, BatchNormalization, LeakyReLU.
        params += 16 * filters * narrower + 4 * narrower
        frozen += 2 * narrower
        outputs += 3 * height * width * narrower
        filters = narrower
    params += 9 * filters * channels + channels
    return params, frozen, outputs + height * width * channels


def _count_discriminator(hp: dict[str, Any], image_shape: tuple[int, ...]) -> tuple[int, int]:
    # (weights, layer outputs); stride-2 "same" convs round up: ceil(side / 2).
    height, width, channels = image_shape
    params = outputs = 0
    for step in range(_upsampling_steps(image_shape)):
        filters = hp["filters"] * 2**step
        height, width = -(-height // 2), -(-width // 2)
        params += 16 * channels * filters + filters
        outputs += 3 * height * width * filters  # Conv2D, LeakyReLU, Dropout
        channels = filters
    flat = height * width * channels
    return params + flat + 1, outputs + flat + 1


@functools.cache
def _dcgan_class():
    # Subclasses a Keras class, so it is defined on first use: importing the recipes must not
    # import TensorFlow.
    import tensorflow as tf
    import tf_keras as keras

    class DCGAN(keras.Model):
        """A GAN as one Keras model: `fit` runs `train_step`, one D and one G update per batch.

        Logs (per batch: running means; per epoch: means): d_loss, g_loss, d_real = mean D(x),
        d_fake = mean D(G(z)) as probabilities, and loss = d_loss + g_loss, so the job callback's
        NaN check catches a diverging GAN.
        """

        def __init__(self, generator, discriminator, latent_dim: int, label_smoothing: float,
                     **kwargs) -> None:
            super().__init__(**kwargs)
            self.generator = generator
            self.discriminator = discriminator
            self.latent_dim = latent_dim
            self.label_smoothing = label_smoothing
            self.bce = keras.losses.BinaryCrossentropy(from_logits=True)
            self.trackers = {name: keras.metrics.Mean(name=name)
                             for name in ("loss", "d_loss", "g_loss", "d_real", "d_fake")}

        def compile(self, d_optimizer, g_optimizer, **kwargs) -> None:
            super().compile(**kwargs)
            self.d_optimizer = d_optimizer
            self.g_optimizer = g_optimizer

        @property
        def resumable_optimizers(self):
            # What a checkpoint saves and a resumed job restores (trainer.checkpoint): both
            # optimizers' state, each for the network it updates.
            return [(self.d_optimizer, self.discriminator.trainable_weights),
                    (self.g_optimizer, self.generator.trainable_weights)]

        @property
        def metrics(self):
            # Listed here, Keras resets them at every epoch start.
            return list(self.trackers.values())

        def call(self, z, training=False):
            return self.generator(z, training=training)

        def train_step(self, data):
            real = data[0] if isinstance(data, tuple) else data
            batch = tf.shape(real)[0]
            z = tf.random.normal((batch, self.latent_dim))
            # One-sided label smoothing (Salimans et al. 2016): real targets 1 - s, fake 0.
            real_target = tf.fill((batch, 1), 1.0 - self.label_smoothing)
            with tf.GradientTape() as tape:
                fake = self.generator(z, training=True)
                real_logits = self.discriminator(real, training=True)
                fake_logits = self.discriminator(fake, training=True)
                d_loss = (self.bce(real_target, real_logits)
                          + self.bce(tf.zeros_like(fake_logits), fake_logits))
                d_scaled = _scaled(self.d_optimizer, d_loss)
            self._apply(self.d_optimizer, tape, d_scaled, self.discriminator.trainable_weights)

            z = tf.random.normal((batch, self.latent_dim))
            with tf.GradientTape() as tape:
                fooled_logits = self.discriminator(self.generator(z, training=True), training=True)
                # The non-saturating loss: G maximises log D(G(z)).
                g_loss = self.bce(tf.ones_like(fooled_logits), fooled_logits)
                g_scaled = _scaled(self.g_optimizer, g_loss)
            self._apply(self.g_optimizer, tape, g_scaled, self.generator.trainable_weights)

            values = {"loss": d_loss + g_loss, "d_loss": d_loss, "g_loss": g_loss,
                      "d_real": tf.reduce_mean(tf.sigmoid(real_logits)),
                      "d_fake": tf.reduce_mean(tf.sigmoid(fake_logits))}
            for name, value in values.items():
                self.trackers[name].update_state(value)
            return {name: tracker.result() for name, tracker in self.trackers.items()}

        @staticmethod
        def _apply(optimizer, tape, loss, weights) -> None:
            grads = tape.gradient(loss, weights)
            if isinstance(optimizer, keras.mixed_precision.LossScaleOptimizer):
                grads = optimizer.get_unscaled_gradients(grads)
            optimizer.apply_gradients(zip(grads, weights))

    def _scaled(optimizer, loss):
        # Under mixed_float16, small float16 gradients underflow unless the loss is scaled up
        # first; `fit` does this for compiled losses, a custom train_step must do it itself.
        if isinstance(optimizer, keras.mixed_precision.LossScaleOptimizer):
            return optimizer.get_scaled_loss(loss)
        return loss

    return DCGAN


# ---- the quality judge ----------------------------------------------------------------------

def quality(probabilities: np.ndarray) -> dict[str, float]:
    """Returns how a judge sees a generated batch.

    `confidence`: mean top-class probability (high when images look like some class);
    `diversity`: entropy of the predicted-class histogram divided by log(num_classes)
    (1 = every class equally often, 0 = mode collapse onto one class); `distinct_classes`:
    classes predicted for at least 2% of the batch.
    """
    num_classes = probabilities.shape[1]
    predicted = np.argmax(probabilities, axis=1)
    shares = np.bincount(predicted, minlength=num_classes) / len(predicted)
    nonzero = shares[shares > 0]
    entropy = max(0.0, float(-(nonzero * np.log(nonzero)).sum()))  # one class: 0.0, not -0.0
    return {
        "confidence": float(np.mean(np.max(probabilities, axis=1))),
        "diversity": entropy / math.log(num_classes),
        "distinct_classes": float(np.sum(shares >= 0.02)),
    }


def latent_batch(n: int, latent_dim: int, seed: int) -> np.ndarray:
    """Returns `n` standard-normal latent vectors, the same for the same seed."""
    return np.random.default_rng(seed).standard_normal((n, latent_dim)).astype(np.float32)


# ---- the film -------------------------------------------------------------------------------

def grid_png(images: np.ndarray, side: int = GRID_SIDE, gap: int = 1) -> bytes:
    """Returns a PNG of `images` (N, H, W, C in [0, 1]) tiled `side` × `side`, ink dark on white.

    Tiles smaller than 24 px are enlarged by an integer factor (nearest) so 8x8 digits stay
    legible; an 8x8 grid of 28 px MNIST tiles is about 10-20 kB.
    """
    from PIL import Image

    n, height, width = images.shape[:3]
    scale = max(1, 24 // height)
    tile_h, tile_w = height * scale, width * scale
    canvas = np.full((side * (tile_h + gap) + gap, side * (tile_w + gap) + gap), 255, np.uint8)
    for i in range(min(n, side * side)):
        tile = images[i, :, :, 0] if images.ndim == 4 else images[i]
        tile = np.kron(np.clip(tile, 0, 1), np.ones((scale, scale)))
        row, col = divmod(i, side)
        top, left = gap + row * (tile_h + gap), gap + col * (tile_w + gap)
        canvas[top:top + tile_h, left:left + tile_w] = np.round(255 * (1 - tile)).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(canvas, mode="L").save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


# ---- training (training.py) -----------------------------------------------------------------

def run_dcgan(context) -> dict[str, Any]:
    """`Recipe.run`: trains the GAN and exports its generator (`training.run_dcgan`, imported
    when a job runs: importing the recipes must not import TensorFlow)."""
    from trainer.recipes.dcgan import training

    return training.run_dcgan(context)


def _told(param: Param, help: str) -> Param:
    # The common knobs mean something slightly different for a GAN; the form should say what.
    return dataclasses.replace(param, help=help)


RECIPE = Recipe(
    name="dcgan",
    title="DCGAN image generator",
    task="generation",
    description=(
        "A convolutional generator learns to draw digits that fool a discriminator.\n"
        "Watch a grid of samples improve epoch by epoch, then interpolate in your browser."
    ),
    datasets=("digits", "mnist", "fashion_mnist"),
    default_dataset="digits",
    hyperparameters={
        **COMMON,
        "epochs": COMMON["epochs"].with_default(20),
        "batch_size": COMMON["batch_size"].with_default(64),
        # 1e-3, not the DCGAN paper's 2e-4: on 1,437 digits (23 steps an epoch) it reaches the
        # same judge confidence in 6 epochs instead of 30 (benchmarks/gan_quality.py); for
        # MNIST's 938 steps an epoch, 2e-4 is the safer choice.
        "learning_rate": _told(COMMON["learning_rate"].with_default(0.001),
            "Generator step size (try 0.0002 on mnist/fashion_mnist)."),
        "optimizer": _told(COMMON["optimizer"],
            "Update rule of both networks (adam uses beta_1; momentum = SGD with momentum 0.9)."),
        "validation_split": _told(COMMON["validation_split"],
            "Fraction of real images held out: val_d_real = mean D(x) on them; well below "
            "d_real means the discriminator memorises the training images."),
        "patience": _told(COMMON["patience"],
            "Stop after this many epochs without a better judge score (quality_loss = 1 - "
            "confidence x diversity) and keep the best generator (0 = off: keep the last)."),
        "latent_dim": Param("int", 32, min=2, max=256, help="Size of the generator's random input."),
        "filters": Param("int", 32, min=4, max=256,
                         help="Convolution filters of the first discriminator layer (doubles per layer)."),
        "d_learning_rate": Param("float", 0.001, min=1e-06, max=10.0,
                                 help="Discriminator step size (try 0.0002 on mnist/fashion_mnist)."),
        "beta_1": Param("float", 0.5, min=0.0, max=0.999,
                        help="Adam's first-moment decay (0.5 steadies GAN training, per DCGAN)."),
        "label_smoothing": Param("float", 0.1, min=0.0, max=0.5,
                                 help="Real images are labelled 1 - this for the discriminator."),
    },
    build=build_dcgan,
    count=count_dcgan,
    run=run_dcgan,
    pages=(serving.PAGE,),
)
