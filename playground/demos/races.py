"""The race pages: /races/ lists the user's races and sweeps; /races/<id>/ puts every job of one
on a live val_loss chart. An optimizer race or a sweep plots it per epoch, each line named by its
optimizer or by its value of the swept hyperparameter; an engine race (the same job in this
browser and on a worker) against the wall clock since the race was submitted, and this tab
trains the browser's job."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.utils import timezone

from playground.jobs.api_races import visible_groups
from playground.jobs.models import Job, JobGroup
from playground.jobs.sweeps import sweep_label, value_label

# The list page shows this many, newest first.
LISTED_RACES = 100


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
    config = {"race": group.pk, "kind": group.kind, "vary": group.vary or None, "jobs": [
        {"id": job.pk, "label": racer_label(group, job), "optimizer": job.hyperparameters.get("optimizer", "?"),
         "engine": job.engine, "status": job.status, **(_clock_points(group, job) if by_engine else {})}
        for job in jobs]}
    if by_engine:
        config.update(started_ms=_ms(group.created_at), server_now_ms=_ms(timezone.now()))
    first = jobs[0] if jobs else None
    context = {"group": group, "jobs": jobs, "first": first, "config": config, "by_engine": by_engine,
               "racers": [(job, racer_label(group, job)) for job in jobs], "title": race_title(group),
               "compare": ",".join(str(job.pk) for job in jobs)}
    return render(request, "demos/race.html", context)


def racer_label(group: JobGroup, job: Job) -> str:
    """What tells a race's job from the others: its engine, its value of the swept
    hyperparameter ("learning_rate = 0.01") or its optimizer."""
    if group.kind == JobGroup.KIND_ENGINES:
        return job.engine
    if group.kind == JobGroup.KIND_SWEEP:
        return sweep_label(group.vary, job.hyperparameters.get(group.vary))
    return str(job.hyperparameters.get("optimizer", "?"))


def race_title(group: JobGroup) -> str:
    if group.kind == JobGroup.KIND_ENGINES:
        return "Browser against server"
    if group.kind == JobGroup.KIND_SWEEP:
        return f"Sweep over {group.vary}"
    return "Optimizer race"


def _varies(group: JobGroup, jobs: list[Job]) -> str:
    """What differs between the group's jobs, e.g. "learning_rate: 0.001, 0.01, 0.1"."""
    if group.kind == JobGroup.KIND_ENGINES:
        return "engine: " + ", ".join(job.engine for job in jobs)
    name = group.vary if group.kind == JobGroup.KIND_SWEEP else "optimizer"
    return f"{name}: " + ", ".join(value_label(job.hyperparameters.get(name)) for job in jobs)


def _statuses(jobs: list[Job]) -> list[tuple[str, int]]:
    """(status, how many jobs have it), in the order of Job.Status."""
    counts = {status: sum(job.status == status for job in jobs) for status in Job.Status.values}
    return [(status, count) for status, count in counts.items() if count]


@login_required
def race_list(request):
    groups = visible_groups(request.user).prefetch_related("jobs")[:LISTED_RACES]
    rows = []
    for group in groups:
        jobs = sorted(group.jobs.all(), key=lambda job: job.pk)
        rows.append({"group": group, "title": race_title(group), "jobs": jobs, "first": jobs[0] if jobs else None,
                     "varies": _varies(group, jobs), "statuses": _statuses(jobs),
                     "compare": ",".join(str(job.pk) for job in jobs)})
    return render(request, "demos/races.html", {"rows": rows, "limit": LISTED_RACES})
