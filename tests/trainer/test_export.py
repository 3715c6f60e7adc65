from __future__ import annotations

import json

import numpy as np
import pytest

from tests.trainer.conftest import make_spec
from trainer.reporter import ListReporter
from trainer.run import train

# export.py silences this at import time; pytest resets warning filters for every test.
pytestmark = pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")


@pytest.fixture(scope="module")
def exported(tiny_digits, tmp_path_factory):
    """A small trained MLP exported once; the tests below inspect the files."""
    import tf_keras as keras

    from trainer.export import export_model
    from trainer.recipes import RECIPES

    keras.utils.set_random_seed(0)
    hp = {**RECIPES["mlp"].defaults(), "hidden_layers": [64]}
    model = RECIPES["mlp"].build(hp, tiny_digits.input_shape, 10)
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(tiny_digits.x_train, tiny_digits.y_train, epochs=5, verbose=0)
    keras_accuracy = model.evaluate(tiny_digits.x_test, tiny_digits.y_test, verbose=0)[1]
    workdir = tmp_path_factory.mktemp("export")
    artifacts = export_model(model, workdir, tiny_digits.x_test, tiny_digits.y_test)
    return {a["variant"]: a for a in artifacts}, workdir, keras_accuracy


def test_it_exports_a_keras_h5_and_three_tfjs_variants(exported):
    artifacts, _, _ = exported

    assert [(a["kind"], v, a["path"]) for v, a in artifacts.items()] == [
        ("keras", "h5", "model.h5"),
        ("tfjs", "float32", "tfjs/float32/model.json"),
        ("tfjs", "float16", "tfjs/float16/model.json"),
        ("tfjs", "uint8", "tfjs/uint8/model.json"),
    ]


@pytest.mark.parametrize("variant", ["float32", "float16", "uint8"])
def test_each_tfjs_variant_is_a_layers_model_with_all_its_shards(exported, variant):
    artifacts, workdir, _ = exported
    artifact = artifacts[variant]

    manifest = json.loads((workdir / artifact["path"]).read_text())

    assert manifest["format"] == "layers-model"
    groups = manifest["weightsManifest"]
    shards = [f"tfjs/{variant}/{path}" for group in groups for path in group["paths"]]
    assert artifact["files"] == [artifact["path"], *shards]
    assert artifact["bytes"] == sum((workdir / f).stat().st_size for f in artifact["files"])
    if variant != "float32":
        dtypes = {w["quantization"]["dtype"] for group in groups for w in group["weights"]}
        assert dtypes == {variant}


def test_the_recorded_accuracy_is_measured_on_the_reloaded_files(exported):
    artifacts, _, keras_accuracy = exported

    assert artifacts["h5"]["accuracy"] == pytest.approx(keras_accuracy)
    assert artifacts["float32"]["accuracy"] == pytest.approx(keras_accuracy)
    # Quantization may cost a sample or two, not the model.
    assert artifacts["uint8"]["accuracy"] == pytest.approx(keras_accuracy, abs=0.1)


def test_quantized_variants_are_smaller(exported):
    artifacts, _, _ = exported

    sizes = {variant: artifact["bytes"] for variant, artifact in artifacts.items()}
    assert sizes["uint8"] < sizes["float16"] < sizes["float32"]


def test_a_mixed_precision_model_is_exported_in_float32(tiny_digits, tmp_path):
    reporter = ListReporter()

    result = train(make_spec("mlp", precision="mixed_bfloat16", epochs=1, hidden_layers=[16]),
                   reporter, tmp_path, dataset=tiny_digits)

    assert result["precision"] == "mixed_bfloat16"
    model_json = (tmp_path / "tfjs" / "float32" / "model.json").read_text()
    assert "mixed" not in model_json and "bfloat16" not in model_json
    variants = [a["variant"] for a in reporter.of_type("artifact")]
    assert variants == ["h5", "float32", "float16", "uint8"]
    assert all(0 <= a["accuracy"] <= 1 for a in result["artifacts"])


def small_mlp(tiny_digits, hidden=(64,)):
    from trainer.recipes import RECIPES

    hp = {**RECIPES["mlp"].defaults(), "hidden_layers": list(hidden)}
    model = RECIPES["mlp"].build(hp, tiny_digits.input_shape, 10)
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def test_a_model_above_the_tfjs_limit_is_exported_as_h5_only_and_the_log_says_why(tiny_digits, tmp_path):
    from trainer.export import export_model

    model = small_mlp(tiny_digits)  # 4,810 parameters: 19,240 bytes of float32
    messages = []

    artifacts = export_model(model, tmp_path, tiny_digits.x_test, tiny_digits.y_test,
                             max_tfjs_bytes=19_239, log=messages.append)

    assert [a["variant"] for a in artifacts] == ["h5"]
    assert not (tmp_path / "tfjs").exists()
    assert messages == ["TF.js export skipped for the model: its float32 weights are 19,240 bytes (4,810 parameters), "
                        "above the 19,239 a browser is given; the Keras .h5 is exported."]


def test_a_model_at_the_tfjs_limit_gets_every_variant(tiny_digits, tmp_path):
    from trainer.export import export_model

    artifacts = export_model(small_mlp(tiny_digits), tmp_path, tiny_digits.x_test, tiny_digits.y_test,
                             max_tfjs_bytes=19_240, log=pytest.fail)

    assert [a["variant"] for a in artifacts] == ["h5", "float32", "float16", "uint8"]


def test_train_passes_the_tfjs_limit_to_the_export_and_reports_the_skip(tiny_digits, tmp_path):
    reporter = ListReporter()

    result = train(make_spec("mlp", epochs=1, hidden_layers=[16]), reporter, tmp_path, dataset=tiny_digits,
                   tensorboard=False, max_tfjs_bytes=1_000)

    assert [a["variant"] for a in result["artifacts"]] == ["h5"]
    assert [a["variant"] for a in reporter.of_type("artifact")] == ["h5"]
    assert any(e["message"].startswith("TF.js export skipped") for e in reporter.of_type("log"))
