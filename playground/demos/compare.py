"""/compare/?jobs=a,b,c: up to 8 of the user's jobs side by side. Any metric their epoch events
logged (or, per batch, their batch events) on one chart against the epoch or the seconds since
each job started; a settings table with the rows that differ marked; final and test metrics.
The page's data comes from the stored events, read once here (batch points thinned to at most
MAX_BATCH_POINTS per job); static/js/compare.js follows the unfinished jobs live from there."""
from __future__ import annotations

import math
from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import F, Q, Window
from django.db.models.functions import Mod, RowNumber
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from playground.demos.job_summary import human_duration, job_duration_s
from playground.jobs import services
from playground.jobs.models import Job, JobEvent
from playground.jobs.sweeps import value_label

MAX_JOBS = 8
MAX_BATCH_POINTS = 2000
SETTINGS = ("recipe", "dataset", "engine", "precision", "strategy")
# The usual metrics first, in this order; any other a recipe logs after them, alphabetically.
USUAL_METRICS = ("loss", "val_loss", "accuracy", "val_accuracy")
# A job's chart label names at most this many of the settings that differ.
LABEL_SETTINGS = 2


def requested_ids(query) -> list[str]:
    """The ids in ?jobs=1,2,3 (or ?jobs=1&jobs=2, or both), each once, in the order given."""
    parts = (part.strip() for value in query.getlist("jobs") for part in value.split(","))
    return list(dict.fromkeys(part for part in parts if part))


def chosen_jobs(user, ids: list[str]) -> list[Job]:
    """The user's jobs (staff: anyone's) with these ids, in that order. Raises Http404 for an id
    that is malformed, missing or another user's, alike."""
    # Postgres' bigint ends at 19 digits; "²" is a digit to str.isdigit but not to int().
    wanted = [int(part) if part.isascii() and part.isdigit() and len(part) < 19 else None for part in ids]
    found = services.visible_jobs(user).in_bulk([pk for pk in wanted if pk is not None])
    for part, pk in zip(ids, wanted):
        if pk not in found:
            raise Http404(f"No such job: {part}.")
    return [found[pk] for pk in wanted]


def metric_order(names) -> list[str]:
    return sorted(set(names), key=lambda name: (name not in USUAL_METRICS,
                                                USUAL_METRICS.index(name) if name in USUAL_METRICS else 0, name))


def _numbers(logs: Any) -> dict[str, float]:
    """The numeric logs to 6 significant digits: a chart shows no more, and the page of 8 jobs
    with 2,000 batch points each is smaller for it (1.41 → 1.23 MB measured)."""
    if not isinstance(logs, dict):
        return {}
    return {name: value if isinstance(value, int) else float(f"{value:.6g}") for name, value in logs.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)}


def _seconds(moment, start) -> float:
    return round((moment - start).total_seconds(), 2)


def job_series(job: Job) -> dict:
    """The job's epoch points ({x: epoch, t: seconds since it started, logs}) and batch points
    ({x: epochs done as a fraction, t, logs}), the batches thinned evenly to MAX_BATCH_POINTS
    (the last one kept), up to the seq the page then follows live from (`after`)."""
    start = job.started_at or job.created_at
    stored = JobEvent.objects.filter(job=job, seq__lte=job.last_seq)
    epochs = [{"x": data.get("epoch"), "t": _seconds(created, start), "logs": _numbers(data.get("logs"))}
              for data, created in stored.filter(type="epoch").values_list("data", "created_at")
              if isinstance(data.get("epoch"), int)]
    batches = stored.filter(type="batch")
    count = batches.count()
    every = max(1, math.ceil(count / MAX_BATCH_POINTS))
    # Thinned in the database: every `every`-th event by seq, and the last; only those are read.
    numbered = batches.annotate(row=Window(RowNumber(), order_by="seq")).annotate(skip=Mod(F("row") - 1, every))
    kept = numbered.filter(Q(skip=0) | Q(row=count)).order_by("seq").values_list("data", "created_at")
    thinned = []
    for data, created in kept:
        epoch, step, steps = data.get("epoch"), data.get("step"), data.get("steps")
        if not all(isinstance(n, int) for n in (epoch, step)) or not isinstance(steps, int) or steps <= 0:
            continue
        thinned.append({"x": round(epoch - 1 + step / steps, 4), "epoch": epoch, "step": step,
                        "t": _seconds(created, start), "logs": _numbers(data.get("logs"))})
    if len(thinned) > MAX_BATCH_POINTS:  # the last one came on top of the evenly spaced ones
        thinned = [*thinned[:MAX_BATCH_POINTS - 1], thinned[-1]]
    return {"epochs": epochs, "batches": thinned, "batch_count": count, "after": job.last_seq}


def _setting(job: Job, name: str) -> str:
    return str(getattr(job, name))


def settings_rows(jobs: list[Job]) -> list[dict]:
    """[{name, values (one per job, "–" where a job's recipe lacks it), differs}], the spec's
    own settings first, then every hyperparameter any of the jobs has."""
    rows = [{"name": name, "values": [_setting(job, name) for job in jobs]} for name in SETTINGS]
    names = list(dict.fromkeys(name for job in jobs for name in job.hyperparameters))
    rows += [{"name": name, "hyperparameter": True,
              "values": [value_label(job.hyperparameters[name]) if name in job.hyperparameters else "–" for job in jobs]}
             for name in names]
    for row in rows:
        row["differs"] = len(set(row["values"])) > 1
    return rows


def _number(value: Any) -> str:
    """Integers as integers, other numbers to 4 decimals (1 from 1,000 up)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "–" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.1f}" if abs(value) >= 1000 else f"{value:.4f}"


def result_rows(jobs: list[Job]) -> list[dict]:
    """Status, epochs, best epoch, duration, each metric's last epoch value and the test metrics,
    one value per job."""
    final = metric_order(name for job in jobs for name in job.metrics)
    tested = metric_order(name for job in jobs for name in (job.test_metrics or {}))
    rows = [
        {"name": "status", "values": [job.status for job in jobs]},
        {"name": "epochs", "values": [str(job.completed_epochs) for job in jobs]},
        {"name": "best epoch", "values": [_number(job.best_epoch) for job in jobs]},
        {"name": "duration", "values": [human_duration(job_duration_s(job)) or "–" for job in jobs]},
    ]
    rows += [{"name": f"final {name}", "values": [_number((job.metrics.get(name) or [None])[-1]) for job in jobs]}
             for name in final]
    rows += [{"name": f"test {name}", "values": [_number((job.test_metrics or {}).get(name)) for job in jobs]}
             for name in tested]
    return rows


def job_label(job: Job, rows: list[dict], column: int) -> str:
    """"#12" and the settings that tell the job from the others, e.g. "#12 learning_rate = 0.01"."""
    differing = [f"{row['name']} = {row['values'][column]}" for row in rows if row["differs"]][:LABEL_SETTINGS]
    return f"#{job.pk} {', '.join(differing)}" if differing else f"#{job.pk}"


def _ms(moment) -> int | None:
    return None if moment is None else round(moment.timestamp() * 1000)


def comparison(jobs: list[Job]) -> dict:
    """The page's context: the settings and results tables and the chart's config."""
    settings = settings_rows(jobs)
    series = [job_series(job) for job in jobs]
    config = {
        "jobs": [{"id": job.pk, "label": job_label(job, settings, column), "url": reverse("job-detail", args=[job.pk]),
                  "status": job.status, "started_ms": _ms(job.started_at), **points}
                 for column, (job, points) in enumerate(zip(jobs, series))],
        "metrics": metric_order(name for points in series for point in points["epochs"] for name in point["logs"]),
        "batch_metrics": metric_order(name for points in series for point in points["batches"] for name in point["logs"]),
        "max_batch_points": MAX_BATCH_POINTS,
        "server_now_ms": _ms(timezone.now()),
    }
    return {"jobs": jobs, "settings": settings, "results": result_rows(jobs), "config": config,
            "differing": sum(row["differs"] for row in settings)}


@login_required
def compare(request):
    ids = requested_ids(request.GET)
    if len(ids) > MAX_JOBS:
        context = {"error": f"Compare at most {MAX_JOBS} jobs at a time; {len(ids)} were chosen. "
                            f"Untick some and press Compare again.", "max_jobs": MAX_JOBS}
        return render(request, "demos/compare.html", context, status=400)
    jobs = chosen_jobs(request.user, ids)
    if not jobs:
        return render(request, "demos/compare.html", {"max_jobs": MAX_JOBS})
    return render(request, "demos/compare.html", {**comparison(jobs), "max_jobs": MAX_JOBS})
