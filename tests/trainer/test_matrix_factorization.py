"""The matrix factorization recipe: its formula by hand, fold-in, ranking, and a tiny real run."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tests.support.ci import unavailable

from tests.trainer.conftest import make_spec
from tests.trainer.test_movielens import SHARED
from trainer import datasets
from trainer.movielens import Ratings
from trainer.recipes import get_recipe
from trainer.recipes import matrix_factorization as mf
from trainer.reporter import ListReporter
from trainer.run import train

HP = {"factors": 2, "l2": 3.0, "bias_l2": 0.0, "seed": 0}


def test_the_model_computes_dot_product_plus_biases_and_the_l2_term_by_hand():
    import tensorflow as tf

    model = mf.build_matrix_factorization(HP, (2, 3), num_ratings=4, global_mean=3.5)
    model.get_layer("user_factors").set_weights([np.array([[1.0, 2.0], [-1.0, 0.5]])])
    model.get_layer("item_factors").set_weights([np.array([[0.5, 0.5], [2.0, -1.0], [0.0, 1.0]])])
    model.get_layer("user_bias").set_weights([np.array([[0.25], [-0.5]])])
    model.get_layer("item_bias").set_weights([np.array([[0.1], [0.2], [-0.3]])])

    predicted = model([np.array([0, 1, 1], np.int32), np.array([1, 0, 2], np.int32)]).numpy()

    # user 0, item 1: 1*2 + 2*(-1) + 0.25 + 0.2 + 3.5 = 3.95
    # user 1, item 0: -0.5 + 0.25 - 0.5 + 0.1 + 3.5 = 2.85
    # user 1, item 2: 0 + 0.5 - 0.5 - 0.3 + 3.5 = 3.2
    np.testing.assert_allclose(predicted, [3.95, 2.85, 3.2], atol=1e-6)
    # (λ/N)(‖U‖² + ‖V‖²) = (3/4) * ((1 + 4 + 1 + 0.25) + (0.25 + 0.25 + 4 + 1 + 0 + 1)) = 0.75 * 12.75
    np.testing.assert_allclose(float(tf.add_n(model.losses)), 9.5625, rtol=1e-6)


def test_the_bias_penalty_is_added_only_when_asked_for():
    import tensorflow as tf

    model = mf.build_matrix_factorization({**HP, "bias_l2": 2.0}, (1, 1), num_ratings=2)
    model.get_layer("user_factors").set_weights([np.zeros((1, 2))])
    model.get_layer("item_factors").set_weights([np.zeros((1, 2))])
    model.get_layer("user_bias").set_weights([np.array([[1.0]])])
    model.get_layer("item_bias").set_weights([np.array([[2.0]])])
    # (λ_b/N)(b_u² + b_m²) = (2/2) * (1 + 4) = 5
    np.testing.assert_allclose(float(tf.add_n(model.losses)), 5.0, rtol=1e-6)
    assert len(mf.build_matrix_factorization(HP, (1, 1)).losses) == 1


def test_fold_in_minimises_the_regularised_squared_error():
    rng = np.random.default_rng(0)
    item_factors, item_bias = rng.normal(size=(20, 4)), rng.normal(size=20)
    items, ratings = np.array([3, 7, 11, 2, 19]), np.array([5.0, 4.0, 1.0, 3.0, 2.0])

    vector, bias = mf.fold_in(item_factors, item_bias, 3.5, items, ratings, l2=2.0, bias_l2=0.5)

    def objective(v, b):
        residual = ratings - 3.5 - item_bias[items] - b - item_factors[items] @ v
        return np.sum(residual ** 2) + 2.0 * np.sum(v ** 2) + 0.5 * b ** 2

    best = objective(vector, bias)
    for _ in range(50):  # any nudge makes it worse: a minimum
        assert objective(vector + rng.normal(scale=1e-3, size=4), bias + rng.normal(scale=1e-3)) > best
    # and it is the normal equations' solution, computed another way
    x = np.hstack([item_factors[items], np.ones((5, 1))])
    expected = np.linalg.solve(x.T @ x + np.diag([2.0] * 4 + [0.5]), x.T @ (ratings - 3.5 - item_bias[items]))
    np.testing.assert_allclose(np.append(vector, bias), expected, atol=1e-10)


def test_fold_in_refuses_no_ratings():
    with pytest.raises(ValueError, match="at least one rating"):
        mf.fold_in(np.zeros((3, 2)), np.zeros(3), 3.0, [], [], 1.0)


def test_top_items_skips_seen_items_and_breaks_ties_by_lower_id():
    assert mf.top_items(np.array([1.0, 3.0, 3.0, 2.0, 5.0]), exclude=[4], n=3) == [1, 2, 3]


def test_similar_items_ranks_by_cosine_not_length():
    factors = np.array([[1.0, 0.0], [10.0, 0.5], [0.0, 1.0], [1.0, 1.0]])
    assert [i for i, _ in mf.similar_items(factors, 0, n=3)] == [1, 3, 2]


def test_precision_and_recall_at_10_count_held_out_high_ratings():
    scores = np.tile(np.arange(12.0)[::-1], (1, 1))  # item 0 best, then 1, ...
    train = (np.array([0]), np.array([0]), np.array([5.0]))  # item 0 seen: not recommended again
    test = (np.array([0, 0, 0]), np.array([1, 11, 2]), np.array([5.0, 4.0, 2.0]))
    # top 10 unseen = items 1..10: item 1 is a hit, item 11 is missed, item 2 is not "liked"
    assert mf.ranking_metrics(scores, train, test) == {"precision_at_10": 0.1, "recall_at_10": 0.5}


@pytest.fixture(scope="module")
def small_movielens() -> Ratings:
    if not (SHARED / "ml-100k" / "u.data").is_file():
        unavailable("MovieLens copy not found")
    data = datasets.load("movielens_100k", SHARED, split="u1")
    keep = (data.train[0] < 100)
    test_keep = data.test[0] < 100
    return Ratings(data.name, data.split, tuple(a[keep] for a in data.train),
                   tuple(a[test_keep] for a in data.test), data.num_users, data.num_items, data.movies)


def test_a_tiny_run_reports_rmse_per_epoch_beats_the_global_mean_and_exports_json(tmp_path, small_movielens):
    reporter = ListReporter()
    spec = make_spec("matrix_factorization", epochs=3, factors=8, batch_size=256, learning_rate=0.01)

    result = train(spec, reporter, tmp_path, dataset=small_movielens)

    assert result["status"] == "succeeded" and result["epochs_run"] == 3
    assert len(result["history"]["rmse"]) == len(result["history"]["val_rmse"]) == 3
    epochs = reporter.of_type("epoch")
    assert "val_rmse" in epochs[-1]["logs"]
    metrics = result["test_metrics"]
    for key in ("rmse", "mae", "precision_at_10", "recall_at_10", "global_mean_rmse", "biases_rmse"):
        assert 0 <= metrics[key] < 5, key
    assert metrics["rmse"] < metrics["global_mean_rmse"]
    samples = reporter.of_type("sample")
    assert len(samples) == 3 and len(samples[0]["similar"]) == 5
    factors = json.loads((tmp_path / mf.FACTORS_FILE).read_text())
    movies = json.loads((tmp_path / mf.MOVIES_FILE).read_text())
    assert len(factors["item_factors"]) == 1682 and len(factors["item_factors"][0]) == 8
    assert len(movies) == 1682 and movies[49]["title"] == "Star Wars (1977)"
    assert {a["variant"] for a in result["artifacts"]} == {"factors", "movies"}
    assert all((tmp_path / a["path"]).stat().st_size == a["bytes"] for a in result["artifacts"])
    # the exported numbers reproduce the model's test predictions (rounding aside)
    exported = mf.load_export(tmp_path / mf.FACTORS_FILE)
    users, items, ratings = small_movielens.test
    np.testing.assert_allclose(
        mf.rating_errors(mf.predict_ratings(exported, users, items), ratings)["rmse"], metrics["rmse"], atol=1e-4)


def test_the_recipe_is_in_the_catalog_with_its_try_page_and_splits():
    recipe = get_recipe("matrix_factorization")
    assert recipe.try_page == "recommend" and recipe.datasets == ("movielens_100k",)
    assert recipe.hyperparameters["split"].choices == ("random", "u1", "u2", "u3", "u4", "u5")
    assert {"factors", "l2", "optimizer", "learning_rate", "epochs", "batch_size"} <= set(recipe.hyperparameters)
