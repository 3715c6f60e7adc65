"""POST /api/v1/jobs/<id>/translate/: beam-search translation with a seq2seq job's models."""
from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response
from rest_framework.views import APIView

from playground.jobs import services
from trainer import inference

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


class TranslateView(APIView):
    @extend_schema(request=TranslateRequestSerializer,
                   responses={200: TranslateResponse, 400: OpenApiTypes.OBJECT, 409: OpenApiTypes.OBJECT,
                              413: OpenApiTypes.OBJECT})
    def post(self, request, pk: int):
        """German→English with the job's Keras encoder and decoder (beam search); 409 unless it succeeded."""
        # Another user's job is not visible: 404, never 403.
        job = get_object_or_404(services.visible_jobs(request.user), pk=pk)
        has_models = {a.get("model") for a in job.artifacts if a.get("kind") == "keras"} >= {"encoder", "decoder"}
        if job.recipe != "seq2seq":
            return Response({"detail": f"Job {job.pk} trained {job.recipe}; translation needs a seq2seq job."},
                            status=status.HTTP_409_CONFLICT)
        if job.status != job.Status.SUCCEEDED or not has_models:
            reason = f"is {job.status}" if job.status != job.Status.SUCCEEDED else "has no exported encoder and decoder"
            return Response({"detail": f"Job {job.pk} {reason}; translation needs a succeeded seq2seq job."},
                            status=status.HTTP_409_CONFLICT)
        body = TranslateRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        from trainer.recipes.seq2seq import translate_with_export

        try:
            result = translate_with_export(services.job_workdir(job.pk), body.validated_data["text"],
                                           body.validated_data["beam_width"])
        except inference.ModelTooLarge as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        return Response({**result, "latency_ms": round(result["latency_ms"], 3),
                         "ms_per_token": round(result["ms_per_token"], 3), "model": "keras h5"})
