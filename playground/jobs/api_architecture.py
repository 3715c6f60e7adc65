"""POST /api/v1/architecture/: the layers of the model a job spec would build (the recipe's own
builder, trainer/architecture.py), for the network diagrams of the play and job pages. Open to
visitors, as the play page is; a spec is validated as POST /api/v1/jobs/ validates it."""
from __future__ import annotations

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView

from playground.datasets.services import job_dataset_error, shape_of
from playground.jobs.serializers import SPEC_FIELDS
from trainer import architecture, sizing
from trainer.hyperparams import job_reference
from trainer.recipes import get_recipe
from trainer.spec import SpecError, validate_spec


class ArchitectureThrottle(UserRateThrottle):
    """Per user (per IP for a visitor): a diagram builds a model, up to seconds for an ImageNet one."""

    scope = "architecture"

    def get_rate(self):
        return settings.PLAYGROUND_ARCHITECTURE_RATE or None


class ArchitectureView(APIView):
    permission_classes = [AllowAny]
    throttle_classes = [ArchitectureThrottle]

    @extend_schema(request=OpenApiTypes.OBJECT, responses={200: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT})
    def post(self, request):
        """The layers of the model a job spec (as POST /api/v1/jobs/ takes it) builds:
        `{input_shape, num_classes, params, trainable_params, layers: [{name, type, output_shape,
        params, trainable, units?, filters?, kernel_size?, activation?, rate?, pool_size?,
        model?}]}`; 400 with per-field errors for a spec a job would refuse."""
        body = request.data if isinstance(request.data, dict) else {}
        try:
            spec = validate_spec({k: body[k] for k in SPEC_FIELDS if k in body})
        except SpecError as exc:
            return Response(exc.errors, status=status.HTTP_400_BAD_REQUEST)
        if error := job_dataset_error(request.user, spec) if request.user.is_authenticated else (
                "Log in to draw a model of an uploaded dataset." if spec.dataset.startswith("user:") else None):
            return Response({"dataset": [error]}, status=status.HTTP_400_BAD_REQUEST)
        recipe = get_recipe(spec.recipe)
        if based := [name for name, param in recipe.hyperparameters.items()
                     if param.jobs and job_reference(spec.hyperparameters.get(name)) is not None]:
            return Response({based[0]: ["A model on another job's base is not drawn: the diagram builds from the "
                                        "recipe's own bases (choose one to see it)."]}, status=status.HTTP_400_BAD_REQUEST)
        try:
            input_shape, num_classes = sizing.dataset_shape(spec, shape_of(spec))
            described = architecture.describe(spec.recipe, spec.hyperparameters, input_shape, num_classes)
        except sizing.UnsizedDataset:
            return Response({"dataset": [f"The size of {spec.dataset}'s samples is not known before it loads."]},
                            status=status.HTTP_400_BAD_REQUEST)
        except ValueError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return Response({"input_shape": list(input_shape), "num_classes": num_classes, **described})
