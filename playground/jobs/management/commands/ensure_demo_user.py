from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from playground.accounts.models import ApiToken

# The name people see on /accounts/tokens/; keys made before it had a name read as code.
TOKEN_NAME = "printed by make run"
OLD_TOKEN_NAMES = ("ensure_demo_user",)


class Command(BaseCommand):
    help = "Create (or reset) a login for the local playground and print a fresh API token for it."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="demo")
        parser.add_argument("--password", default="demo")
        parser.add_argument("--staff", action="store_true", help="Make the user a superuser (admin, sees all jobs).")

    def handle(self, *args, username, password, staff, **options):
        user, created = get_user_model().objects.get_or_create(username=username)
        user.set_password(password)
        if staff:
            user.is_staff = user.is_superuser = True
        user.save()
        # Only a digest of each key is stored, so "print the token" means issuing a fresh one;
        # the previous key this command printed for the user stops working.
        ApiToken.objects.filter(user=user, name__in=(TOKEN_NAME, *OLD_TOKEN_NAMES)).delete()
        _, key = ApiToken.issue(user, TOKEN_NAME)
        verb = "created" if created else "updated"
        self.stderr.write(f"user {username!r} {verb} (password {password!r}); API token:")
        self.stdout.write(key)
