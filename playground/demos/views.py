from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render

from playground.jobs import services
from playground.jobs.serializers import JobSerializer
from trainer.recipes import recipe_catalog


def home(request):
    jobs = services.visible_jobs(request.user)[:50] if request.user.is_authenticated else []
    return render(request, "demos/home.html", {"jobs": jobs, "recipes": recipe_catalog()})


@login_required
def job_detail(request, pk: int):
    job = get_object_or_404(services.visible_jobs(request.user), pk=pk)
    return render(request, "demos/job_detail.html", {"job": job, "job_json": JobSerializer(job, context={"request": request}).data})
