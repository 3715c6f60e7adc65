"""What every /try/<x>/<id>/ view does: find the user's job (another user's is a 404), say why
it cannot be tried or build the page's config, render templates/demos/try_base.html's child."""
from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render

from playground.jobs import services


def try_view(template: str, module: str, unavailable_reason: Callable, page_config: Callable, **extra):
    """Returns the view of one try page; `module` is its ES module under static/."""

    @login_required
    def view(request, pk: int):
        job = get_object_or_404(services.visible_jobs(request.user), pk=pk)
        reason = unavailable_reason(job)
        config = {} if reason else page_config(job)
        context = {"job": job, "reason": reason, "config": config, "module": module, **extra}
        return render(request, template, context)

    return view
