"""Sign-up and the API tokens page. Log in and log out are Django's own views
(django.contrib.auth.urls, templates/registration/)."""
from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import UserCreationForm
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from playground.accounts.models import ApiToken


def signup(request):
    if request.user.is_authenticated:
        return redirect("home")
    form = UserCreationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("home")
    return render(request, "registration/signup.html", {"form": form}, status=400 if form.errors else 200)


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What it is for, e.g. “laptop notebook” or “CI”.")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if self.user.api_tokens.filter(name=name).exists():
            raise forms.ValidationError(f"You already have a token named “{name}”; pick another name or revoke it.")
        return name


@login_required
def tokens(request):
    """List, create (the key is shown on this response only) and revoke API tokens."""
    form = TokenForm(request.POST or None, user=request.user)
    new_key = None
    if request.method == "POST" and form.is_valid():
        token, new_key = ApiToken.issue(request.user, form.cleaned_data["name"])
        form = TokenForm(user=request.user)
    context = {"form": form, "tokens": request.user.api_tokens.all(), "new_key": new_key}
    response = render(request, "accounts/tokens.html", context, status=400 if form.errors else 200)
    response["Cache-Control"] = "no-store"  # the page may show a key once
    return response


@login_required
@require_POST
def revoke_token(request, pk: int):
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)
    token.delete()
    # Deleting it also closes the WebSockets open with it (playground/accounts/models.py).
    messages.info(request, f"Revoked “{token.name}”: requests with it now get 401, and its open WebSockets are closed.")
    return redirect("api-tokens")
