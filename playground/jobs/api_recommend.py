"""POST /api/v1/jobs/<id>/recommend/: recommendations from a matrix factorization job.

Either for a known user (`{"user": <MovieLens user id>}`) or for a new one folded in from a few
ratings (`{"ratings": [{"movie": <MovieLens movie id>, "rating": 1..5}, ...]}`), with the same
formula and the same exported numbers the recommend page uses in the browser (see
`trainer.recipes.matrix_factorization`). Pure numpy: no TensorFlow in the web process.
"""
from __future__ import annotations

import json
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from playground.jobs import services
from trainer.recipes import matrix_factorization as mf

MAX_TOP = 100
CACHE_SIZE = 4
_cache: OrderedDict[tuple[str, int], dict[str, Any]] = OrderedDict()
_lock = threading.Lock()


def load_factors(path: Path) -> dict[str, Any]:
    """Returns a job's factors.json as arrays, cached by path and modification time."""
    key = (str(path), path.stat().st_mtime_ns)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    data = mf.load_export(path)  # outside the lock: a second job's request need not wait
    with _lock:
        _cache[key] = data
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return data


class RatingSerializer(serializers.Serializer):
    movie = serializers.IntegerField(min_value=1, help_text="MovieLens movie id (1-based).")
    rating = serializers.FloatField(min_value=1, max_value=5)


class RecommendRequestSerializer(serializers.Serializer):
    user = serializers.IntegerField(required=False, min_value=1,
                                    help_text="A MovieLens user id: recommend from the trained user vector.")
    ratings = RatingSerializer(many=True, required=False,
                               help_text="A new user's ratings, folded in (ridge regression on the item factors).")
    top = serializers.IntegerField(required=False, default=mf.TOP_K, min_value=1, max_value=MAX_TOP)

    def validate(self, data):
        if ("user" in data) == ("ratings" in data):
            raise serializers.ValidationError({"non_field_errors": ["Give either user or ratings, not both."]})
        num_users, num_items = self.context["num_users"], self.context["num_items"]
        if "user" in data and data["user"] > num_users:
            raise serializers.ValidationError({"user": [f"Must be between 1 and {num_users}."]})
        if "ratings" in data:
            movies = [r["movie"] for r in data["ratings"]]
            if not movies:
                raise serializers.ValidationError({"ratings": ["Rate at least one movie."]})
            if max(movies) > num_items:
                raise serializers.ValidationError({"ratings": [f"Movie ids must be between 1 and {num_items}."]})
            if len(set(movies)) != len(movies):
                raise serializers.ValidationError({"ratings": ["Rate each movie once."]})
        return data


RecommendResponse = inline_serializer("RecommendResponse", {
    "recommendations": inline_serializer("Recommendation", {
        "movie": serializers.IntegerField(), "title": serializers.CharField(), "score": serializers.FloatField(),
    }, many=True),
    "user_vector": serializers.ListField(child=serializers.FloatField()),
    "user_bias": serializers.FloatField(),
    "formula": serializers.CharField(),
})


class RecommendView(APIView):
    """Top movies for a trained user or for a few ratings of a new one (folded in on the server)."""

    @extend_schema(request=RecommendRequestSerializer, responses={200: RecommendResponse, 409: OpenApiTypes.OBJECT})
    def post(self, request, pk: int):
        job = services.visible_jobs(request.user).filter(pk=pk).first()
        if job is None:
            raise NotFound("No such job.")
        artifact = next((a for a in job.artifacts if a.get("kind") == "json" and a.get("variant") == "factors"), None)
        if job.status != job.Status.SUCCEEDED or artifact is None:
            reason = f"is {job.status}" if job.status != job.Status.SUCCEEDED else "has no exported factors"
            return Response({"detail": f"Job {job.pk} {reason}; recommendations need a succeeded "
                                       "matrix_factorization job."}, status=status.HTTP_409_CONFLICT)
        factors = load_factors(services.job_workdir(job.pk) / artifact["path"])
        body = RecommendRequestSerializer(data=request.data, context={
            "num_users": len(factors["user_bias"]), "num_items": len(factors["item_bias"])})
        body.is_valid(raise_exception=True)
        return Response(recommend(factors, body.validated_data, self._titles(job)))

    @staticmethod
    def _titles(job) -> list[str]:
        artifact = next((a for a in job.artifacts if a.get("variant") == "movies"), None)
        if artifact is None:
            return []
        return [m["title"] for m in json.loads((services.job_workdir(job.pk) / artifact["path"]).read_text())]


def recommend(factors: dict[str, Any], request: dict[str, Any], titles: list[str]) -> dict[str, Any]:
    """Returns the response body for a validated request (ids in and out are MovieLens ids)."""
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
