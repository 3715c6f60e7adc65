"""TensorFlow Playground's 2-D datasets (trainer/toy2d.py) and the plane recipe's probe samples
(trainer/probe.py), which /learn/playground/ draws."""
from __future__ import annotations

import numpy as np
import pytest

from trainer import datasets, toy2d
from trainer.datasets import DatasetError
from trainer.hyperparams import Param
from trainer.run import train
from trainer.spec import SpecError, validate_spec

OPTIONS = {"points": 400, "noise": 0.0, "test_ratio": 0.25, "seed": 7}


@pytest.mark.parametrize("shape", toy2d.SHAPES)
def test_each_shape_splits_its_points_in_the_square_into_two_balanced_classes(shape):
    parts = toy2d.split(shape, **OPTIONS)

    assert len(parts["x_train"]) == 300 and len(parts["x_test"]) == 100
    everything = np.concatenate([parts["x_train"], parts["x_test"]])
    assert np.abs(everything).max() <= toy2d.EXTENT
    labels = np.concatenate([parts["y_train"], parts["y_test"]])
    assert 0.35 < labels.mean() < 0.65


def test_without_noise_the_labels_follow_the_shapes_rule():
    circle = toy2d.split("circle", **OPTIONS)
    xor = toy2d.split("xor", **OPTIONS)

    inside = np.hypot(*circle["x_train"].T) < 2.5
    assert np.array_equal(inside, circle["y_train"] == 1)
    assert np.array_equal(xor["x_train"].prod(axis=1) >= 0, xor["y_train"] == 1)


def test_noise_moves_labels_across_the_rule_and_a_seed_repeats_a_dataset():
    noisy = toy2d.split("xor", **{**OPTIONS, "noise": 0.5})

    assert not np.array_equal(noisy["x_train"].prod(axis=1) >= 0, noisy["y_train"] == 1)
    again = toy2d.split("xor", **{**OPTIONS, "noise": 0.5})
    assert all(np.array_equal(noisy[k], again[k]) for k in noisy)
    other = toy2d.split("xor", **{**OPTIONS, "noise": 0.5, "seed": 8})
    assert not np.array_equal(noisy["x_train"], other["x_train"])


def test_features_are_computed_from_each_point_in_the_order_chosen():
    xy = np.array([[1.0, 2.0], [-3.0, 0.5]], np.float32)

    features = toy2d.featurize(xy, ["x1_x2", "x2_squared", "sin_x1"])

    np.testing.assert_allclose(features, [[2.0, 4.0, np.sin(1.0)], [-1.5, 0.25, np.sin(-3.0)]], rtol=1e-6)
    with pytest.raises(DatasetError, match="Features must be some of"):
        toy2d.featurize(xy, ["x3"])


def test_a_loaded_dataset_carries_the_lattice_of_the_same_features_as_its_probe():
    data = datasets.load("gauss", features=["x1", "x2_squared"], **OPTIONS)

    assert data.input_shape == (2,) and data.x_train.shape == (300, 2)
    assert data.probe.shape == (toy2d.GRID ** 2, 2)
    # Row by row from the top-left corner: (-6, 6) first, (6, -6) last.
    np.testing.assert_allclose(data.probe[0], [-6.0, 36.0])
    np.testing.assert_allclose(data.probe[-1], [6.0, 36.0])
    np.testing.assert_allclose(data.probe[toy2d.GRID - 1], [6.0, 36.0])


def test_a_str_list_takes_distinct_choices_in_order_and_names_what_it_refuses():
    param = Param("str_list", ["a"], choices=("a", "b", "c"), min_items=1, max_items=2)

    assert param.validate(["c", "a"]) == ["c", "a"]
    for bad, message in [(["a", "a"], "once"), (["d"], "not 'd'"), ([], "at least 1"), (["a", "b", "c"], "at most 2"),
                         ("a", "list of strings"), ([1], "not 1")]:
        with pytest.raises(ValueError, match=message):
            param.validate(bad)
    with pytest.raises(SpecError):
        validate_spec({"recipe": "plane", "hyperparameters": {"features": ["x1", "cos_x1"]}})


class Events:
    def __init__(self):
        self.events = []

    def on_event(self, kind, data):
        self.events.append((kind, data))

    def should_stop(self):
        return False


def test_a_worker_sends_every_dense_layers_outputs_on_the_lattice_and_the_last_epochs_always(tmp_path):
    spec = validate_spec({"recipe": "plane", "dataset": "circle", "hyperparameters": {
        "epochs": 3, "hidden_layers": [3, 2], "points": 100, "features": ["x1_squared", "x2_squared"],
        "optimizer": "adam", "learning_rate": 0.1}})
    reporter = Events()

    result = train(spec, reporter, tmp_path)

    samples = [data for kind, data in reporter.events if kind == "sample"]
    # At most 4 a second: a 3-epoch job this small gets its first and its last.
    assert samples[0]["epoch"] == 1 and samples[-1]["epoch"] == 3 and len(samples) <= 3
    probe = samples[-1]["probe"]
    assert [(layer["layer"], layer["units"]) for layer in probe] == [("hidden_1", 3), ("hidden_2", 2), ("output", 2)]
    rows = toy2d.GRID ** 2
    assert all(len(layer["values"]) == layer["units"] * rows for layer in probe)
    softmax = np.array(probe[-1]["values"]).reshape(rows, 2)
    np.testing.assert_allclose(softmax.sum(axis=1), 1.0, atol=0.011)  # rounded to 2 decimals
    assert result["status"] == "succeeded"
