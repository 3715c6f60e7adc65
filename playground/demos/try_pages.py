"""The /try/<page>/<id>/ pages, one route per page a recipe declares (`Recipe.pages`,
`trainer.serving.Page`): find the user's job (another user's is a 404), say why it cannot be
tried or build the page's config, render the page's template (a child of
templates/demos/try_base.html)."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render
from django.urls import path

from playground.jobs import serving, services
from trainer.recipes import pages


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


def urlpatterns() -> list:
    """One route per declared page: /try/<name>/<id>/, URL name "try-<name>"."""
    return [path(f"try/{name}/<int:pk>/", try_view(name), name=f"try-{name}") for name in pages()]
