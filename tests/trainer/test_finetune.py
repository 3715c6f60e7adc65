"""Forks and fine-tuning: per-epoch checkpoints, starting from one, freezing, the digit halves,
and the analysis drill-down and TensorBoard logs every classification run writes."""
from __future__ import annotations

import numpy as np
import pytest

from trainer.spec import validate_spec
from trainer import datasets
from trainer.checkpoint import checkpoint_path, saved_epochs
from trainer.finetune import prepare_model
from trainer.reporter import ListReporter
from trainer.run import train

pytestmark = pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")


def weight_keys(stored) -> list[str]:
    """The model weights' names in a checkpoint, in order (optimizer state and metadata left out)."""
    return sorted((k for k in stored.files if k.startswith("arr_")), key=lambda k: int(k[4:]))


def make_spec(recipe: str, dataset: str, **hyperparameters):
    return validate_spec({"recipe": recipe, "dataset": dataset, "hyperparameters": hyperparameters})


def _small_half(name: str, n_train: int = 200, n_test: int = 60) -> datasets.Dataset:
    half = datasets.load(name)
    return datasets.Dataset(name, half.x_train[:n_train], half.y_train[:n_train], half.x_test[:n_test],
                            half.y_test[:n_test], half.num_classes, half.input_shape, half.class_names)


@pytest.fixture(scope="module")
def parent(tmp_path_factory):
    """LeNet pretrained on digits 0-4 for 2 epochs."""
    workdir = tmp_path_factory.mktemp("parent")
    spec = make_spec("lenet", "digits_0_4", epochs=2, batch_size=32, learning_rate=0.01)
    result = train(spec, ListReporter(), workdir, dataset=_small_half("digits_0_4"), batch_interval=0)
    return workdir, result


def test_the_digit_halves_hold_only_their_classes_and_keep_ten_outputs():
    low, high = datasets.load("digits_0_4"), datasets.load("digits_5_9")

    assert set(np.unique(low.y_train)) == {0, 1, 2, 3, 4} == set(np.unique(low.y_test))
    assert set(np.unique(high.y_train)) == {5, 6, 7, 8, 9} == set(np.unique(high.y_test))
    assert low.num_classes == high.num_classes == 10
    assert len(low.x_train) + len(high.x_train) == len(datasets.load("digits").x_train)


def test_every_epoch_leaves_its_own_checkpoint_next_to_best_and_latest(parent):
    workdir, _ = parent

    assert saved_epochs(workdir) == [1, 2]
    assert checkpoint_path(workdir, "best").exists() and checkpoint_path(workdir, "latest").exists()
    with np.load(checkpoint_path(workdir, 2)) as epoch2, np.load(checkpoint_path(workdir, "latest")) as latest:
        assert all(np.array_equal(epoch2[k], latest[k]) for k in weight_keys(latest))


def test_a_fork_starts_from_the_parent_weights_and_trains_only_the_last_layer(parent, tmp_path):
    workdir, _ = parent
    spec = make_spec("lenet", "digits_5_9", epochs=1, batch_size=32, learning_rate=0.01)
    start = checkpoint_path(workdir, 1)
    reporter = ListReporter()

    result = train(spec, reporter, tmp_path, dataset=_small_half("digits_5_9"), batch_interval=0,
                   initial_weights=start, freeze="all_but_last")

    assert result["status"] == "succeeded"
    with np.load(start) as before, np.load(checkpoint_path(tmp_path, 1)) as after:
        changed = [not np.array_equal(before[k], after[k]) for k in weight_keys(before)]
    # Only the last Dense layer (kernel, bias) moved; every convolution kept its pretrained weights.
    assert changed[-2:] == [True, True] and not any(changed[:-2])
    assert any("frozen layers" in e["message"] for e in reporter.of_type("log"))


def test_a_checkpoint_of_another_architecture_is_refused_with_both_shapes(parent):
    import tf_keras as keras

    workdir, _ = parent
    model = keras.Sequential([keras.layers.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])

    with pytest.raises(ValueError, match="the model expects"):
        prepare_model(model, checkpoint_path(workdir, "best"), "none")


def test_an_unknown_freeze_mode_is_refused_by_name():
    with pytest.raises(ValueError, match="all_but_last"):
        prepare_model(object(), None, "everything")


def test_the_analysis_holds_per_class_accuracy_and_samples_with_images_per_cell(parent):
    _, result = parent
    analysis = result["analysis"]
    matrix = np.array(analysis["confusion_matrix"])

    accuracy = analysis["per_class_accuracy"]
    for k in range(5):
        assert accuracy[k] == pytest.approx(matrix[k, k] / matrix[k].sum())
    assert accuracy[5:] == [None] * 5  # no 5-9 in this test set
    for key, indices in analysis["cells"].items():
        true, predicted = map(int, key.split(","))
        assert 0 < len(indices) <= min(6, matrix[true, predicted])
        for index in indices:
            sample = analysis["samples"][str(index)]
            assert (sample["label"], sample["predicted"]) == (true, predicted)
            assert sample["image"].startswith("data:image/png;base64,")
            assert sum(sample["probabilities"]) == pytest.approx(1, abs=1e-3)
    assert all(str(s["index"]) in analysis["samples"] for s in analysis["low_confidence"])


def test_tensorboard_logs_land_in_the_job_workdir(parent):
    workdir, _ = parent

    assert list((workdir / "tensorboard").rglob("events.out.tfevents.*"))
