"""The optimizer race page: every job of a race on one live val_loss chart."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render

from playground.jobs.api_races import visible_groups


@login_required
def race(request, pk: int):
    group = visible_groups(request.user).filter(pk=pk).first()
    if group is None:
        raise Http404("No such race.")
    jobs = list(group.jobs.order_by("id"))
    config = {"race": group.pk, "jobs": [
        {"id": job.pk, "optimizer": job.hyperparameters.get("optimizer", "?"), "status": job.status}
        for job in jobs]}
    first = jobs[0] if jobs else None
    return render(request, "demos/race.html", {"group": group, "jobs": jobs, "first": first, "config": config})
