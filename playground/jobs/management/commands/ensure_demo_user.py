from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = "Create (or reset) a login for the local playground and print its API token."

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
        token, _ = Token.objects.get_or_create(user=user)
        verb = "created" if created else "updated"
        self.stderr.write(f"user {username!r} {verb} (password {password!r}); API token:")
        self.stdout.write(token.key)
