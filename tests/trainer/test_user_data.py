"""trainer/user_data.py: the stored .npz of an upload and its deterministic test split (no database)."""
from __future__ import annotations

import numpy as np
import pytest

from trainer import user_data
from trainer.datasets import DatasetError


def test_a_packed_images_dataset_loads_as_floats_in_0_1_with_its_classes():
    x = np.full((6, 4, 4, 1), 255, dtype=np.uint8)
    y = np.array([0, 0, 0, 1, 1, 1])

    dataset = user_data.load(user_data.pack("images", x, y, ["cats", "dogs"]), "user:3")

    assert dataset.name == "user:3" and dataset.class_names == ["cats", "dogs"] and dataset.num_classes == 2
    assert dataset.input_shape == (4, 4, 1) and dataset.x_train.dtype == np.float32
    assert dataset.x_train.max() == 1.0
    assert len(dataset.x_train) + len(dataset.x_test) == 6


def test_the_test_split_holds_out_every_class_and_is_the_same_every_time():
    y = np.array([0] * 10 + [1] * 2 + [2] * 5)

    first, again = user_data.split(y), user_data.split(y)

    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    train, test = first
    assert sorted(np.bincount(y[test]).tolist()) == [1, 1, 2]
    assert set(y[train]) == {0, 1, 2} and not set(train) & set(test)
    assert user_data.split_sizes(y) == (len(train), len(test))


def test_names_of_uploads_are_user_and_a_positive_id():
    assert user_data.dataset_id("user:12") == 12 and user_data.dataset_name(12) == "user:12"
    assert [user_data.dataset_id(n) for n in ("digits", "user:", "user:-1", "user:01", "user:1x")] == [None] * 5


def test_a_file_that_is_not_a_packed_dataset_is_a_dataset_error():
    with pytest.raises(DatasetError, match="user:5 is not a readable uploaded dataset"):
        user_data.load(b"nonsense", "user:5")
