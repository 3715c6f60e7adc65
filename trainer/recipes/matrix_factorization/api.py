"""The request and response of POST /api/v1/jobs/<id>/recommend/ (web process only: these are
rest_framework serializers; the handler is in `trainer.recipes.matrix_factorization.serving`)."""
from __future__ import annotations

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from trainer.recipes.matrix_factorization import TOP_K

MAX_TOP = 100


class RatingSerializer(serializers.Serializer):
    movie = serializers.IntegerField(min_value=1, help_text="MovieLens movie id (1-based).")
    rating = serializers.FloatField(min_value=1, max_value=5)


class RecommendRequestSerializer(serializers.Serializer):
    user = serializers.IntegerField(required=False, min_value=1,
                                    help_text="A MovieLens user id: recommend from the trained user vector.")
    ratings = RatingSerializer(many=True, required=False,
                               help_text="A new user's ratings, folded in (ridge regression on the item factors).")
    top = serializers.IntegerField(required=False, default=TOP_K, min_value=1, max_value=MAX_TOP)

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
