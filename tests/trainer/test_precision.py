"""Precision per job: mixed bfloat16 trains and exports float32; float16 scales its loss; every
recipe's output stays float32; mixed_float16 on a worker without GPU runs in float32."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.trainer.conftest import make_spec
from trainer.recipes import RECIPES
from trainer.reporter import ListReporter
from trainer.run import train

HP = {"epochs": 6, "hidden_layers": [32], "learning_rate": 0.01, "optimizer": "adam",
      "batch_size": 32}


@pytest.fixture
def mixed_policy():
    """Sets a global mixed policy for a test and always restores float32."""
    import tf_keras as keras

    def use(policy: str) -> None:
        keras.mixed_precision.set_global_policy(policy)

    yield use
    keras.mixed_precision.set_global_policy("float32")


@pytest.fixture
def cpu_float16(monkeypatch):
    """Lets mixed_float16 run on this GPU-less machine, to test its code path (50× slower)."""
    monkeypatch.setattr("trainer.devices.resolve_precision_for_devices",
                        lambda policy: (policy, None))


def test_a_bfloat16_job_trains_exports_float32_files_and_matches_float32_accuracy(tiny_digits,
                                                                                  tmp_path):
    mixed = train(make_spec("mlp", precision="mixed_bfloat16", **HP), ListReporter(),
                  tmp_path / "bf16", dataset=tiny_digits)
    full = train(make_spec("mlp", **HP), ListReporter(), tmp_path / "f32", dataset=tiny_digits)

    assert mixed["precision"] == "mixed_bfloat16" and full["precision"] == "float32"
    assert mixed["test_metrics"]["accuracy"] > 0.6
    assert abs(mixed["test_metrics"]["accuracy"] - full["test_metrics"]["accuracy"]) <= 0.1
    tfjs = [a for a in mixed["artifacts"] if a["kind"] == "tfjs"]
    assert {a["variant"] for a in tfjs} == {"float32", "float16", "uint8"}
    for artifact in tfjs:
        model_json = (tmp_path / "bf16" / artifact["path"]).read_text()
        assert "mixed" not in model_json and "bfloat16" not in model_json
        # The exported file itself still classifies like the trained model.
        assert artifact["accuracy"] == pytest.approx(mixed["test_metrics"]["accuracy"], abs=0.05)
    float32 = json.loads((tmp_path / "bf16" / tfjs[0]["path"]).read_text())
    dtypes = {w["dtype"] for group in float32["weightsManifest"] for w in group["weights"]}
    assert dtypes == {"float32"}


def test_mixed_float16_on_a_worker_without_gpu_runs_in_float32_and_says_why(tiny_digits,
                                                                            tmp_path, skip_export):
    reporter = ListReporter()

    result = train(make_spec("mlp", precision="mixed_float16", epochs=1, hidden_layers=[8]),
                   reporter, tmp_path, dataset=tiny_digits)

    assert result["precision"] == "float32" and result["status"] == "succeeded"
    messages = [data["message"] for data in reporter.of_type("log")]
    assert any("mixed_float16 needs a GPU; this worker has none" in m for m in messages)


def test_a_float16_job_scales_its_loss(tiny_digits, tmp_path, cpu_float16, monkeypatch):
    seen = {}

    def record(model, *args, **kwargs):
        seen["optimizer"] = type(model.optimizer).__name__
        return []

    monkeypatch.setattr("trainer.export.export_model", record)

    result = train(make_spec("mlp", precision="mixed_float16", epochs=1, hidden_layers=[8]),
                   ListReporter(), tmp_path, dataset=tiny_digits)

    assert result["precision"] == "mixed_float16"
    assert np.isfinite(result["history"]["loss"][0])
    # compile() wraps the optimizer under a float16 policy: gradients are unscaled before use.
    assert seen["optimizer"].startswith("LossScaleOptimizer")


@pytest.mark.parametrize("name", ["mlp", "lenet", "fizzbuzz"])
def test_a_classifier_keeps_its_output_in_float32_under_mixed_precision(name, mixed_policy):
    mixed_policy("mixed_bfloat16")
    recipe = RECIPES[name]
    shape = (10,) if name == "fizzbuzz" else (28, 28, 1)

    model = recipe.build(recipe.defaults(), shape, 4)

    assert any(layer.compute_dtype == "bfloat16" for layer in model.layers)
    assert model.output.dtype == "float32"


def test_the_gan_seq2seq_and_recommender_outputs_stay_float32(mixed_policy):
    from trainer.recipes.dcgan import build_discriminator, build_generator
    from trainer.recipes.matrix_factorization import build_matrix_factorization
    from trainer.recipes.seq2seq import build_models

    mixed_policy("mixed_bfloat16")
    dcgan = {**RECIPES["dcgan"].defaults(), "latent_dim": 8, "filters": 8}
    seq2seq = build_models({**RECIPES["seq2seq"].defaults(), "units": 8, "embedding_size": 8}, 20, 20)
    recommender = build_matrix_factorization({**RECIPES["matrix_factorization"].defaults()}, (5, 7))

    outputs = [build_generator(dcgan, (28, 28, 1)).output, build_discriminator(dcgan, (28, 28, 1)).output,
               seq2seq.train.output, recommender.output]

    assert [output.dtype for output in outputs] == ["float32"] * 4
