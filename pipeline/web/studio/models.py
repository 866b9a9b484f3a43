"""Who records under which voice role, and the builds of their tracks.

A therapist's takes live under their own voice role (``therapist-<account id>``), so the
takes of two therapists never mix: every path the studio reads or writes is derived from
the signed-in account, never from the request.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Speaker(models.Model):
    """A therapist's own voice role."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="speaker"
    )
    role = models.CharField(max_length=100, unique=True)

    def __str__(self) -> str:
        return self.role


class Build(models.Model):
    """One run of "Build my track": queued, running, then done or failed."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    STATES = [(s, s) for s in (QUEUED, RUNNING, DONE, FAILED)]

    speaker = models.ForeignKey(Speaker, on_delete=models.CASCADE, related_name="builds")
    slug = models.CharField(max_length=200)
    locale = models.CharField(max_length=35)
    fill_role = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=10, choices=STATES, default=QUEUED)
    done = models.PositiveIntegerField(default=0)  # sentences rendered so far
    total = models.PositiveIntegerField(default=0)
    message = models.TextField(blank=True)
    filled = models.JSONField(default=list)  # segments spoken by the fill-in voice
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"build {self.pk} of {self.slug} {self.locale} ({self.state})"


class OwnShare(models.Model):
    """A share of a track built in the studio: the client downloads the copy made when it
    was sent (a later build does not change what they get)."""

    share = models.OneToOneField("shares.Share", on_delete=models.CASCADE, related_name="own_track")
    path = models.CharField(max_length=500)  # relative to the project root

    def __str__(self) -> str:
        return self.path

    def file(self):
        from pathlib import Path

        path = Path(settings.ROOT) / self.path
        return path if path.is_file() else None
