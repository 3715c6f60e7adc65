"""The request and response of POST /api/v1/jobs/<id>/translate/ (web process only: these are
rest_framework serializers; the handler is `trainer.recipes.seq2seq.serving.translate`)."""
from __future__ import annotations

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

MAX_TEXT_CHARS = 500
MAX_BEAM_WIDTH = 16


class TranslateRequestSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=MAX_TEXT_CHARS, trim_whitespace=True,
                                 help_text="German text (one sentence works best).")
    beam_width = serializers.IntegerField(default=4, min_value=1, max_value=MAX_BEAM_WIDTH,
                                          help_text="Hypotheses kept per step; 1 is greedy decoding.")


TranslateResponse = inline_serializer(
    "Translation",
    {
        "translation": serializers.CharField(help_text="Lowercased English tokens joined by spaces."),
        "tokens": serializers.ListField(child=serializers.CharField()),
        "ids": serializers.ListField(child=serializers.IntegerField(), help_text="Target vocabulary ids."),
        "source_tokens": serializers.ListField(child=serializers.CharField()),
        "unknown": serializers.ListField(child=serializers.CharField(), help_text="Source tokens not in the vocabulary."),
        "score": serializers.FloatField(help_text="Log-probability of the translation."),
        "beam_width": serializers.IntegerField(),
        "latency_ms": serializers.FloatField(help_text="Decoding on the server, model loading excluded."),
        "ms_per_token": serializers.FloatField(),
        "model": serializers.CharField(),
    },
)
