"""The page django-axes answers a locked-out log-in with (AXES_LOCKOUT_CALLABLE): the site's log-in
page with what happened and when to try again, as a 429 with Retry-After. The admin's log-in is
answered with the same page: one message, and the form there leads back to /admin/."""
from __future__ import annotations

from datetime import timedelta

from axes.helpers import get_cool_off
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timeuntil


def lockout_message(cool_off: timedelta) -> str:
    now = timezone.now()
    until = now + cool_off
    return (f"Too many failed log-ins for this username or from your address: logging in is blocked "
            f"for {_duration(cool_off, now)}. Try again after {until:%H:%M:%S} UTC.")


def _duration(span: timedelta, now) -> str:
    seconds = int(span.total_seconds())
    return f"{seconds} seconds" if seconds < 60 else timeuntil(now + span, now)


def lockout_response(request, original_response=None, credentials=None):
    # Axes restarts the cool-off on every failure during a lockout, and this response answers
    # one, so the whole cool-off is what is left.
    cool_off = get_cool_off(request)
    admin = reverse("admin:index")
    next_url = request.POST.get("next") or (admin if request.path.startswith(admin) else "")
    context = {"lockout": lockout_message(cool_off), "next": next_url}
    response = render(request, "registration/login.html", context, status=429)
    response["Retry-After"] = str(int(cool_off.total_seconds()))
    return response
