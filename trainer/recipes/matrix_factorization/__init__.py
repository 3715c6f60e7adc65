"""Matrix factorization recommender: "customers who liked this also liked…" on MovieLens.

The model is the classic biased factorization

    r̂_um = ⟨v_u, w_m⟩ + b_u + b_m + b_0

fitted on the observed ratings only by minimising

    J = ½ Σ_(u,m) observed (r_um − r̂_um)² + (λ/2)(‖U‖²_F + ‖V‖²_F) [+ (λ_b/2)(‖b_users‖² + ‖b_items‖²)]

(U holds the user vectors v_u, V the item vectors w_m; λ_b is 0 by default, i.e. exactly the
model above). Minibatch training minimises 2J/N (N = training ratings), which has the same
minimiser: per batch, the mean squared error plus (λ/N)(‖U‖² + ‖V‖²) (+ (λ_b/N)(...)).

Fold-in (a new user from a few ratings, item side fixed): J restricted to one user is

    (v, b_u) = argmin Σ_m∈R (r_m − b_0 − b_m − b_u − ⟨v, w_m⟩)² + λ‖v‖² + λ_b b_u²

a ridge regression with the closed form (XᵀX + D) [v; b_u] = Xᵀ y, where X's rows are
[w_m, 1], y_m = r_m − b_0 − b_m and D = diag(λ, …, λ, λ_b). The server solves it here in
float64 (`fold_in`); the recommend page solves the same system in the browser (TF.js builds XᵀX
and Xᵀy, a Cholesky solve in float64 JavaScript does the rest).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from trainer.hyperparams import COMMON, Param
from trainer.recipes import ModelCount, Recipe
from trainer.recipes.matrix_factorization import serving

TOP_K = 10
RELEVANT_RATING = 4.0  # held-out ratings of 4 or 5 count as "liked" for precision/recall@10
RATING_RANGE = (1.0, 5.0)
# Damping of the biases-only baseline (Koren, "Factor in the neighbors", 2008): item and user
# biases shrink towards 0 as if each had 25 (items) or 10 (users) extra ratings at the mean.
BASELINE_ITEM_DAMPING = 25.0
BASELINE_USER_DAMPING = 10.0
FACTORS_FILE = "recommender/factors.json"
MOVIES_FILE = "recommender/movies.json"


def build_matrix_factorization(hp: dict[str, Any], input_shape: tuple[int, ...],
                               num_classes: int = 0, *, num_ratings: int = 1,
                               global_mean: float = 0.0):
    """Returns the biased matrix factorization model r̂ = ⟨v_u, w_m⟩ + b_u + b_m + b_0.

    Inputs are `[users, items]` (0-based int32 ids, shape `(batch,)`); the output is the
    predicted rating, shape `(batch,)`. The L2 terms are added with `model.add_loss`, scaled by
    1/num_ratings (see the module docstring), so `model.losses` is exactly that term.

    Args:
        hp: hyperparameters with `factors`, `l2` (λ), `bias_l2` (λ_b) and `seed`.
        input_shape: `(num_users, num_items)`.
        num_classes: unused (the recipe interface's classifier argument).
        num_ratings: N, the number of training ratings.
        global_mean: initial b_0 (the mean training rating).
    """
    import tensorflow as tf
    import tf_keras as keras

    num_users, num_items = input_shape
    k = hp["factors"]
    seed = hp.get("seed")

    def init(offset: int):
        # Two seeds: one seeded initializer for both tables would start items 1..943 equal to users.
        return keras.initializers.RandomNormal(stddev=0.1, seed=None if seed is None else seed + offset)

    users = keras.Input(shape=(), dtype="int32", name="user")
    items = keras.Input(shape=(), dtype="int32", name="item")
    user_factors = keras.layers.Embedding(num_users, k, embeddings_initializer=init(0), name="user_factors")
    item_factors = keras.layers.Embedding(num_items, k, embeddings_initializer=init(1), name="item_factors")
    user_bias = keras.layers.Embedding(num_users, 1, embeddings_initializer="zeros", name="user_bias")
    item_bias = keras.layers.Embedding(num_items, 1, embeddings_initializer="zeros", name="item_bias")
    # float32 output under mixed precision: the mse loss and the RMSE need the full mantissa.
    global_bias = _global_bias_class()(global_mean, name="global_bias", dtype="float32")

    v, w = user_factors(users), item_factors(items)
    dot = keras.layers.Dot(axes=1, name="dot")([v, w])
    biases = keras.layers.Add(name="biases")([user_bias(users), item_bias(items)])
    rating = global_bias(keras.layers.Reshape(())(keras.layers.Add()([dot, biases])))
    model = keras.Model([users, items], rating, name="matrix_factorization")

    factor_weight = hp["l2"] / num_ratings
    bias_weight = hp.get("bias_l2", 0.0) / num_ratings
    model.add_loss(lambda: factor_weight * (tf.reduce_sum(tf.square(user_factors.embeddings))
                                            + tf.reduce_sum(tf.square(item_factors.embeddings))))
    if bias_weight:
        model.add_loss(lambda: bias_weight * (tf.reduce_sum(tf.square(user_bias.embeddings))
                                              + tf.reduce_sum(tf.square(item_bias.embeddings))))
    return model


def count_matrix_factorization(hp: dict[str, Any], input_shape: tuple[int, ...],
                               num_classes: int = 0) -> ModelCount:
    """Returns the size of `build_matrix_factorization`'s model without building it.

    It exports JSON for the browser, no Keras model: `exported` is 0.
    """
    num_users, num_items = input_shape
    params = (num_users + num_items) * (hp["factors"] + 1) + 1
    # Two factor vectors, two biases, their dot product and sums, the rating.
    activations = 2 * hp["factors"] + 7
    return ModelCount(params, params, 0, activations)


def _global_bias_class():
    import tf_keras as keras

    class GlobalBias(keras.layers.Layer):
        """Adds one trainable scalar b_0 (initialised to the mean rating) to its input."""

        def __init__(self, initial: float = 0.0, **kwargs) -> None:
            super().__init__(**kwargs)
            self.initial = float(initial)

        def build(self, input_shape) -> None:
            self.b0 = self.add_weight(name="b0", shape=(), trainable=True,
                                      initializer=keras.initializers.Constant(self.initial))

        def call(self, inputs):
            return inputs + self.b0

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "initial": self.initial}

    return GlobalBias


def parameters(model) -> dict[str, np.ndarray | float]:
    """Returns the trained model's U, V, user/item biases and b_0 as numpy arrays."""
    def weight(name: str) -> np.ndarray:
        return np.asarray(model.get_layer(name).get_weights()[0], dtype=np.float64)

    return {
        "user_factors": weight("user_factors"), "item_factors": weight("item_factors"),
        "user_bias": weight("user_bias")[:, 0], "item_bias": weight("item_bias")[:, 0],
        "global_bias": float(weight("global_bias")),
    }


# ---- numpy side: prediction, fold-in, ranking (shared by the runner, the server and tests) ------

def predict_ratings(params: dict[str, Any], users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Returns ⟨v_u, w_m⟩ + b_u + b_m + b_0 for each (user, item) pair, unclipped."""
    u_f, i_f = np.asarray(params["user_factors"]), np.asarray(params["item_factors"])
    return (np.einsum("ij,ij->i", u_f[users], i_f[items]) + np.asarray(params["user_bias"])[users]
            + np.asarray(params["item_bias"])[items] + params["global_bias"])


def fold_in(item_factors: np.ndarray, item_bias: np.ndarray, global_bias: float,
            items: np.ndarray, ratings: np.ndarray, l2: float,
            bias_l2: float = 0.0) -> tuple[np.ndarray, float]:
    """Returns `(v, b_u)` for a new user from their ratings, item side fixed (module docstring).

    Args:
        item_factors: (num_items, k) item vectors w_m.
        item_bias: (num_items,) b_m.
        global_bias: b_0.
        items: 0-based ids of the rated items (distinct).
        ratings: their ratings.
        l2: λ on the user vector.
        bias_l2: λ_b on the user bias.

    Raises:
        ValueError: no ratings, or items and ratings of different lengths.
    """
    items = np.asarray(items, dtype=np.int64)
    ratings = np.asarray(ratings, dtype=np.float64)
    if len(items) == 0 or len(items) != len(ratings):
        raise ValueError("Give at least one rating, and one rating per item.")
    w = np.asarray(item_factors, dtype=np.float64)[items]
    x = np.hstack([w, np.ones((len(items), 1))])
    y = ratings - global_bias - np.asarray(item_bias, dtype=np.float64)[items]
    k = w.shape[1]
    a = x.T @ x + np.diag([l2] * k + [bias_l2])
    # A is symmetric positive definite (λ > 0 and at least one rating), so Cholesky applies;
    # the browser uses the same factorisation.
    lower = np.linalg.cholesky(a)
    solution = np.linalg.solve(lower.T, np.linalg.solve(lower, x.T @ y))
    return solution[:k], float(solution[k])


def top_items(scores: np.ndarray, exclude=(), n: int = TOP_K) -> list[int]:
    """Returns the ids of the n best-scored items not in `exclude`; ties go to the lower id."""
    scores = np.asarray(scores, dtype=np.float64).copy()
    scores[np.asarray(list(exclude), dtype=np.int64)] = -np.inf
    order = np.lexsort((np.arange(len(scores)), -scores))
    return [int(i) for i in order[:n] if np.isfinite(scores[i])]


def user_scores(item_factors: np.ndarray, item_bias: np.ndarray, global_bias: float,
                vector: np.ndarray, bias: float) -> np.ndarray:
    """Returns the predicted rating of every item for one user vector and bias."""
    return (np.asarray(item_factors, dtype=np.float64) @ np.asarray(vector, dtype=np.float64)
            + np.asarray(item_bias, dtype=np.float64) + global_bias + bias)


def similar_items(item_factors: np.ndarray, item: int, n: int = TOP_K) -> list[tuple[int, float]]:
    """Returns the n items whose vectors have the highest cosine similarity with `item`'s."""
    f = np.asarray(item_factors, dtype=np.float64)
    norms = np.linalg.norm(f, axis=1)
    cosine = f @ f[item] / np.maximum(norms * norms[item], 1e-12)
    return [(i, float(cosine[i])) for i in top_items(cosine, exclude=[item], n=n)]


# ---- evaluation ---------------------------------------------------------------------------------

def rating_errors(predicted: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    """Returns RMSE and MAE of predictions clipped to the rating scale (1–5)."""
    error = np.clip(predicted, *RATING_RANGE) - actual
    return {"rmse": float(np.sqrt(np.mean(error ** 2))), "mae": float(np.mean(np.abs(error)))}


def ranking_metrics(score_matrix: np.ndarray, train: tuple, test: tuple,
                    n: int = TOP_K) -> dict[str, float]:
    """Returns precision@n and recall@n on held-out high ratings.

    For every test user with at least one held-out rating ≥ 4, the items they did not rate in
    training are ranked by score; a hit is a top-n item they rated ≥ 4 in the test set.
    Precision is hits/n, recall hits/(their held-out ratings ≥ 4), averaged over those users.
    """
    scores = np.array(score_matrix, dtype=np.float64)
    train_users, train_items, _ = train
    scores[train_users, train_items] = -np.inf
    test_users, test_items, test_ratings = test
    liked = test_ratings >= RELEVANT_RATING
    precisions, recalls = [], []
    for user in np.unique(test_users[liked]):
        relevant = set(test_items[liked & (test_users == user)].tolist())
        row = scores[user]
        top = np.lexsort((np.arange(len(row)), -row))[:n]
        hits = len(relevant.intersection(top.tolist()))
        precisions.append(hits / n)
        recalls.append(hits / len(relevant))
    return {f"precision_at_{n}": float(np.mean(precisions)) if precisions else 0.0,
            f"recall_at_{n}": float(np.mean(recalls)) if recalls else 0.0}


def fit_biases(train: tuple, num_users: int, num_items: int, iterations: int = 10) -> dict[str, Any]:
    """Returns the biases-only baseline r̂ = μ + b_u + b_m, fitted by damped alternating means."""
    users, items, ratings = train
    mean = float(np.mean(ratings))
    user_bias, item_bias = np.zeros(num_users), np.zeros(num_items)
    user_count = np.bincount(users, minlength=num_users)
    item_count = np.bincount(items, minlength=num_items)
    for _ in range(iterations):
        residual = ratings - mean - user_bias[users]
        item_bias = np.bincount(items, residual, num_items) / (item_count + BASELINE_ITEM_DAMPING)
        residual = ratings - mean - item_bias[items]
        user_bias = np.bincount(users, residual, num_users) / (user_count + BASELINE_USER_DAMPING)
    return {"user_factors": np.zeros((num_users, 1)), "item_factors": np.zeros((num_items, 1)),
            "user_bias": user_bias, "item_bias": item_bias, "global_bias": mean}


def score_matrix(params: dict[str, Any]) -> np.ndarray:
    """Returns every user's predicted rating of every item, (num_users, num_items)."""
    return (np.asarray(params["user_factors"]) @ np.asarray(params["item_factors"]).T
            + np.asarray(params["user_bias"])[:, None] + np.asarray(params["item_bias"])[None, :]
            + params["global_bias"])


def evaluate(params: dict[str, Any], train: tuple, test: tuple) -> dict[str, float]:
    """Returns test RMSE, MAE, precision@10 and recall@10 of a parameter set."""
    users, items, ratings = test
    return {**rating_errors(predict_ratings(params, users, items), ratings),
            **ranking_metrics(score_matrix(params), train, test)}


def baselines(train: tuple, test: tuple, num_users: int, num_items: int) -> dict[str, dict[str, float]]:
    """Returns the test metrics of the global mean and of the biases-only model."""
    mean = float(np.mean(train[2]))
    global_mean = {"user_factors": np.zeros((num_users, 1)), "item_factors": np.zeros((num_items, 1)),
                   "user_bias": np.zeros(num_users), "item_bias": np.zeros(num_items),
                   "global_bias": mean}
    return {"global_mean": evaluate(global_mean, train, test),
            "biases": evaluate(fit_biases(train, num_users, num_items), train, test)}


# ---- export -------------------------------------------------------------------------------------

def load_export(path: str | os.PathLike) -> dict[str, Any]:
    """Returns factors.json with its matrices as float64 numpy arrays."""
    data = json.loads(Path(path).read_text())
    for key in ("item_factors", "item_bias", "user_factors", "user_bias"):
        data[key] = np.asarray(data[key], dtype=np.float64)
    return data


# ---- training (training.py) ---------------------------------------------------------------------

def run_matrix_factorization(context) -> dict[str, Any]:
    """`Recipe.run`: trains, scores and exports the recommender (`training.run_matrix_factorization`,
    imported when a job runs: importing the recipes must not import TensorFlow)."""
    from trainer.recipes.matrix_factorization import training

    return training.run_matrix_factorization(context)


RECIPE = Recipe(
    name="matrix_factorization",
    title="Matrix factorization recommender",
    task="recommendation",
    description=(
        "Learns a vector per user and per movie so that their dot product plus biases predicts ratings.\n"
        "Then recommends movies, finds similar ones, and folds in your own ratings in the browser."
    ),
    datasets=("movielens_100k",),
    default_dataset="movielens_100k",
    hyperparameters={
        **COMMON,
        # Measured on u1 (benchmarks/recommender_rmse.py, 2 CPU cores, ~10 s): the exact objective
        # overfits after ~9 epochs at λ = 10-11 and underfits at λ ≥ 15, so early stopping on
        # val_rmse (best epoch restored) with a small validation slice does the rest. k = 8..128,
        # λ_b, batch size and Adam/RMSprop/SGD all land at test RMSE 0.922-0.93 on u1.
        "epochs": COMMON["epochs"].with_default(30),
        "batch_size": COMMON["batch_size"].with_default(512),
        "learning_rate": COMMON["learning_rate"].with_default(0.005),
        "validation_split": COMMON["validation_split"].with_default(0.05),
        "patience": COMMON["patience"].with_default(5),
        "factors": Param("int", 16, min=1, max=256, help="Length k of each user and movie vector."),
        "l2": Param("float", 11.0, min=0.0, max=1000.0,
                    help="λ: L2 penalty (λ/2)(‖U‖²+‖V‖²) against the summed squared error."),
        "bias_l2": Param("float", 0.0, min=0.0, max=1000.0,
                         help="λ_b: optional L2 penalty on the user and movie biases (0 = the plain model)."),
        "split": Param("str", "u1", choices=("random", "u1", "u2", "u3", "u4", "u5"),
                       help="Test split: a random 20% of ratings, or GroupLens' folds u1..u5."),
    },
    build=build_matrix_factorization,
    count=count_matrix_factorization,
    dataset_options=("split", "seed"),
    run=run_matrix_factorization,
    pages=(serving.PAGE,), actions=(serving.RECOMMEND,),
    user_data=("ratings",),
)
