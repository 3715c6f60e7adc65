"""`python manage.py create_token <username> [--name NAME]`: a named API token, as the tokens page
makes them. DRF's `drf_create_token` stores its keys in plain text; this stores a digest only."""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from playground.accounts.models import ApiToken


class Command(BaseCommand):
    help = "Issue a named API token for a user and print its key; the key is shown only this once."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", help="What the token is for, unique per user "
                                           "(default: “create_token” and the current UTC time).")

    def handle(self, *args, username, name, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        if not user.is_active:
            raise CommandError(f"User {username!r} is inactive; a token of theirs would be refused.")
        name = (name or f"create_token {timezone.now():%Y-%m-%d %H:%M:%S}").strip()
        longest = ApiToken._meta.get_field("name").max_length
        if not name or len(name) > longest:
            raise CommandError(f"--name must be 1 to {longest} characters.")
        if user.api_tokens.filter(name=name).exists():
            raise CommandError(f"{username!r} already has a token named {name!r}; pick another --name "
                               "or revoke that one on /accounts/tokens/.")
        _, key = ApiToken.issue(user, name)
        # The key alone on stdout, so that `KEY=$(manage.py create_token alice)` works.
        self.stderr.write(f"API token {name!r} issued for {username!r}; only a digest is stored, so "
                          "copy the key now:")
        self.stdout.write(key)
