from __future__ import annotations

import os
import threading

import numpy as np
import pytest

from tests.trainer.test_imports import run_python
from trainer import inference

pytestmark = pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")


@pytest.fixture(autouse=True)
def empty_cache():
    inference.clear_cache()
    yield
    inference.clear_cache()


def save_model(path, seed: int):
    import tf_keras as keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input(shape=(8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    model.save(path)
    return model


def test_it_predicts_what_the_saved_model_predicts(tmp_path):
    model = save_model(tmp_path / "model.h5", seed=0)
    batch = np.random.default_rng(0).random((5, 8, 8, 1), dtype=np.float32)

    result = inference.predict(tmp_path / "model.h5", batch)

    np.testing.assert_allclose(result.probabilities, model.predict(batch, verbose=0), atol=1e-6)
    assert result.classes == list(np.argmax(result.probabilities, axis=1))
    assert result.latency_ms >= 0
    assert inference.input_shape(tmp_path / "model.h5") == (8, 8, 1)


def test_it_loads_a_model_once_and_again_when_the_file_changes(tmp_path):
    path = tmp_path / "model.h5"
    save_model(path, seed=0)
    first = inference.load_model(path)

    assert inference.load_model(str(path)) is first

    save_model(path, seed=1)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    reloaded = inference.load_model(path)
    assert reloaded is not first
    assert not np.allclose(reloaded.get_weights()[0], first.get_weights()[0])
    assert len(inference._cache) == 1  # the stale version was dropped, not kept


def test_concurrent_predictions_load_the_model_once_and_agree(tmp_path, monkeypatch):
    path = tmp_path / "model.h5"
    save_model(path, seed=0)
    loads = []
    import tf_keras as keras

    real_load = keras.models.load_model
    monkeypatch.setattr(keras.models, "load_model", lambda *a, **k: loads.append(1) or real_load(*a, **k))
    batch = np.random.default_rng(1).random((2, 8, 8, 1), dtype=np.float32)
    results = [None] * 8

    def work(i):
        results[i] = inference.predict(path, batch).probabilities

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(loads) == 1
    for result in results:
        np.testing.assert_allclose(result, results[0], atol=1e-6)


def test_importing_inference_does_not_import_tensorflow():
    done = run_python("import trainer.inference, sys; "
                      "assert 'tensorflow' not in sys.modules and 'tf_keras' not in sys.modules")

    assert done.returncode == 0, done.stderr


def test_a_missing_model_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        inference.predict(tmp_path / "nope.h5", np.zeros((1, 8, 8, 1), np.float32))


# save_model's model: 8*8*10 + 10 = 650 float32 weights.
WEIGHT_BYTES = 650 * 4


def test_a_models_weight_bytes_are_read_from_the_file_without_counting_optimizer_slots(tmp_path):
    import tf_keras as keras

    model = keras.Sequential([keras.Input(shape=(8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    model.compile("adam", "mse")
    model.train_on_batch(np.zeros((2, 8, 8, 1), np.float32), np.zeros((2, 10), np.float32))
    model.save(tmp_path / "model.h5")  # weights + Adam's m and v

    assert inference.weight_bytes(tmp_path / "model.h5") == WEIGHT_BYTES
    assert (tmp_path / "model.h5").stat().st_size > 3 * WEIGHT_BYTES


def test_a_model_bigger_than_the_byte_budget_is_refused_without_being_loaded(tmp_path, monkeypatch):
    import tf_keras as keras

    save_model(tmp_path / "model.h5", seed=0)
    monkeypatch.setattr(inference, "CACHE_BYTES", WEIGHT_BYTES - 1)
    monkeypatch.setattr(keras.models, "load_model", lambda *a, **k: pytest.fail("loaded a model over the budget"))

    with pytest.raises(inference.ModelTooLarge) as refused:
        inference.predict(tmp_path / "model.h5", np.zeros((1, 8, 8, 1), np.float32))

    assert str(refused.value) == ("The model's weights are 2,600 bytes; the server loads models of at most 2,599 bytes. "
                                  "Run it in the browser instead, or train a smaller one.")
    assert inference.cached_bytes() == 0


@pytest.mark.parametrize("bound", ["count", "bytes"])
def test_the_cache_evicts_the_least_recently_used_models_beyond_its_count_or_byte_budget(tmp_path, monkeypatch, bound):
    if bound == "count":
        monkeypatch.setattr(inference, "CACHE_SIZE", 2)
    else:
        monkeypatch.setattr(inference, "CACHE_BYTES", 2 * WEIGHT_BYTES + WEIGHT_BYTES // 2)  # room for two
    paths = [tmp_path / f"m{i}.h5" for i in range(3)]
    for i, path in enumerate(paths):
        save_model(path, seed=i)
    first = inference.load_model(paths[0])
    inference.load_model(paths[1])
    inference.load_model(paths[0])  # most recently used again

    inference.load_model(paths[2])

    assert {key[0] for key in inference._cache} == {str(paths[0].resolve()), str(paths[2].resolve())}
    assert inference.cached_bytes() == 2 * WEIGHT_BYTES
    assert inference.load_model(paths[0]) is first


def test_a_budget_of_zero_bounds_the_cache_by_count_only(tmp_path, monkeypatch):
    monkeypatch.setattr(inference, "CACHE_BYTES", 0)
    save_model(tmp_path / "model.h5", seed=0)

    assert inference.load_model(tmp_path / "model.h5") is inference.load_model(tmp_path / "model.h5")
