"""A share (one track sent to one client) and the audit events of its life.

The link's token is never stored: only its SHA-256, which is what a request's token is looked
up by. The client's address is kept while the link can be used and for a retention period
after it ends; then the privacy sweep erases it, and only the events (which never hold the
address) remain.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

TOKEN_BYTES = 32  # 256 bits from the operating system's CSPRNG
DEFAULT_DAYS = 7
MAX_DAYS = 30
DEFAULT_DOWNLOADS = 3
MAX_DOWNLOADS = 10


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Share(models.Model):
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="shares"
    )
    slug = models.CharField(max_length=200)
    locale = models.CharField(max_length=35)
    title = models.CharField(max_length=500)
    language = models.CharField(max_length=100)
    client_email = models.EmailField(blank=True)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    downloads_allowed = models.PositiveSmallIntegerField(default=DEFAULT_DOWNLOADS)
    downloads = models.PositiveSmallIntegerField(default=0)
    opened_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    email_error = models.TextField(blank=True)
    used_up_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    address_erased_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"share {self.pk} of {self.slug} {self.locale}"

    @property
    def expired(self) -> bool:
        return timezone.now() >= self.expires_at

    @property
    def usable(self) -> bool:
        return (
            self.revoked_at is None and not self.expired and self.downloads < self.downloads_allowed
        )

    @property
    def ended_at(self) -> datetime | None:
        """When the link stopped working (the earliest of expiry, revocation and the last
        allowed download), or None while it still works."""
        ends = [t for t in (self.revoked_at, self.used_up_at) if t is not None]
        if self.expired:
            ends.append(self.expires_at)
        return min(ends) if ends else None

    @property
    def status(self) -> str:
        """What the therapist's list shows: revoked, expired, downloaded n of m, opened or
        sent (or "not sent" when the email failed)."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expired:
            return "expired"
        if self.downloads:
            return f"downloaded {self.downloads} of {self.downloads_allowed}"
        if self.opened_at is not None:
            return "opened"
        if self.emailed_at is not None:
            return "sent"
        return "not sent" if self.email_error else "sending"

    @classmethod
    def expiry_from(cls, start: datetime, days: int) -> datetime:
        return start + timedelta(days=days)


class Event(models.Model):
    """One thing that happened to a share. Holds no email address, so it outlives them."""

    CREATED = "created"
    EMAILED = "emailed"
    EMAIL_FAILED = "email failed"
    OPENED = "opened"
    DOWNLOADED = "downloaded"
    REVOKED = "revoked"
    ADDRESS_ERASED = "address erased"
    KINDS = [
        (k, k)
        for k in (CREATED, EMAILED, EMAIL_FAILED, OPENED, DOWNLOADED, REVOKED, ADDRESS_ERASED)
    ]

    share = models.ForeignKey(Share, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=KINDS)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.at.isoformat()}"
