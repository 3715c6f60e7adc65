"""Pre-trained ImageNet weights (trainer.pretrained): fetched through Keras' downloader from a
local HTTP server (never the internet), checked against the hash, refused when corrupt, and
explained when absent and unreachable."""
from __future__ import annotations

import numpy as np
import pytest

from tests.support.pretrained import MODEL, served, write_manifest
from trainer import pretrained
from trainer.recipes import RECIPES


@pytest.fixture
def mirror(pretrained_mirror):
    return pretrained_mirror


def test_weights_come_through_keras_downloader_and_load_into_the_architecture(mirror, tmp_path):
    folder, hashes = mirror
    with served(folder) as (origin, requests):
        write_manifest(tmp_path, origin, hashes)
        model = pretrained.load(MODEL, tmp_path)
        names = pretrained.class_names(tmp_path)
        pretrained.load(MODEL, tmp_path)  # the second time from the cache

    weights = pretrained.ARCHITECTURES[MODEL].weights.file
    assert requests.count(f"/{weights}") == 1
    assert (pretrained.cache_dir(tmp_path) / weights).read_bytes() == (folder / weights).read_bytes()
    assert names[:2] == ["class 0", "class 1"] and len(names) == 1000
    reference = pretrained.build(MODEL)
    reference.load_weights(str(folder / weights))
    x = np.random.default_rng(0).uniform(-1, 1, (2, 224, 224, 3)).astype("float32")
    np.testing.assert_allclose(model(x).numpy(), reference(x).numpy(), atol=1e-6)


def test_a_download_that_does_not_match_the_hash_is_refused_and_removed(mirror, tmp_path):
    folder, hashes = mirror
    weights = pretrained.ARCHITECTURES[MODEL].weights.file
    with served(folder) as (origin, _):
        write_manifest(tmp_path, origin, {**hashes, weights: "0" * 64})
        with pytest.raises(pretrained.PretrainedUnavailable, match="does not match its published hash 0{64}"):
            pretrained.load(MODEL, tmp_path)

    assert not (pretrained.cache_dir(tmp_path) / weights).exists()


def test_a_corrupt_cached_file_with_the_server_gone_says_so(mirror, tmp_path):
    folder, hashes = mirror
    weights = pretrained.ARCHITECTURES[MODEL].weights.file
    write_manifest(tmp_path, "http://127.0.0.1:9", hashes)  # nothing listens on port 9
    (pretrained.cache_dir(tmp_path) / weights).write_bytes(b"not weights")

    with pytest.raises(pretrained.PretrainedUnavailable) as refused:
        pretrained.load(MODEL, tmp_path)

    assert str(refused.value).startswith(f"The cached {pretrained.cache_dir(tmp_path) / weights} does not match "
                                         f"its published hash {hashes[weights]}")
    assert "Delete it and run `python manage.py fetch_pretrained mobilenet_v2`" in str(refused.value)


def test_absent_and_unreachable_weights_say_how_to_get_them(tmp_path):
    write_manifest(tmp_path, "http://127.0.0.1:9", {})
    (pretrained.cache_dir(tmp_path) / pretrained.MANIFEST).write_text(
        '{"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5": {"origin": "http://127.0.0.1:9/w.h5"}}')

    with pytest.raises(pretrained.PretrainedUnavailable) as refused:
        pretrained.load(MODEL, tmp_path)

    message = str(refused.value)
    assert message.startswith(f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5 is not in "
                              f"{pretrained.cache_dir(tmp_path)} and could not be fetched from http://127.0.0.1:9/w.h5")
    assert "run `python manage.py fetch_pretrained mobilenet_v2`" in message


def test_a_file_without_a_published_hash_is_checked_by_loading_it(tmp_path):
    # Keras publishes no hash for MobileNetV2's weights: a wrong file is caught by the load.
    weights = pretrained.cache_dir(tmp_path) / pretrained.ARCHITECTURES[MODEL].weights.file
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)

    with pytest.raises(pretrained.PretrainedUnavailable, match="is not MobileNetV2's ImageNet weights"):
        pretrained.load(MODEL, tmp_path)


@pytest.mark.parametrize("name", list(pretrained.ARCHITECTURES))
def test_the_preprocessing_is_keras_own_and_the_count_is_the_built_models(name):
    import tf_keras as keras

    module = {"mobilenet_v2": keras.applications.mobilenet_v2, "densenet121": keras.applications.densenet}[name]
    pixels = np.random.default_rng(1).uniform(0, 255, (2, 4, 4, 3)).astype("float32")
    np.testing.assert_allclose(pretrained.preprocess(pixels, name), module.preprocess_input(pixels.copy()), atol=1e-5)

    model = pretrained.build(name)
    counted = RECIPES["imagenet"].count({"model": name}, (224, 224, 3), 1000)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert (counted.params, counted.trainable) == (model.count_params(), trainable)


@pytest.mark.parametrize("input_shape, size", [((8, 8, 1), 32), ((40, 40, 3), 40)])
def test_the_transfer_count_is_the_built_models(input_shape, size):
    hp = {**RECIPES["transfer"].defaults(), "input_size": size}
    model = RECIPES["transfer"].build(hp, input_shape, 3)

    counted = RECIPES["transfer"].count(hp, input_shape, 3)

    assert counted.params == counted.exported == model.count_params()
    assert counted.trainable == 1280 * 3 + 3  # the head alone


def test_images_reach_a_base_by_whole_factors_that_tf_js_computes_the_same():
    from tf_keras import Input

    from trainer.datasets import DatasetError
    from trainer.recipes.transfer import _resize, imagenet_size

    assert [imagenet_size(side, 96) for side in (8, 28, 32, 128, 224)] == [96, 84, 96, 128, 112]
    assert _resize(Input((12, 12, 1)), (12, 12), (8, 8)).shape[1:3] == (8, 8)  # up 2, pool 3
    with pytest.raises(DatasetError, match="resizing would pass through 9700x9700 pixels"):
        _resize(Input((100, 100, 1)), (100, 100), (97, 97))
