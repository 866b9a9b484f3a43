"""What a share goes through, as functions the views (and the sweep) call.

The email is sent only once the share is committed (``transaction.on_commit``), so a client
never gets a link the database does not know; its outcome is recorded on the share, and a
failed one can be sent again with a new token (the old one was never seen by anyone).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from pipeline.web.shares.models import Event, Share, new_token, token_hash

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShareRequest:
    slug: str
    locale: str
    title: str
    language: str
    client_email: str
    days: int
    downloads: int


def create_share(sender: AbstractBaseUser, wanted: ShareRequest, link_for: LinkBuilder) -> Share:
    """Record the share, then (after commit) email its link; returns the share as stored
    after the attempt to send."""
    token = new_token()
    now = timezone.now()
    with transaction.atomic():
        share = Share.objects.create(
            sender=sender,
            slug=wanted.slug,
            locale=wanted.locale,
            title=wanted.title,
            language=wanted.language,
            client_email=wanted.client_email,
            token_hash=token_hash(token),
            created_at=now,
            expires_at=now + timedelta(days=wanted.days),
            downloads_allowed=wanted.downloads,
        )
        Event.objects.create(share=share, kind=Event.CREATED, at=now)
        transaction.on_commit(lambda: send_link(share.pk, link_for(token)))
    share.refresh_from_db()
    return share


def resend_share(share: Share, link_for: LinkBuilder) -> Share:
    """Send a share's link again, under a new token (only the hash of the old one is
    known, and it stops working)."""
    token = new_token()
    with transaction.atomic():
        Share.objects.filter(pk=share.pk).update(token_hash=token_hash(token), email_error="")
        transaction.on_commit(lambda: send_link(share.pk, link_for(token)))
    share.refresh_from_db()
    return share


class LinkBuilder:
    """The absolute URL of a token's page: under ``[site] base_url`` when it is set, else
    under the address the therapist's request came to."""

    def __init__(self, base: str):
        self.base = base.rstrip("/") + "/"

    def __call__(self, token: str) -> str:
        return f"{self.base}s/{token}/"


def send_link(share_id: int, link: str) -> None:
    share = Share.objects.get(pk=share_id)
    message = EmailMessage(
        subject=f"Your audio exercise: {share.title}",
        body=_email_body(share, link),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[share.client_email],
    )
    try:
        message.send(fail_silently=False)
    except Exception as error:  # any failure of the mail server is the therapist's to see
        # The server's reply may quote the address; neither the log nor the share keeps it.
        reason = f"{type(error).__name__}: {error}".replace(share.client_email, "the address")
        log.warning("share %s: the email could not be sent (%s)", share_id, reason)
        Share.objects.filter(pk=share_id).update(email_error=reason)
        Event.objects.create(share=share, kind=Event.EMAIL_FAILED)
        return
    now = timezone.now()
    Share.objects.filter(pk=share_id).update(emailed_at=now, email_error="")
    Event.objects.create(share=share, kind=Event.EMAILED, at=now)
    log.info("share %s: emailed", share_id)


def _email_body(share: Share, link: str) -> str:
    expires = f"{share.expires_at.day} {share.expires_at:%B %Y}"
    downloads = share.downloads_allowed
    return (
        "Hello,\n\n"
        f"Your therapist has sent you an audio exercise: {share.title} ({share.language}).\n\n"
        "Open this link to download it as an MP3 file onto your device:\n\n"
        f"{link}\n\n"
        f"The link works until {expires}, for {downloads} download{'s' * (downloads != 1)}.\n"
        "If you did not expect this email, you can ignore it.\n"
    )


def find_share(token: str) -> Share | None:
    """The share a token opens, by the hash of the token; the same work whether or not it
    exists."""
    return Share.objects.filter(token_hash=token_hash(token)).first()


def mark_opened(share: Share) -> None:
    now = timezone.now()
    if Share.objects.filter(pk=share.pk, opened_at__isnull=True).update(opened_at=now):
        Event.objects.create(share=share, kind=Event.OPENED, at=now)


def claim_download(share: Share) -> bool:
    """Count one download if the link still allows it; False when it does not (expired,
    revoked or used up, possibly by a request that got there first)."""
    now = timezone.now()
    with transaction.atomic():
        counted = Share.objects.filter(
            pk=share.pk,
            revoked_at__isnull=True,
            expires_at__gt=now,
            downloads__lt=F("downloads_allowed"),
        ).update(downloads=F("downloads") + 1)
        if not counted:
            return False
        Share.objects.filter(
            pk=share.pk, used_up_at__isnull=True, downloads__gte=F("downloads_allowed")
        ).update(used_up_at=now)
        Event.objects.create(share=share, kind=Event.DOWNLOADED, at=now)
    return True


def revoke_share(share: Share) -> None:
    now = timezone.now()
    with transaction.atomic():
        if Share.objects.filter(pk=share.pk, revoked_at__isnull=True).update(revoked_at=now):
            Event.objects.create(share=share, kind=Event.REVOKED, at=now)


def sweep_addresses(retention_days: int | None = None) -> int:
    """Erase the client's address from every share that ended more than the retention
    period ago; returns how many were erased."""
    days = settings.ADDRESS_RETENTION_DAYS if retention_days is None else retention_days
    now = timezone.now()
    cutoff = now - timedelta(days=days)
    ended = Q(expires_at__lte=cutoff) | Q(revoked_at__lte=cutoff) | Q(used_up_at__lte=cutoff)
    with transaction.atomic():
        due = list(
            Share.objects.filter(ended, address_erased_at__isnull=True).values_list("pk", flat=True)
        )
        Share.objects.filter(pk__in=due).update(client_email="", address_erased_at=now)
        Event.objects.bulk_create(
            [Event(share_id=pk, kind=Event.ADDRESS_ERASED, at=now) for pk in due]
        )
    if due:
        log.info("privacy sweep: erased %d client address%s", len(due), "es" * (len(due) != 1))
    return len(due)
