"""The dcgan recipe: its train step, the film of sample grids, the quality judge and the export."""
from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest

from tests.trainer.conftest import make_spec
from trainer.datasets import Dataset
from trainer.errors import TrainingFailed
from trainer.recipes import get_recipe
from trainer.recipes.dcgan import (GRID_SEED, build_dcgan, build_discriminator, build_generator, grid_png,
                                   latent_batch, quality)
from trainer.reporter import ListReporter
from trainer.run import train

# export.py silences this at import time; pytest resets warning filters for every test.
pytestmark = pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")

SMALL = {"latent_dim": 8, "filters": 8, "label_smoothing": 0.1}
GAN_LOGS = {"loss", "d_loss", "g_loss", "d_real", "d_fake"}
QUALITY_LOGS = {"confidence", "diversity", "distinct_classes", "quality_loss", "val_d_real"}


def decode_png(url: str):
    from PIL import Image

    assert url.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))


@pytest.fixture
def untrained_judge(monkeypatch):
    """For tests about the training loop, not the quality figure: skips the judge's seconds of training."""
    from trainer.recipes.dcgan import training

    monkeypatch.setattr(training, "train_judge", lambda dataset, seed, cache_dir=None: (
        training.build_judge(dataset.input_shape, dataset.num_classes), 0.0))


@pytest.fixture(scope="module")
def finished(tiny_digits, tmp_path_factory):
    """One complete 2-epoch run on 240 digits (judge, film, export) shared by the tests below."""
    reporter = ListReporter()
    workdir = tmp_path_factory.mktemp("gan")
    spec = make_spec("dcgan", epochs=2, batch_size=32, latent_dim=8, filters=8, learning_rate=0.002,
                     d_learning_rate=0.002)
    result = train(spec, reporter, workdir, dataset=tiny_digits, batch_interval=0)
    return reporter, result, workdir


def test_one_train_step_updates_both_networks_and_returns_the_gan_figures(tiny_digits):
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    gan = build_dcgan(SMALL, tiny_digits.input_shape)
    gan.compile(d_optimizer=keras.optimizers.Adam(0.01), g_optimizer=keras.optimizers.Adam(0.01))
    gan(latent_batch(1, 8, 0))
    before_g, before_d = gan.generator.get_weights(), gan.discriminator.get_weights()

    logs = gan.train_on_batch(tiny_digits.x_train[:32], return_dict=True)

    assert set(logs) == GAN_LOGS
    assert 0 < logs["d_real"] < 1 and 0 < logs["d_fake"] < 1
    assert logs["loss"] == pytest.approx(logs["d_loss"] + logs["g_loss"], rel=1e-5)
    assert any(not np.array_equal(a, b) for a, b in zip(before_g, gan.generator.get_weights()))
    assert any(not np.array_equal(a, b) for a, b in zip(before_d, gan.discriminator.get_weights()))


@pytest.mark.parametrize("shape", [(8, 8, 1), (28, 28, 1)])
def test_the_generator_draws_images_of_the_dataset_shape_and_the_discriminator_scores_them(shape):
    generator = build_generator(SMALL, shape)
    discriminator = build_discriminator(SMALL, shape)

    images = generator.predict(latent_batch(3, 8, 0), verbose=0)

    assert images.shape == (3, *shape)
    assert images.min() >= 0 and images.max() <= 1
    assert discriminator.predict(images, verbose=0).shape == (3, 1)


def test_quality_is_zero_diversity_for_one_class_and_full_diversity_for_all_classes_equally():
    collapsed = np.tile(np.eye(10)[3], (50, 1))
    spread = np.eye(10)[np.arange(50) % 10] * 0.6 + 0.04

    assert quality(collapsed) == {"confidence": 1.0, "diversity": 0.0, "distinct_classes": 1.0}
    assert quality(spread)["diversity"] == pytest.approx(1.0)
    assert quality(spread)["distinct_classes"] == 10
    assert quality(spread)["confidence"] == pytest.approx(0.64)


def test_the_grid_png_tiles_enlarged_digits_with_dark_ink_on_white_in_a_few_kilobytes(tiny_digits):
    png = grid_png(tiny_digits.x_train[:64])
    from PIL import Image

    image = np.asarray(Image.open(io.BytesIO(png)))

    assert image.shape == (8 * 25 + 1, 8 * 25 + 1)  # 8x8 tiles of 24 px (3x) with 1 px gaps
    assert image[0].min() == 255  # the gap is white
    first = image[1:25, 1:25]
    expected = np.round(255 * (1 - np.kron(tiny_digits.x_train[0, :, :, 0], np.ones((3, 3)))))
    np.testing.assert_array_equal(first, expected)
    assert len(png) < 30_000


def test_every_epoch_reports_d_loss_g_loss_d_real_d_fake_and_the_judges_quality(finished):
    reporter, result, _ = finished

    epochs = reporter.of_type("epoch")
    batches = reporter.of_type("batch")

    assert [e["epoch"] for e in epochs] == [1, 2]
    for event in epochs:
        assert set(event["logs"]) == GAN_LOGS | QUALITY_LOGS
        logs = event["logs"]
        assert 0 <= logs["diversity"] <= 1 and 0.1 <= logs["confidence"] <= 1
        assert logs["quality_loss"] == pytest.approx(1 - logs["confidence"] * logs["diversity"])
        assert 0 < logs["val_d_real"] < 1
    assert batches and all(set(b["logs"]) == GAN_LOGS for b in batches)
    assert [len(result["history"][name]) for name in sorted(GAN_LOGS | QUALITY_LOGS)] == [2] * 10
    assert result["status"] == "succeeded" and result["epochs_run"] == 2 and result["best_epoch"] == 2
    metrics = result["test_metrics"]
    assert metrics["confidence"] == result["history"]["confidence"][-1]
    assert metrics["judge_accuracy"] > 0.5 and 0 < metrics["real_confidence"] <= 1


def test_every_epoch_sends_a_sample_grid_png_of_the_fixed_latent_batch(finished):
    reporter, _, _ = finished

    samples = reporter.of_type("sample")

    assert [s["epoch"] for s in samples] == [1, 2]
    frames = [np.asarray(decode_png(s["image"])) for s in samples]
    assert all(frame.shape == (201, 201) for frame in frames)
    assert not np.array_equal(frames[0], frames[1])  # the generator changed between epochs
    assert all(len(s["image"]) < 40_000 for s in samples)


def test_the_exported_generator_round_trips_and_redraws_the_last_frame(finished):
    import tf_keras as keras
    from tensorflowjs import converters

    reporter, result, workdir = finished
    artifacts = {f"{a['kind']}/{a['variant']}": a for a in result["artifacts"]}

    assert list(artifacts) == ["keras/h5", "tfjs/float32", "tfjs/float16", "tfjs/uint8", "json/latent_space"]
    assert reporter.of_type("artifact") == result["artifacts"]
    meta = json.loads((workdir / "gan.json").read_text())
    assert meta["latent_dim"] == 8 and meta["image_shape"] == [8, 8, 1]
    latents = np.array(meta["grid_latents"], dtype=np.float32)
    np.testing.assert_allclose(latents, latent_batch(64, 8, GRID_SEED), atol=1e-5)

    keras_images = keras.models.load_model(workdir / "generator.h5", compile=False).predict(latents, verbose=0)
    tfjs = converters.load_keras_model(str(workdir / "tfjs/generator/float32/model.json"))
    np.testing.assert_allclose(tfjs.predict(latents, verbose=0), keras_images, atol=1e-5)
    assert artifacts["tfjs/float32"]["max_abs_diff"] < 1e-5
    assert 0 < artifacts["tfjs/uint8"]["max_abs_diff"] < 0.1
    assert artifacts["tfjs/uint8"]["bytes"] < artifacts["tfjs/float32"]["bytes"] / 2
    last_frame = np.asarray(decode_png(reporter.of_type("sample")[-1]["image"])).astype(int)
    redrawn = np.asarray(decode_png("data:image/png;base64,"
                                    + base64.b64encode(grid_png(keras_images)).decode())).astype(int)
    assert np.abs(last_frame - redrawn).max() <= 1


def test_a_diverging_gan_fails_naming_the_epoch(tiny_digits, tmp_path, untrained_judge):
    poisoned = tiny_digits.x_train.copy()
    poisoned[:] = np.nan
    dataset = Dataset("digits", poisoned, tiny_digits.y_train, tiny_digits.x_test, tiny_digits.y_test, 10,
                      tiny_digits.input_shape, tiny_digits.class_names)

    with pytest.raises(TrainingFailed, match=r"^loss became NaN at epoch 1$"):
        train(make_spec("dcgan", epochs=2, latent_dim=8, filters=8), ListReporter(), tmp_path, dataset=dataset,
              batch_interval=0)


def test_a_cancelled_gan_stops_without_exporting(tiny_digits, tmp_path, untrained_judge):
    class StopAtOnce(ListReporter):
        def should_stop(self) -> bool:
            return True

    result = train(make_spec("dcgan", epochs=3, latent_dim=8, filters=8), StopAtOnce(), tmp_path,
                   dataset=tiny_digits, batch_interval=0)

    assert result["status"] == "cancelled" and result["epochs_run"] == 0
    assert "artifacts" not in result and not (tmp_path / "generator.h5").exists()


def test_the_recipe_offers_the_gan_knobs_and_the_gan_try_page():
    recipe = get_recipe("dcgan")

    assert recipe.try_page == "gan" and recipe.default_dataset == "digits"
    assert {"latent_dim", "filters", "learning_rate", "d_learning_rate", "optimizer", "beta_1",
            "label_smoothing"} <= set(recipe.hyperparameters)
    assert set(recipe.datasets) == {"digits", "mnist", "fashion_mnist"}


def test_a_gan_on_28x28_mnist_trains_films_and_exports(mnist_dir, tmp_path, untrained_judge):
    from trainer.datasets import read_idx

    images = (read_idx(mnist_dir / "t10k-images-idx3-ubyte.gz")[:600].astype(np.float32) / 255)[..., None]
    labels = read_idx(mnist_dir / "t10k-labels-idx1-ubyte.gz")[:600].astype(np.int64)
    mnist = Dataset("mnist", images[:500], labels[:500], images[500:], labels[500:], 10, (28, 28, 1),
                    [str(k) for k in range(10)])
    reporter = ListReporter()

    result = train(make_spec("dcgan", epochs=1, batch_size=64, latent_dim=16, filters=8), reporter, tmp_path,
                   dataset=mnist, batch_interval=0)

    assert result["status"] == "succeeded"
    frame = reporter.of_type("sample")[0]["image"]
    assert decode_png(frame).size == (8 * 29 + 1, 8 * 29 + 1)  # 28 px tiles, not enlarged
    assert len(frame) * 3 // 4 < 30_000
    meta = json.loads((tmp_path / "gan.json").read_text())
    assert meta["image_shape"] == [28, 28, 1] and meta["latent_dim"] == 16


def test_the_judge_is_cached_per_dataset_and_reused(tiny_digits, tmp_path):
    from trainer.recipes.dcgan.training import train_judge

    first, first_accuracy = train_judge(tiny_digits, 0, tmp_path)
    cached = list(tmp_path.glob("*.h5"))
    second, second_accuracy = train_judge(tiny_digits, 0, tmp_path)

    assert [path.name for path in cached] == ["digits-240-0.h5"]
    assert second is not first and second_accuracy == first_accuracy
    np.testing.assert_array_equal(first.predict(tiny_digits.x_test, verbose=0),
                                  second.predict(tiny_digits.x_test, verbose=0))


def test_a_mixed_precision_gan_scales_its_losses_and_exports_a_float32_generator(tiny_digits, tmp_path,
                                                                                 untrained_judge,
                                                                                 monkeypatch):
    # This machine has no GPU, where a job's mixed_float16 falls back to float32; force it to
    # exercise the float16 loss-scaling path (slow on CPU, fine for one tiny epoch).
    monkeypatch.setattr("trainer.devices.resolve_precision_for_devices", lambda p: (p, None))
    result = train(make_spec("dcgan", precision="mixed_float16", epochs=1, latent_dim=8, filters=8),
                   ListReporter(), tmp_path, dataset=tiny_digits, batch_interval=0)

    assert result["precision"] == "mixed_float16" and result["status"] == "succeeded"
    assert all(np.isfinite(result["history"][name][0]) for name in GAN_LOGS)
    manifest = json.loads((tmp_path / "tfjs/generator/float32/model.json").read_text())
    dtypes = {w["dtype"] for group in manifest["weightsManifest"] for w in group["weights"]}
    assert dtypes == {"float32"}


def test_with_patience_the_best_epoch_is_the_judges_best_and_its_generator_is_kept(tiny_digits, tmp_path):
    reporter = ListReporter()

    result = train(make_spec("dcgan", epochs=3, patience=5, latent_dim=8, filters=8, learning_rate=0.003,
                             d_learning_rate=0.003, optimizer="rmsprop"), reporter, tmp_path,
                   dataset=tiny_digits, batch_interval=0)

    scores = result["history"]["quality_loss"]
    assert result["best_epoch"] == 1 + int(np.argmin(scores))
    assert result["test_metrics"]["quality_loss"] == min(scores)
    assert [e["best_epoch"] for e in reporter.of_type("epoch")][-1] == result["best_epoch"]
    # The exported generator is the best epoch's: the judge scores its export as the epoch was scored.
    h5 = next(a for a in result["artifacts"] if a["variant"] == "h5")
    assert h5["confidence"] == pytest.approx(result["history"]["confidence"][result["best_epoch"] - 1], abs=1e-4)
