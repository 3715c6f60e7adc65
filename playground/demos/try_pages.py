"""The /try/<page>/<id>/ pages, one route per page a recipe declares (`Recipe.pages`,
`trainer.serving.Page`): find the user's job (another user's is a 404), say why it cannot be
tried or build the page's config, render the page's template (a child of
templates/demos/try_base.html)."""
from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path

from playground.jobs import serving, services
from playground.jobs.models import Job
from trainer.recipes import pages, recipe_catalog


def try_view(name: str):
    """Returns the view of the page called `name`."""
    page, recipes = pages()[name]

    @login_required
    def view(request, pk: int):
        job = get_object_or_404(services.visible_jobs(request.user), pk=pk)
        served = serving.job_view(job)
        reason = page.unavailable_reason(served, recipes)
        config = {} if reason else page.page_config(served)
        context = {"job": job, "reason": reason, "config": config, "module": page.module,
                   **page.template_context()}
        return render(request, page.template, context)

    view.__name__ = f"try_{name}"
    return view


def landing_view(name: str):
    """Returns the view of the page's landing path (`Page.landing`): the user's newest succeeded
    job of a declaring recipe, else what it needs and the way to one."""
    page, recipes = pages()[name]

    @login_required
    def view(request):
        jobs = Job.objects.filter(owner=request.user, recipe__in=recipes).order_by("-created_at")
        done = jobs.filter(status=Job.Status.SUCCEEDED).first()
        if done is not None:
            return redirect(f"try-{name}", pk=done.pk)
        catalog = {recipe["name"]: recipe for recipe in recipe_catalog() if recipe["name"] in recipes}
        context = {"page": page, "recipes": [catalog[r] for r in recipes],
                   "pending": jobs.filter(status__in=[Job.Status.QUEUED, Job.Status.RUNNING]).first(),
                   "note": page.note(settings.PLAYGROUND_DATA_DIR)}
        return render(request, "demos/try_landing.html", context)

    view.__name__ = f"landing_{name}"
    return view


def urlpatterns() -> list:
    """One route per declared page: /try/<name>/<id>/, URL name "try-<name>"; and its landing
    path where it declares one (URL name "landing-<name>")."""
    routes = [path(f"try/{name}/<int:pk>/", try_view(name), name=f"try-{name}") for name in pages()]
    routes += [path(page.landing, landing_view(name), name=f"landing-{name}")
               for name, (page, _) in pages().items() if page.landing]
    return routes
