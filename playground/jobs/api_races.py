"""Races: POST /api/v1/races/ starts one recipe with several optimizers on the same seed, one
job on both engines (browser and server), or a sweep (one hyperparameter, 2 to 8 values), as a
group of jobs; GET /api/v1/races/<id>/ returns the group and its jobs."""
from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from playground.accounts.throttling import SubmitRateThrottle, submission_throttled
from playground.jobs import services
from playground.jobs.api import refusal_response
from playground.jobs.browser import ENGINES, engine_errors
from playground.jobs.models import JobGroup
from playground.jobs.serializers import SPEC_FIELDS, JobSerializer
from playground.jobs.sweeps import MAX_VALUES, MIN_VALUES, sweep_specs
from trainer.recipes import RECIPES
from trainer.spec import SpecError, validate_spec

RACE_OPTIMIZERS = ("sgd", "adagrad", "rmsprop", "adam")


class RaceCreateSerializer(serializers.Serializer):
    """A job spec (as POST /api/v1/jobs/) plus what races: optimizers, engines, or the values of
    one hyperparameter."""

    recipe = serializers.CharField(help_text="A recipe with an optimizer hyperparameter (GET /api/v1/recipes/ lists them).")
    dataset = serializers.CharField(required=False)
    hyperparameters = serializers.DictField(required=False, help_text="Shared by every job; optimizer is set per job.")
    precision = serializers.CharField(required=False)
    strategy = serializers.CharField(required=False)
    optimizers = serializers.ListField(child=serializers.CharField(), required=False,
                                       help_text=f"Default {list(RACE_OPTIMIZERS)}; 2 to 5 distinct names.")
    engines = serializers.ListField(child=serializers.CharField(), required=False,
                                    help_text="Instead of optimizers: race the same job on these engines, "
                                              '["browser", "server"]; the browser one trains in the tab that opens the race page.')
    vary = serializers.CharField(required=False,
                                 help_text="Instead of optimizers or engines: a sweep over this hyperparameter of the recipe, "
                                           "one job per item of values (the rest of the spec shared).")
    values = serializers.ListField(
        child=serializers.JSONField(), required=False, min_length=MIN_VALUES, max_length=MAX_VALUES,
        error_messages={"min_length": f"Give {MIN_VALUES} to {MAX_VALUES} values.",
                        "max_length": f"Give {MIN_VALUES} to {MAX_VALUES} values."},
        help_text=f"With vary: {MIN_VALUES} to {MAX_VALUES} distinct values, each checked by the recipe's schema; "
                  'a refused one is reported by its index, {"values": {"2": ["Must be between ..."]}}.')

    def validate(self, attrs):
        data = self.initial_data
        unknown = sorted(set(data) - {*SPEC_FIELDS, "optimizers", "engines", "vary", "values"})
        if unknown:
            raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        if "vary" in data or "values" in data:
            return self._sweep(data, attrs)
        if "engines" in data:
            return self._engine_race(data, attrs)
        optimizers = list(data.get("optimizers", RACE_OPTIMIZERS))
        recipe = RECIPES.get(data.get("recipe"))
        if recipe is not None and "optimizer" not in recipe.hyperparameters:
            raise serializers.ValidationError({"recipe": [f"{recipe.name} has no optimizer to race."]})
        if not 2 <= len(optimizers) <= 5 or len(set(optimizers)) != len(optimizers):
            raise serializers.ValidationError({"optimizers": ["Give 2 to 5 distinct optimizers."]})
        hyperparameters = data.get("hyperparameters") or {}
        if not isinstance(hyperparameters, dict):
            raise serializers.ValidationError({"hyperparameters": ["Expected an object."]})
        specs = []
        for optimizer in optimizers:
            try:
                specs.append(validate_spec({**{k: data[k] for k in SPEC_FIELDS if k in data},
                                            "hyperparameters": {**hyperparameters, "optimizer": optimizer}}))
            except SpecError as exc:
                errors = exc.errors
                if "optimizer" in errors.get("hyperparameters", {}):
                    errors = {"optimizers": errors["hyperparameters"]["optimizer"]}
                raise serializers.ValidationError(errors) from None
        attrs["specs"] = specs
        return attrs

    def _sweep(self, data, attrs):
        if "optimizers" in data or "engines" in data:
            raise serializers.ValidationError({"vary": ["Vary one hyperparameter, or race optimizers or engines; not both."]})
        for field, other in (("vary", "values"), ("values", "vary")):
            if field not in data:
                raise serializers.ValidationError({field: [f"This field is required with {other}."]})
        try:
            attrs["specs"] = sweep_specs({k: data[k] for k in SPEC_FIELDS if k in data}, data["vary"], data["values"])
        except SpecError as exc:
            raise serializers.ValidationError(exc.errors) from None
        return attrs

    def _engine_race(self, data, attrs):
        if "optimizers" in data:
            raise serializers.ValidationError({"engines": ["Race optimizers or engines, not both."]})
        engines = data["engines"]
        if not isinstance(engines, list) or sorted(map(str, engines)) != sorted(ENGINES):
            raise serializers.ValidationError({"engines": [f"Give both engines once each: {list(ENGINES)}."]})
        try:
            spec = validate_spec({k: data[k] for k in SPEC_FIELDS if k in data})
        except SpecError as exc:
            raise serializers.ValidationError(exc.errors) from None
        if refused := engine_errors(spec, "browser"):
            raise serializers.ValidationError({"engines": refused})
        attrs["specs"], attrs["engines"] = [spec] * len(engines), engines
        return attrs


def race_data(group: JobGroup, request) -> dict:
    jobs = list(group.jobs.order_by("id"))
    sweep = group.kind == JobGroup.KIND_SWEEP
    return {"id": group.pk, "kind": group.kind, "page": f"/races/{group.pk}/",
            "vary": group.vary if sweep else None,
            "values": [job.hyperparameters.get(group.vary) for job in jobs] if sweep else None,
            "jobs": JobSerializer(jobs, many=True, context={"request": request}).data}


RaceResponse = inline_serializer("Race", {
    "id": serializers.IntegerField(),
    "kind": serializers.ChoiceField(choices=[JobGroup.KIND_RACE, JobGroup.KIND_ENGINES, JobGroup.KIND_SWEEP]),
    "page": serializers.CharField(),
    "vary": serializers.CharField(allow_null=True, help_text="A sweep's hyperparameter; null for other races."),
    "values": serializers.ListField(child=serializers.JSONField(), allow_null=True,
                                    help_text="A sweep's values, one per job in the order of jobs; null for other races."),
    "jobs": JobSerializer(many=True),
})


class RaceCreateView(APIView):
    throttle_classes = [SubmitRateThrottle]

    def throttled(self, request, wait):
        raise submission_throttled(wait)

    @extend_schema(request=RaceCreateSerializer, responses={201: RaceResponse, 429: OpenApiTypes.OBJECT})
    def post(self, request):
        """Start a race: one job per optimizer (same recipe, data and seed); with `engines` the
        same job once in the browser and once on a worker; with `vary` and `values` a sweep, one
        job per value of that hyperparameter."""
        body = RaceCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        engines = body.validated_data.get("engines")
        vary = body.validated_data.get("vary")
        kind = JobGroup.KIND_SWEEP if vary else JobGroup.KIND_ENGINES if engines else JobGroup.KIND_RACE
        try:
            jobs = services.submit_jobs(request.user, body.validated_data["specs"], engines=engines,
                                        group_kind=kind, vary=vary)
        except services.SubmissionRefused as exc:
            return refusal_response(exc)
        group = jobs[0].group
        return Response(race_data(group, request), status=status.HTTP_201_CREATED)


class RaceDetailView(APIView):
    @extend_schema(responses={200: RaceResponse})
    def get(self, request, pk: int):
        """A race and its jobs (404 for another user's race)."""
        group = visible_groups(request.user).filter(pk=pk).first()
        if group is None:
            return Response({"detail": "No such race."}, status=status.HTTP_404_NOT_FOUND)
        return Response(race_data(group, request))


def visible_groups(user):
    groups = JobGroup.objects.all()
    return groups if user.is_staff else groups.filter(owner=user)
