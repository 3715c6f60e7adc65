"""The request and response of POST /api/v1/jobs/<id>/classify/ (web process only: these are
rest_framework serializers; the handler is in `trainer.recipes.imagenet.serving`)."""
from __future__ import annotations

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

# The request body limit (DATA_UPLOAD_MAX_MEMORY_SIZE, 6 MiB) caps a photo's data URL anyway;
# the page sends its 224 px square, about 20 kB.
MAX_IMAGE_CHARS = 6_000_000


class ClassifyRequestSerializer(serializers.Serializer):
    image = serializers.CharField(max_length=MAX_IMAGE_CHARS, trim_whitespace=False, help_text=(
        "A PNG, JPEG or WebP photo as a data: URL (or bare base64); its centred square is resized to the "
        "model's input."))
    top = serializers.IntegerField(required=False, default=5, min_value=1, max_value=20)


ClassifyResponse = inline_serializer("ClassifyResponse", {
    "model": serializers.CharField(),
    "top": inline_serializer("ImageNetClass", {
        "class": serializers.IntegerField(), "label": serializers.CharField(),
        "probability": serializers.FloatField(),
    }, many=True),
    "latency_ms": serializers.FloatField(help_text="The server's forward pass, loading excluded."),
})
