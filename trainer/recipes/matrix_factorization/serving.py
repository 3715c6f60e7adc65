"""What a recommender job serves: the recommend page (/try/recommend/<id>/: a MovieLens user's
top 10, similar movies, and your own ratings folded in in the browser) and POST
/api/v1/jobs/<id>/recommend/: the same for a known user (`{"user": <id>}`) or a new one folded
in from a few ratings (`{"ratings": [{"movie": <id>, "rating": 1..5}, ...]}`), with the same
formula and the same exported numbers the page uses. Pure numpy: no TensorFlow in the web
process."""
from __future__ import annotations

import json
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from trainer.serving import Action, ActionRefused, JobView, Page

_HERE = "trainer.recipes.matrix_factorization.serving"
CACHE_SIZE = 4
_cache: OrderedDict[tuple[str, int], dict[str, Any]] = OrderedDict()
_lock = threading.Lock()

PAGE = Page(
    name="recommend", template="demos/try_recommend.html", module="js/recommend.js",
    does="recommends movies", exported="its factors are exported",
    missing=f"{_HERE}:page_missing", config=f"{_HERE}:page_config",
)

RECOMMEND = Action(
    name="recommend",
    summary="Top movies for a trained user or for a few ratings of a new one (folded in on the server).",
    needs="exported factors", handler=f"{_HERE}:recommend_for_job",
    request="trainer.recipes.matrix_factorization.api:RecommendRequestSerializer",
    response="trainer.recipes.matrix_factorization.api:RecommendResponse",
    request_context=f"{_HERE}:request_context",
)


def page_missing(job: JobView) -> str:
    if job.artifact("json", "factors") is None or job.artifact("json", "movies") is None:
        return f"Job #{job.pk} has no exported factors; train it again to export them."
    return ""


def page_config(job: JobView) -> dict[str, Any]:
    return {
        "job": job.pk,
        "files": {a.variant: a.url for a in job.artifacts_of("json")},
        "recommendUrl": job.action_url("recommend"),
        "testMetrics": job.test_metrics,
    }


def load_factors(path: Path) -> dict[str, Any]:
    """Returns a job's factors.json as arrays, cached by path and modification time."""
    key = (str(path), path.stat().st_mtime_ns)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    from trainer.recipes.matrix_factorization import load_export

    data = load_export(path)  # outside the lock: a second job's request need not wait
    with _lock:
        _cache[key] = data
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return data


def _factors(job: JobView) -> dict[str, Any]:
    artifact = job.artifact("json", "factors")
    if artifact is None:
        raise ActionRefused(f"Job {job.pk} has no exported factors; recommendations need a succeeded "
                            f"{job.recipe} job.")
    return load_factors(job.workdir / artifact.path)


def request_context(job: JobView) -> dict[str, int]:
    """The ranges a request is checked against: this job's numbers of users and movies."""
    factors = _factors(job)
    return {"num_users": len(factors["user_bias"]), "num_items": len(factors["item_bias"])}


def recommend_for_job(job: JobView, body: dict[str, Any]) -> dict[str, Any]:
    movies = job.artifact("json", "movies")
    titles = [m["title"] for m in json.loads((job.workdir / movies.path).read_text())] if movies else []
    return recommend(_factors(job), body, titles)


def recommend(factors: dict[str, Any], request: dict[str, Any], titles: list[str]) -> dict[str, Any]:
    """Returns the response body for a validated request (ids in and out are MovieLens ids)."""
    from trainer.recipes import matrix_factorization as mf

    if "user" in request:
        user = request["user"] - 1
        vector, bias = factors["user_factors"][user], float(factors["user_bias"][user])
        seen = factors["rated"][user]
    else:
        items = np.array([r["movie"] - 1 for r in request["ratings"]])
        ratings = np.array([r["rating"] for r in request["ratings"]])
        vector, bias = mf.fold_in(factors["item_factors"], factors["item_bias"], factors["global_bias"],
                                  items, ratings, factors["l2"], factors["bias_l2"])
        seen = items.tolist()
    scores = mf.user_scores(factors["item_factors"], factors["item_bias"], factors["global_bias"], vector, bias)
    top = mf.top_items(scores, exclude=seen, n=request["top"])
    return {
        "recommendations": [{"movie": i + 1, "title": titles[i] if i < len(titles) else str(i + 1),
                             "score": float(scores[i])} for i in top],
        "user_vector": [float(x) for x in vector],
        "user_bias": bias,
        "formula": "(v, b_u) = argmin Σ (r_m − b_0 − b_m − b_u − ⟨v, w_m⟩)² + λ‖v‖² + λ_b b_u²; "
                   "score_m = b_0 + b_m + b_u + ⟨v, w_m⟩",
    }
