"""Training the recommender: fit the factorization on a MovieLens split with early stopping on
val_rmse, score it against the baselines, and export the factors for the browser (see the
package docstring)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from trainer.artifacts import Artifact
from trainer.fitting import make_optimizer, split_validation
from trainer.recipes.matrix_factorization import (FACTORS_FILE, MOVIES_FILE, baselines, build_matrix_factorization,
                                                  evaluate, parameters, similar_items)

if TYPE_CHECKING:
    from trainer.context import RunContext


def run_matrix_factorization(context: RunContext) -> dict[str, Any]:
    """Trains on a MovieLens split, scores it against the baselines, exports for the browser."""
    import tf_keras as keras

    hp, events = context.hp, context.events
    data = context.load_dataset()
    base = np.stack([data.train[0], data.train[1]], axis=1)
    x_fit, r_fit, x_val, r_val = split_validation(base, data.train[2], hp["validation_split"], hp["seed"])
    fit = (x_fit[:, 0], x_fit[:, 1], r_fit)
    events.log(f"Training matrix_factorization on {data.name} split {data.split} ({len(r_fit)} train, "
               f"{len(r_val)} validation, {len(data.test[2])} test ratings; {data.num_users} users, "
               f"{data.num_items} movies) on {', '.join(context.devices)}.")
    with context.strategy.scope():
        model = build_matrix_factorization(hp, (data.num_users, data.num_items),
                                           num_ratings=len(r_fit), global_mean=float(np.mean(r_fit)))
        model.compile(optimizer=make_optimizer(hp["optimizer"], hp["learning_rate"]), loss="mse",
                      metrics=[keras.metrics.RootMeanSquaredError(name="rmse")])
    probe = int(np.argmax(np.bincount(fit[1], minlength=data.num_items)))  # the most rated movie
    result = context.fit(model, [fit[0], fit[1]], fit[2], validation_data=([x_val[:, 0], x_val[:, 1]], r_val),
                         num_samples=len(r_fit), monitor="val_rmse",
                         sample=lambda m: similar_sample(m, probe, data.movies))

    def scores(result: dict[str, Any]) -> dict[str, Any]:
        params = parameters(model)
        metrics = evaluate(params, fit, data.test)
        reference = baselines(fit, data.test, data.num_users, data.num_items)
        events.log(f"Test RMSE {metrics['rmse']:.4f} (global mean {reference['global_mean']['rmse']:.4f}, "
                   f"biases only {reference['biases']['rmse']:.4f}); precision@10 "
                   f"{metrics['precision_at_10']:.4f}; exporting.")
        return {"baselines": reference, "test_metrics": {
            **metrics,
            **{f"{name}_{key}": value for name, values in reference.items() for key, value in values.items()},
        }, "split": data.split}

    return context.finish(result, evaluate=scores, export=lambda: export_recommender(
        parameters(model), hp, data, context.workdir, data.train))


def similar_sample(model, item: int, movies: list[dict[str, Any]]) -> dict[str, Any]:
    """Returns this epoch's five movies most like `item` (cosine of item vectors)."""
    factors = model.get_layer("item_factors").get_weights()[0]
    title = (lambda i: movies[i]["title"] if i < len(movies) else str(i + 1))
    return {"movie": title(item),
            "similar": [{"title": title(i), "cosine": round(c, 4)} for i, c in similar_items(factors, item, 5)]}


# ---- export -------------------------------------------------------------------------------------

def _rounded(values) -> Any:
    # 7 significant digits: float32 precision, about half the JSON of a full repr. The server and
    # the browser both compute from these same rounded numbers.
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 0:
        return float(f"{float(array):.7g}")
    if array.ndim == 1:
        return [float(f"{x:.7g}") for x in array.tolist()]
    return [_rounded(row) for row in array]


def export_recommender(params: dict[str, Any], hp: dict[str, Any], ratings, workdir: str | os.PathLike,
                       known: tuple) -> list[dict[str, Any]]:
    """Writes the browser's files and returns their artifact dicts.

    `recommender/factors.json`: `{"format", "factors", "l2", "bias_l2", "global_bias",
    "item_factors", "item_bias", "user_factors", "user_bias", "rated" (per user: the item ids
    they rated in `known`), "rating_counts" (per item)}`; `recommender/movies.json`: the movies'
    `{"id", "title", "year", "genres"}` in item order. Ids in the files are 0-based item indices.
    """
    workdir = Path(workdir)
    folder = workdir / "recommender"
    folder.mkdir(parents=True, exist_ok=True)
    users, items, _ = known
    rated = [[] for _ in range(ratings.num_users)]
    for user, item in sorted(zip(users.tolist(), items.tolist())):
        rated[user].append(item)
    factors = {
        "format": "matrix-factorization/1",
        "factors": hp["factors"], "l2": hp["l2"], "bias_l2": hp["bias_l2"],
        "global_bias": _rounded(params["global_bias"]),
        "item_factors": _rounded(params["item_factors"]), "item_bias": _rounded(params["item_bias"]),
        "user_factors": _rounded(params["user_factors"]), "user_bias": _rounded(params["user_bias"]),
        "rated": rated,
        "rating_counts": np.bincount(items, minlength=ratings.num_items).tolist(),
    }
    artifacts = []
    for path, payload, variant in ((FACTORS_FILE, factors, "factors"), (MOVIES_FILE, ratings.movies, "movies")):
        target = workdir / path
        target.write_text(json.dumps(payload, separators=(",", ":")))
        artifacts.append(Artifact.written(workdir, "json", variant, path).to_dict())
    return artifacts
