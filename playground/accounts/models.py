"""API tokens and share links. Both are bearer secrets: only a SHA-256 digest of an API token is
stored (a database leak reveals no usable key; the key is shown once, at creation), while a share
link's token is part of a URL the owner copies again later, so it is stored as is.

WebSockets opened with either join its `socket_group`; deleting one (tokens page, share API,
admin, or a cascade from its user or job) tells them to close once the deletion is committed."""
from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models, transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver


def digest(key: str) -> str:
    # Keys are 160 random bits, so a plain (fast) hash is enough: there is nothing to brute-force.
    return hashlib.sha256(key.encode()).hexdigest()


def new_share_token() -> str:
    return secrets.token_urlsafe(32)


class ApiToken(models.Model):
    """One named key for `Authorization: Token <key>`; a user may hold several and revoke each."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=8, help_text="The key's first characters, to tell tokens apart.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        constraints = [models.UniqueConstraint(fields=["user", "name"], name="api_token_unique_name")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def socket_group(self) -> str:
        return f"auth.token.{self.pk}"

    @classmethod
    def issue(cls, user, name: str) -> tuple[ApiToken, str]:
        """Creates a token and returns it with its plain key, which is not stored anywhere."""
        key = secrets.token_hex(20)
        token = cls.objects.create(user=user, name=name, prefix=key[:8], key_hash=digest(key))
        return token, key


class ShareLink(models.Model):
    """Read-only access to one job (page, events, artifacts) for whoever has the URL."""

    job = models.OneToOneField("jobs.Job", on_delete=models.CASCADE, related_name="share_link")
    token = models.CharField(max_length=64, unique=True, default=new_share_token)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"share link of job {self.job_id}"

    def get_absolute_url(self) -> str:
        return f"/s/{self.token}/"

    @property
    def socket_group(self) -> str:
        return f"auth.share.{self.pk}"


@receiver(post_delete, sender=ApiToken, dispatch_uid="close_sockets_of_revoked_api_token")
@receiver(post_delete, sender=ShareLink, dispatch_uid="close_sockets_of_revoked_share_link")
def close_sockets_of_revoked_credential(sender, instance, using, **kwargs) -> None:
    # A signal, not a call in each view: the admin and cascades delete credentials too. Two open
    # sockets kept streaming (72 messages each) after their token was revoked before this.
    from playground.jobs.events import send_to_group

    group = instance.socket_group  # now: Django clears instance.pk after the delete
    transaction.on_commit(lambda: send_to_group(group, {"type": "auth.revoked"}), using=using)
