"""The race page: every job of a race on one live val_loss chart. An optimizer race plots it per
epoch; an engine race (the same job in this browser and on a worker) against the wall clock
since the race was submitted, and this tab trains the browser's job."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.utils import timezone

from playground.jobs.api_races import visible_groups
from playground.jobs.models import JobGroup


def _ms(moment) -> int:
    return round(moment.timestamp() * 1000)


def _clock_points(group: JobGroup, job) -> dict:
    """The stored epochs as (seconds since the race was submitted, val_loss), and the last seq
    they cover: the page draws these, then follows the socket after that seq."""
    stored = list(job.events.filter(type="epoch").values_list("seq", "data", "created_at"))
    points = [{"x": (created - group.created_at).total_seconds(), "y": data["logs"]["val_loss"],
               "epoch": data["epoch"], "samples_per_s": data.get("samples_per_s")}
              for _, data, created in stored if isinstance(data.get("logs", {}).get("val_loss"), (int, float))]
    return {"points": points, "after": stored[-1][0] if stored else 0}


@login_required
def race(request, pk: int):
    group = visible_groups(request.user).filter(pk=pk).first()
    if group is None:
        raise Http404("No such race.")
    jobs = list(group.jobs.order_by("id"))
    by_engine = group.kind == JobGroup.KIND_ENGINES
    config = {"race": group.pk, "kind": group.kind, "jobs": [
        {"id": job.pk, "optimizer": job.hyperparameters.get("optimizer", "?"), "engine": job.engine,
         "status": job.status, **(_clock_points(group, job) if by_engine else {})}
        for job in jobs]}
    if by_engine:
        config.update(started_ms=_ms(group.created_at), server_now_ms=_ms(timezone.now()))
    first = jobs[0] if jobs else None
    context = {"group": group, "jobs": jobs, "first": first, "config": config, "by_engine": by_engine}
    return render(request, "demos/race.html", context)
