from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render

from playground.accounts.models import ShareLink
from playground.datasets.services import choices_for
from playground.demos.compare import MAX_JOBS
from playground.demos.forms import form_fields, job_choices, validate_submission
from playground.demos.job_summary import job_rows
from playground.demos.sweep_form import sweep_choices, sweep_from_form
from playground.jobs import files, services
from playground.jobs.browser import ENGINES, engine_errors
from playground.jobs.forks import form_parent_fields
from playground.jobs.models import JobGroup
from playground.jobs.serializers import JobSerializer
from playground.ops import registry
from trainer.checkpoint import checkpoint_path
from trainer.recipes import recipe_catalog


def _recipes() -> dict[str, dict]:
    return {recipe["name"]: recipe for recipe in recipe_catalog()}


def home(request):
    jobs = services.visible_jobs(request.user)[:20] if request.user.is_authenticated else []
    catalog = recipe_catalog()
    context = {"rows": job_rows(jobs, {recipe["name"]: recipe for recipe in catalog}), "recipes": catalog,
               "embedded": settings.EMBEDDED_WORKER, "max_compare": MAX_JOBS}
    return render(request, "demos/home.html", context)


def play(request, recipe: str):
    """The recipe form. GET prefills from the query (a link reproduces a setup); POST trains."""
    recipe_info = _recipes().get(recipe)
    if recipe_info is None:
        raise Http404(f"No recipe {recipe!r}.")
    errors: dict = {}
    quota_error = ""
    data = request.GET
    status = 200
    if request.method == "POST":
        data = request.POST
        if not request.user.is_authenticated:
            query = urlencode({k: v for k, v in data.items() if k != "csrfmiddlewaretoken"})
            return redirect_to_login(f"{request.path}?{query}")
        # "Race / sweep": one job per value of `vary`, which replace the form's own field of it.
        sweep = data.get("action") == "sweep"
        vary = data.get("vary", "")
        spec, errors = validate_submission(recipe_info, {k: v for k, v in data.items() if k != vary} if sweep else data)
        fork, fork_errors = form_parent_fields(request.user, data, spec)
        if fork_errors:
            errors["parent"], spec = fork_errors, None
        specs = None
        if sweep and spec is not None:
            specs, sweep_errors = sweep_from_form(recipe_info, spec, data)
            if sweep_errors:
                errors.update(sweep_errors)
                spec = None
        engine = "server" if sweep else data.get("engine", "server")
        # "race": the same job in this browser and on a server worker, on one chart.
        engines = list(ENGINES) if engine == "race" else [engine]
        if spec is not None and (engine_refused := [e for name in engines for e in engine_errors(spec, name)]):
            quota_error, spec, status = " ".join(engine_refused), None, 400
        elif spec is not None:
            try:
                if sweep:
                    jobs = services.submit_jobs(request.user, specs, **fork, group_kind=JobGroup.KIND_SWEEP, vary=vary)
                else:
                    jobs = services.submit_jobs(request.user, [spec] * len(engines), engines=engines, **fork,
                                                group_kind=JobGroup.KIND_ENGINES if engine == "race" else None)
            except services.SubmissionRefused as exc:
                status = exc.status
                at_fields = exc.errors.get("hyperparameters", {})
                if sweep and isinstance(at_fields, dict) and vary in at_fields:
                    at_fields = {**at_fields}
                    errors["values"] = at_fields.pop(vary)  # e.g. a swept epochs over the quota
                if isinstance(at_fields, dict) and at_fields:
                    errors.update(at_fields)  # e.g. epochs over the quota, a base job not yours
                elif "dataset" in exc.errors:
                    errors["dataset"] = exc.errors["dataset"]
                elif "strategy" in exc.errors:
                    errors["strategy"] = exc.errors["strategy"]
                else:
                    quota_error = " ".join(exc.messages())
            else:
                if engine == "race" or sweep:
                    return redirect("race", pk=jobs[0].group_id)
                return redirect("job-detail", pk=jobs[0].pk)
        elif not quota_error:
            status = 400
    hp_fields, top = form_fields(recipe_info, data, errors, uploads=choices_for(request.user, recipe_info),
                                 jobs=job_choices(request.user))
    context = {"recipe": recipe_info, "fields": hp_fields, "top": top, "errors": errors, "quota_error": quota_error,
               "fork": {k: data.get(k, "") for k in ("parent", "parent_epoch", "freeze")},
               "sweep": {"choices": sweep_choices(recipe_info, data.get("vary")), "values": data.get("values", ""),
                         "errors": {field: errors.get(field, []) for field in ("vary", "values")}},
               # The play page warns before a job asks for more GPUs than any online worker has.
               "gpus_online": max(registry.online().values_list("gpus", flat=True), default=0)}
    return render(request, "demos/play.html", context, status=status)


@login_required
def job_detail(request, pk: int):
    job = get_object_or_404(services.visible_jobs(request.user), pk=pk)
    context = {
        "job": job,
        "job_json": JobSerializer(job, context={"request": request}).data,
        "rerun_query": rerun_query(job),
        "try_page": _recipes().get(job.recipe, {}).get("try_page"),
        "share_url": _share_url(request, job),
        # A fork starts from a checkpoint: none is offered from a job that never saved one.
        "forkable": _forkable(job),
    }
    return render(request, "demos/job_detail.html", context)


def _forkable(job) -> bool:
    try:
        return files.exists(job.pk, checkpoint_path("", "best").as_posix())
    except files.StorageUnavailable:
        return False  # the page still opens while the storage is down; forking waits for it


def rerun_query(job) -> str:
    """The play-form query that trains the same setup again."""
    rerun = {"dataset": job.dataset, "precision": job.precision, "strategy": job.strategy, "gpus": job.gpus}
    for name, value in job.hyperparameters.items():
        rerun[name] = ", ".join(map(str, value)) if isinstance(value, list) else value
    return urlencode(rerun)


def _share_url(request, job) -> str:
    link = ShareLink.objects.filter(job=job).first()
    return request.build_absolute_uri(link.get_absolute_url()) if link else ""
