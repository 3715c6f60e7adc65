"""trainer.sizing: model sizes counted from a spec, held to the models Keras really builds."""
from __future__ import annotations

import math

import numpy as np
import pytest

from tests.trainer.conftest import make_spec
from trainer import datasets, sizing
from trainer.checkpoint import Retention
from trainer.recipes import RECIPES

pytestmark = pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")


def hp(recipe: str, **values) -> dict:
    return {**RECIPES[recipe].defaults(), **values}


def weights(variables) -> int:
    return sum(math.prod(v.shape) for v in variables)


def output_floats(layers) -> int:
    """Floats per sample of every layer's output(s), for models whose layers are called once."""
    total = 0
    for layer in layers:
        if layer.__class__.__name__ == "InputLayer":
            continue
        shapes = layer.output_shape if isinstance(layer.output_shape, list) else [layer.output_shape]
        total += sum(math.prod(shape[1:]) for shape in shapes)
    return total


# Several small hyperparameter sets per classifier recipe, with the (input_shape, num_classes)
# they are built for; odd sizes check the pooling and stride arithmetic.
CLASSIFIERS = [
    ("mlp", {"hidden_layers": [3]}, (8, 8, 1), 10),
    ("mlp", {"hidden_layers": [5, 7], "dropout": 0.2}, (28, 28, 1), 10),
    ("mlp", {"hidden_layers": [4, 4, 4], "activation": "tanh"}, (8, 8, 1), 3),
    ("fizzbuzz", {"hidden_units": 5, "num_digits": 8}, (8,), 4),
    ("fizzbuzz", {"hidden_units": 17, "num_digits": 12}, (12,), 4),
    ("lenet", {}, (8, 8, 1), 10),
    ("lenet", {"activation": "tanh"}, (28, 28, 1), 10),
    ("lenet", {}, (13, 10, 3), 2),
    ("cifar10", {"filters": 4, "blocks": 1, "dense_units": 8}, (32, 32, 3), 10),
    ("cifar10", {"filters": 6, "blocks": 2, "dense_units": 12, "dropout": 0.0}, (18, 12, 3), 2),
    ("cifar10", {"filters": 4, "blocks": 3, "dense_units": 8}, (32, 32, 3), 10),
    ("plane", {}, (2,), 2),
    ("plane", {"hidden_layers": [], "regularization": "l2", "regularization_rate": 0.1}, (7,), 2),
    ("plane", {"hidden_layers": [8, 1, 8, 3, 8, 8]}, (3,), 2),
]


@pytest.mark.parametrize("recipe, values, input_shape, classes", CLASSIFIERS)
def test_a_classifiers_count_is_exactly_what_keras_builds(recipe, values, input_shape, classes):
    params = hp(recipe, **values)
    model = RECIPES[recipe].build(params, input_shape, classes)

    counted = RECIPES[recipe].count(params, input_shape, classes)

    assert counted.params == model.count_params()
    assert counted.trainable == weights(model.trainable_weights)
    assert counted.exported == model.count_params() and counted.exports_optimizer
    assert counted.activations == output_floats(model.layers)


@pytest.mark.parametrize("values, image_shape", [
    ({"filters": 4, "latent_dim": 2}, (8, 8, 1)),
    ({"filters": 8, "latent_dim": 5}, (28, 28, 1)),
    ({"filters": 3, "latent_dim": 7}, (24, 20, 3)),
    ({"filters": 5, "latent_dim": 3}, (12, 12, 1)),
])
def test_the_dcgan_count_is_exactly_what_keras_builds(values, image_shape):
    from trainer.recipes.dcgan import build_dcgan

    params = hp("dcgan", **values)
    gan = build_dcgan(params, image_shape)

    counted = RECIPES["dcgan"].count(params, image_shape, 0)

    # A checkpoint holds both networks (and 10 scalars: the totals and counts of its 5 metrics);
    # only the generator is exported.
    assert counted.params == gan.generator.count_params() + gan.discriminator.count_params()
    assert sum(w.size for w in gan.get_weights()) == counted.params + 10
    assert counted.trainable == weights(gan.generator.trainable_weights) + weights(gan.discriminator.trainable_weights)
    assert counted.exported == gan.generator.count_params() and not counted.exports_optimizer
    assert counted.activations == 2 * output_floats(gan.generator.layers) + 3 * output_floats(gan.discriminator.layers)


@pytest.mark.parametrize("values, vocabularies", [
    ({"units": 8, "layers": 1, "embedding_size": 6, "attention": "none", "max_length": 4}, (30, 20)),
    ({"units": 8, "layers": 2, "embedding_size": 5, "attention": "luong", "max_length": 5}, (30, 20)),
    ({"units": 6, "layers": 3, "embedding_size": 4, "attention": "bahdanau", "max_length": 4}, (25, 40)),
])
def test_the_seq2seq_count_is_exactly_what_keras_builds(values, vocabularies):
    from trainer.recipes.seq2seq import build_models

    params = hp("seq2seq", vocab_size=50, **values)
    models = build_models(params, *vocabularies)

    counted = RECIPES["seq2seq"].count(params, vocabularies, 0)

    assert counted.params == counted.trainable == models.train.count_params()
    assert counted.exported == models.encoder.count_params() + models.decoder.count_params()
    # At least the softmax over the target vocabulary at every target step.
    assert counted.activations > (params["max_length"] + 1) * vocabularies[1]


def test_the_seq2seq_vocabularies_are_capped_by_vocab_size_and_by_the_corpus():
    from trainer.recipes.seq2seq import build_models

    params = hp("seq2seq", vocab_size=12, units=4, embedding_size=3, max_length=4)

    assert RECIPES["seq2seq"].count(params, (30, 9), 0).params == build_models(params, 12, 9).train.count_params()


@pytest.mark.parametrize("factors, table", [(3, (10, 7)), (16, (943, 1682))])
def test_the_matrix_factorization_count_is_exactly_what_keras_builds(factors, table):
    from trainer.recipes.matrix_factorization import build_matrix_factorization

    params = hp("matrix_factorization", factors=factors)
    model = build_matrix_factorization(params, table)

    counted = RECIPES["matrix_factorization"].count(params, table, 0)

    assert counted.params == counted.trainable == model.count_params()
    assert counted.exported == 0  # its export is JSON
    assert counted.activations == output_floats(model.layers)


def test_every_recipe_can_be_counted():
    assert [name for name, recipe in RECIPES.items() if recipe.count is None] == []


def test_every_registered_dataset_has_a_shape():
    assert [name for name, info in datasets.DATASETS.items() if info.shape is None] == []


@pytest.mark.parametrize("name, hp", [("digits", {}), ("digits_0_4", {}), ("digits_5_9", {}),
                                      ("fizzbuzz", {"num_digits": 12}),
                                      ("spiral", {"points": 90, "noise": 0.1, "test_ratio": 0.3, "features": ["x1", "sin_x2"],
                                                  "seed": 1})])
def test_the_registered_shapes_of_offline_datasets_match_their_loaders(name, hp):
    data = datasets.load(name, **hp)

    assert datasets.DATASETS[name].shape_for(hp) == (data.input_shape, data.num_classes)
    if datasets.DATASETS[name].train_samples is not None:
        assert datasets.DATASETS[name].samples_per_epoch(hp) == len(data.x_train)


def test_the_issues_mlp_is_counted_without_building_it():
    # [4096]*8 on digits: one epoch took 80 s, 4.5 GB of worker memory and 6.1 GB of disk.
    spec = make_spec("mlp", hidden_layers=[4096] * 8, batch_size=4096, epochs=1)

    size = sizing.estimate(spec, Retention(keep_every=5, keep_last=3))

    assert size.params == 64 * 4096 + 4096 + 7 * (4096 * 4096 + 4096) + 4096 * 10 + 10 == 117_776_394
    # Weights + Adam's two slots: the measured checkpoints were 1.41 GB each, three of them.
    assert size.checkpoint_bytes == 4 * 3 * size.params and size.checkpoint_files == 3
    assert size.tfjs_bytes == 4 * size.params
    assert 6.0e9 < size.disk_bytes < 7.0e9  # measured 6.1 GB (6.5e9 bytes is 6.05 GiB)
    assert size.activation_bytes == (64 + 8 * 4096 + 10) * 4096 * 4 * sizing.BACKPROP_FACTOR  # Flatten, Dense×9


@pytest.mark.parametrize("recipe, knob, small, large", [
    ("mlp", "hidden_layers", [16], [64, 64]),
    ("lenet", "batch_size", 8, 64),
    ("cifar10", "filters", 8, 16),
    ("dcgan", "filters", 8, 32),
    ("seq2seq", "units", 16, 64),
    ("matrix_factorization", "factors", 4, 32),
    ("fizzbuzz", "hidden_units", 8, 256),
])
def test_a_larger_setting_never_estimates_less(recipe, knob, small, large):
    smaller = sizing.estimate(make_spec(recipe, **{knob: small}))
    larger = sizing.estimate(make_spec(recipe, **{knob: large}))

    assert larger.activation_bytes > smaller.activation_bytes
    assert larger.disk_bytes >= smaller.disk_bytes
    assert larger.params >= smaller.params


def test_more_epochs_keep_more_checkpoints_and_the_optimizer_sets_their_size():
    retention = Retention(keep_every=5, keep_last=3)
    adam = sizing.estimate(make_spec("mlp", epochs=10, optimizer="adam"), retention)
    sgd = sizing.estimate(make_spec("mlp", epochs=10, optimizer="sgd"), retention)

    assert adam.checkpoint_bytes == 3 * sgd.checkpoint_bytes == 3 * 4 * adam.params
    assert sizing.estimate(make_spec("mlp", epochs=100), retention).checkpoint_files > adam.checkpoint_files
    assert sizing.estimate(make_spec("mlp", epochs=10)).checkpoint_files == 12  # every epoch kept + 2


@pytest.mark.parametrize("retention, epochs, files", [
    (Retention(keep_every=5, keep_last=3), 1, 3),      # latest, best, epoch-1: the issue's three files
    (Retention(keep_every=5, keep_last=3), 500, 106),  # 99 multiples of 5, 3 last, the best, 3
    (Retention(keep_every=1, keep_last=0), 7, 9),      # every epoch, latest and best
    (Retention(keep_every=0, keep_last=0), 7, 5),      # epoch 6, the best, then latest, best, epoch 7
])
def test_the_most_files_a_run_holds_follows_the_retention_rule(retention, epochs, files):
    assert retention.most_files(epochs) == files


def test_the_estimate_matches_the_files_a_run_writes(tmp_path):
    """The checkpoint and every export of a real model are as big as estimated, within the
    files' own overhead (npz headers and state, HDF5 and TF.js metadata)."""
    import tf_keras as keras

    from trainer.checkpoint import ResumeState, write_checkpoint
    from trainer.export import export_model

    spec = make_spec("mlp", hidden_layers=[256, 128], optimizer="adam")
    size = sizing.estimate(spec)
    model = RECIPES["mlp"].build(spec.hyperparameters, (8, 8, 1), 10)
    model.compile(optimizer=keras.optimizers.Adam(), loss="sparse_categorical_crossentropy")
    x, y = np.zeros((4, 8, 8, 1), np.float32), np.zeros(4, np.int64)
    model.train_on_batch(x, y)
    write_checkpoint(tmp_path / "latest.weights.npz", model, ResumeState())
    artifacts = export_model(model, tmp_path / "export", x, y)

    checkpoint = (tmp_path / "latest.weights.npz").stat().st_size
    exported = sum(artifact["bytes"] for artifact in artifacts)
    tfjs = next(a["bytes"] for a in artifacts if a["variant"] == "float32")
    assert size.checkpoint_bytes <= checkpoint < size.checkpoint_bytes * 1.03
    assert abs(exported - size.export_bytes) < size.export_bytes * 0.05
    assert size.tfjs_bytes <= tfjs < size.tfjs_bytes * 1.03


def test_sizing_imports_no_tensorflow():
    from tests.trainer.test_imports import run_python

    code = ("import sys; from trainer import sizing; from trainer.spec import validate_spec; "
            "sizing.estimate(validate_spec({'recipe': 'seq2seq'})); print('tensorflow' in sys.modules)")
    done = run_python(code)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


@pytest.mark.parametrize("n, text", [(800, "800 bytes"), (1_500, "1.5 kB"), (512_000_000, "512 MB"),
                                     (1_412_000_000, "1.4 GB"), (2_000_000_000, "2 GB")])
def test_bytes_are_written_in_decimal_units(n, text):
    assert sizing.format_bytes(n) == text


def test_a_figure_just_over_its_limit_gets_the_decimals_that_tell_them_apart():
    assert sizing.format_over(2_002_000_000, 2_000_000_000) == ("2.002 GB", "2 GB")
    assert sizing.format_over(2_400_000_000, 2_000_000_000) == ("2.4 GB", "2 GB")
    assert sizing.format_over(205_000_000, 10_000_000) == ("205 MB", "10 MB")
    assert sizing.format_over(2_000_000_400, 2_000_000_000) == ("2,000,000,400 bytes", "2,000,000,000 bytes")
