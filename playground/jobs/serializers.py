from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from playground.jobs.models import Job, JobEvent
from trainer.recipes import RECIPES
from trainer.spec import MAX_GPUS, PRECISIONS, SpecError, validate_spec

SPEC_FIELDS = ("recipe", "dataset", "hyperparameters", "precision", "strategy", "gpus")
CREATE_FIELDS = (*SPEC_FIELDS, "parent", "engine")


# The schema lists the choices of these two; validate_spec checks them (its messages name the
# field and what is allowed), so clients and schemathesis see the choices without a second check.
@extend_schema_field({"type": "string", "enum": sorted(RECIPES)})
class RecipeNameField(serializers.CharField):
    pass


@extend_schema_field({"type": "string", "enum": list(PRECISIONS)})
class PrecisionField(serializers.CharField):
    pass


class JobCreateSerializer(serializers.Serializer):
    """Input of POST /api/v1/jobs/. Validation is trainer.spec.validate_spec, shared with the form."""

    recipe = RecipeNameField(help_text="Recipe name, see GET /api/v1/recipes/.")
    dataset = serializers.CharField(required=False, help_text="One of the recipe's datasets (default: its default_dataset), or "
                                    '"user:<id>", one of your uploads (GET /api/v1/datasets/).')
    hyperparameters = serializers.DictField(required=False, help_text="Name → value; unspecified ones take their defaults.")
    precision = PrecisionField(required=False, help_text="float32 (default), mixed_float16, mixed_bfloat16 or auto.")
    strategy = serializers.CharField(required=False, help_text="default, mirrored (all the worker's GPUs, or its logical CPUs) or mirrored:<n> (n devices).")
    gpus = serializers.IntegerField(
        required=False, min_value=0, max_value=MAX_GPUS,
        help_text="GPUs the job needs (0 to 8, default 0): it runs on a worker with at least that many, and "
        "mirrored uses that many. Accepted even when no such worker is online: it waits for one (see waiting_for).")

    engine = serializers.ChoiceField(
        choices=["server", "browser"], default="server",
        help_text='Where it trains: "server" (a Celery worker, default) or "browser" (the tab that claims it '
        "trains it with TF.js; docs/browser-training.md). Browsers train the classifiers (recipes whose "
        "engines list browser) in float32 with the default strategy.")
    parent = serializers.JSONField(
        required=False,
        help_text='Fork: {"job": <id>, "epoch": <k> | "best" | "latest" (default best), "freeze": "none" (default) '
        '| "all_but_last"}: start from that job\'s checkpoint; same recipe and architecture.')

    def validate(self, attrs):
        unknown = sorted(set(self.initial_data) - set(CREATE_FIELDS)) if isinstance(self.initial_data, dict) else []
        errors = {name: [f"Unknown field. Allowed fields: {', '.join(CREATE_FIELDS)}."] for name in unknown}
        try:
            attrs["spec"] = validate_spec({k: self.initial_data[k] for k in SPEC_FIELDS if k in self.initial_data})
        except SpecError as exc:
            errors.update(exc.errors)
        if "spec" in attrs:
            from playground.jobs.browser import engine_errors

            if refused := engine_errors(attrs["spec"], attrs.get("engine", "server")):
                errors["engine"] = refused
        if "parent" in self.initial_data and "spec" in attrs:
            from playground.jobs.forks import ForkError, parent_fields

            try:
                attrs["job_fields"] = parent_fields(self.context["request"].user, self.initial_data["parent"],
                                                    attrs["spec"])
            except ForkError as exc:
                errors["parent"] = [str(exc)]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class ProgressSerializer(serializers.Serializer):
    epoch = serializers.IntegerField(allow_null=True)
    epochs = serializers.IntegerField(allow_null=True)
    step = serializers.IntegerField(allow_null=True)
    steps = serializers.IntegerField(allow_null=True)


class ArtifactSerializer(serializers.Serializer):
    kind = serializers.CharField()
    variant = serializers.CharField()
    url = serializers.CharField()
    bytes = serializers.IntegerField()
    accuracy = serializers.FloatField(required=False, allow_null=True)
    files = serializers.ListField(child=serializers.CharField(), required=False)


class SnapshotSerializer(serializers.Serializer):
    epoch = serializers.IntegerField()
    epochs = serializers.IntegerField()
    bytes = serializers.IntegerField()
    url = serializers.CharField(help_text="Its model.json; the shards are beside it.")


class BrowserStoppedSerializer(serializers.Serializer):
    epoch = serializers.IntegerField(help_text="The last epoch the tab reported (0: none).")
    at = serializers.DateTimeField(help_text="Its last heartbeat.")


class JobWarningSerializer(serializers.Serializer):
    code = serializers.CharField(help_text='e.g. "chance_level"')
    message = serializers.CharField()


class JobSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.get_username", read_only=True)
    warnings = JobWarningSerializer(many=True, read_only=True, help_text=(
        "What the owner should know about a finished job although it succeeded, e.g. a test "
        "accuracy at chance level."))
    progress = serializers.SerializerMethodField()
    artifacts = serializers.SerializerMethodField()
    ws_url = serializers.SerializerMethodField()
    snapshot = serializers.SerializerMethodField(
        help_text="A running job's latest float32 TF.js snapshot {epoch, epochs, bytes, url} (model.json), taken "
                  "every few seconds at most; the try pages use it while the job trains. Else null.")
    browser_stopped = serializers.SerializerMethodField(
        help_text="A browser job whose tab stopped sending (closed, offline) for PLAYGROUND_BROWSER_TIMEOUT_S: "
                  "{epoch, at}, the last epoch it reported; POST .../continue/ finishes it on a worker. Else null.")
    waiting_for = serializers.SerializerMethodField(
        help_text="Why the job is not making progress, else null: a queued job no online worker can take "
                  "(GPUs, multi_worker), or a running one whose worker stopped answering and will be taken over.")

    class Meta:
        model = Job
        fields = [
            "id", "owner", "recipe", "dataset", "hyperparameters", "precision", "strategy", "gpus", "queue",
            "engine", "browser_stopped", "waiting_for", "status", "snapshot",
            "created_at", "started_at", "resumed_at", "attempts", "finished_at", "progress", "metrics", "best_epoch",
            "test_metrics", "analysis", "error", "warnings", "artifacts", "run_info", "cancel_requested",
            "last_seq", "ws_url", "parent", "parent_epoch", "freeze", "group",
        ]
        read_only_fields = fields

    @extend_schema_field(ProgressSerializer)
    def get_progress(self, job: Job) -> dict:
        return {k: job.progress.get(k) for k in ("epoch", "epochs", "step", "steps")}

    @extend_schema_field(ArtifactSerializer(many=True))
    def get_artifacts(self, job: Job) -> list[dict]:
        request = self.context.get("request")
        absolute = request.build_absolute_uri if request else (lambda url: url)
        return [{**artifact, "url": absolute(artifact["url"])} for artifact in job.artifacts]

    @extend_schema_field(SnapshotSerializer(allow_null=True))
    def get_snapshot(self, job: Job) -> dict | None:
        from playground.jobs.serving import snapshot_of

        latest = snapshot_of(job)
        if latest is None:
            return None
        request = self.context.get("request")
        url = latest["artifact"].url
        return {"epoch": latest["epoch"], "epochs": latest["epochs"], "bytes": latest["artifact"].bytes,
                "url": request.build_absolute_uri(url) if request else url}

    @extend_schema_field(BrowserStoppedSerializer(allow_null=True))
    def get_browser_stopped(self, job: Job) -> dict | None:
        from playground.jobs.browser import browser_stopped

        return browser_stopped(job)

    def get_waiting_for(self, job: Job) -> str | None:
        from playground.ops.registry import waiting_for

        return waiting_for(job)

    def get_ws_url(self, job: Job) -> str:
        path = f"/ws/jobs/{job.pk}/"
        request = self.context.get("request")
        if request is None:
            return path
        scheme = "wss" if request.is_secure() else "ws"
        return f"{scheme}://{request.get_host()}{path}"


class JobEventSerializer(serializers.ModelSerializer):
    job = serializers.IntegerField(source="job_id")

    class Meta:
        model = JobEvent
        fields = ["seq", "type", "job", "data"]
