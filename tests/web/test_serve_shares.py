"""Sending a track to a client, through Django's test client: the form, the email (sent
after the share is committed), the client's page and download, the "Sent" list, revoking,
re-sending after a failure, and the privacy sweep."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from pathlib import Path

import pytest

pytest.importorskip("django", reason="voicetrack serve's tests need the web extra")

from django.core import mail  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from pipeline.web.shares.models import Event, Share  # noqa: E402
from pipeline.web.shares.services import sweep_addresses  # noqa: E402
from tests.web.serving import CLIENT_EMAIL, LINK, PASSWORD, SLUG, TITLE, free_port, send  # noqa: E402

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _site(published: Path) -> None:
    cache.clear()  # the rate limits' counts


@pytest.fixture
def therapist(django_user_model):
    return django_user_model.objects.create_user(
        "therapist@example.org", "therapist@example.org", PASSWORD
    )


@pytest.fixture
def signed_in(client: Client, therapist) -> Client:
    client.force_login(therapist)
    return client


def test_the_form_asks_for_address_language_consent_expiry_and_downloads(signed_in) -> None:
    page = signed_in.get(f"/{SLUG}/send/").content.decode()
    for label in (
        "Client&#x27;s email",
        "Language",
        "I have my client&#x27;s consent to email them this link",
        "Link expires after (days)",
        "Downloads allowed",
    ):
        assert re.search(rf'<label for="id_\w+">{re.escape(label)}</label>', page), label
    assert '<option value="en-GB" selected>English (GB)</option>' in page
    assert '<option value="en-US">English (US)</option>' in page
    assert re.search(r'name="days" value="7" min="1" max="30"', page)
    assert re.search(r'name="downloads" value="3" min="1"', page)
    assert re.search(r'<input type="checkbox" name="consent"[^>]* required', page)
    assert '<button type="submit">Send</button>' in page


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"consent": ""}, "Please confirm that your client agreed to be emailed."),
        ({"days": "31"}, "less than or equal to 30"),
        ({"days": "0"}, "greater than or equal to 1"),
        ({"downloads": "0"}, "greater than or equal to 1"),
        ({"client_email": "not an address"}, "Enter a valid email address."),
        ({"locale": "fr-FR"}, "Select a valid choice."),
    ],
)
def test_an_invalid_form_records_and_sends_nothing(
    signed_in, django_capture_on_commit_callbacks, fields, error
) -> None:
    response, token = send(signed_in, django_capture_on_commit_callbacks, **fields)
    assert response.status_code == 200
    assert error in response.content.decode()
    assert token is None and not Share.objects.exists()


def test_sending_records_the_share_emails_the_link_and_confirms(
    signed_in, therapist, django_capture_on_commit_callbacks
) -> None:
    response, token = send(signed_in, django_capture_on_commit_callbacks, days="10")
    share = Share.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/sent/{share.pk}/"
    confirmation = signed_in.get(response["Location"]).content.decode()
    assert f"was sent to {CLIENT_EMAIL}" in confirmation
    assert "A Calm &lt;script&gt;" in confirmation and "English (GB)" in confirmation

    message = mail.outbox[-1]
    assert message.to == [CLIENT_EMAIL]
    assert TITLE in message.subject and TITLE in message.body
    assert therapist.email not in message.body + message.subject  # nothing else personal
    assert token is not None
    assert (share.slug, share.locale, share.downloads_allowed) == (SLUG, "en-GB", 3)
    assert timedelta(days=9, hours=23) < share.expires_at - share.created_at <= timedelta(days=10)
    assert share.status == "sent"
    assert [e.kind for e in share.events.all()] == [Event.CREATED, Event.EMAILED]


def test_the_token_is_long_random_and_only_its_hash_is_stored(
    signed_in, django_capture_on_commit_callbacks
) -> None:
    tokens = [send(signed_in, django_capture_on_commit_callbacks)[1] for _ in range(3)]
    assert len(set(tokens)) == 3
    for token in tokens:
        assert token is not None and len(token) >= 43  # 32 bytes of base64: 256 bits
        assert Share.objects.filter(token_hash=hashlib.sha256(token.encode()).hexdigest())
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM shares_share")
        stored = repr(cursor.fetchall())
        cursor.execute("SELECT * FROM shares_event")
        stored += repr(cursor.fetchall())
    assert not any(token in stored for token in tokens if token)


def test_the_email_waits_for_the_share_to_be_committed(
    signed_in, django_capture_on_commit_callbacks
) -> None:
    data = {"client_email": CLIENT_EMAIL, "locale": "en-US", "consent": "on"}
    data |= {"days": "7", "downloads": "3"}
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        signed_in.post(f"/{SLUG}/send/", data)
    assert Share.objects.count() == 1 and len(mail.outbox) == 0  # not before the commit
    assert len(callbacks) == 1
    callbacks[0]()
    assert len(mail.outbox) == 1 and Share.objects.get().emailed_at is not None


def test_a_failed_email_is_shown_and_can_be_sent_again(
    signed_in, settings, django_capture_on_commit_callbacks
) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nothing listens
    settings.EMAIL_TIMEOUT = 5
    response, token = send(signed_in, django_capture_on_commit_callbacks)
    share = Share.objects.get()
    page = signed_in.get(response["Location"]).content.decode()
    assert (
        token is None and share.emailed_at is None and "ConnectionRefusedError" in share.email_error
    )
    assert f"The email to {CLIENT_EMAIL} could not be sent" in page
    assert '<button type="submit">Send again</button>' in page
    assert share.status == "not sent"
    assert "not sent" in signed_in.get("/sent/").content.decode()

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with django_capture_on_commit_callbacks(execute=True):
        signed_in.post(f"/sent/{share.pk}/resend/")
    found = LINK.search(mail.outbox[-1].body)
    assert found is not None
    share.refresh_from_db()
    assert share.status == "sent" and share.email_error == ""
    assert Client().get(f"/s/{found.group(1)}/").status_code == 200
    kinds = [e.kind for e in share.events.all()]
    assert kinds == [Event.CREATED, Event.EMAIL_FAILED, Event.EMAILED, Event.OPENED]


def test_a_signed_in_therapist_on_a_share_page_is_offered_no_sign_out_that_would_fail(
    signed_in, django_capture_on_commit_callbacks
) -> None:
    # A share's page sends no referrer, so the browser would post a sign-out from there with
    # an unknown origin, and the CSRF check must refuse it: the page links to Sent instead.
    _, token = send(signed_in, django_capture_on_commit_callbacks)
    html = signed_in.get(f"/s/{token}/").content.decode()
    assert '<a href="/sent/">Sent</a>' in html
    assert "Sign out" not in html
    assert "Sign out" in signed_in.get("/sent/").content.decode()


def test_the_client_page_names_the_exercise_and_language_and_needs_no_script(
    signed_in, django_capture_on_commit_callbacks
) -> None:
    _, token = send(signed_in, django_capture_on_commit_callbacks, locale="en-US")
    page = Client().get(f"/s/{token}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "A Calm &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Place" in html
    assert "English (US)" in html
    assert '<button type="submit">Download</button>' in html
    assert "<script" not in html
    assert '<meta name="referrer" content="no-referrer">' in html
    assert "same-origin" not in html  # the token's page never sends a Referer
    assert Share.objects.get().status == "opened"


def test_download_is_an_attachment_with_the_tracks_bytes_and_is_counted(
    signed_in, published: Path, django_capture_on_commit_callbacks
) -> None:
    _, token = send(signed_in, django_capture_on_commit_callbacks, downloads="2")
    client = Client()
    track = (published / "out" / "site" / SLUG / f"{SLUG}.en-GB.mp3").read_bytes()
    for number in (1, 2):
        response = client.post(f"/s/{token}/download/")
        assert response.status_code == 200
        assert response["Content-Disposition"] == f'attachment; filename="{SLUG}.en-GB.mp3"'
        assert response["Content-Type"] == "audio/mpeg"
        assert b"".join(response.streaming_content) == track
        assert Share.objects.get().status == f"downloaded {number} of 2"
    assert client.post(f"/s/{token}/download/").status_code == 410  # used up
    assert client.get(f"/s/{token}/").status_code == 410
    share = Share.objects.get()
    assert share.downloads == 2 and share.used_up_at is not None


def test_expired_and_revoked_links_are_gone(signed_in, django_capture_on_commit_callbacks) -> None:
    _, expired = send(signed_in, django_capture_on_commit_callbacks)
    _, revoked = send(signed_in, django_capture_on_commit_callbacks)
    first, second = Share.objects.order_by("pk")
    Share.objects.filter(pk=first.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    signed_in.post(f"/sent/{second.pk}/revoke/")
    for token in (expired, revoked):
        page = Client().get(f"/s/{token}/")
        assert page.status_code == 410
        assert "Please ask your\ntherapist to send you a new one." in page.content.decode()
        assert Client().post(f"/s/{token}/download/").status_code == 410
    statuses = signed_in.get("/sent/").content.decode()
    assert "<td>expired</td>" in statuses and "<td>revoked</td>" in statuses


def test_an_unknown_token_is_not_found_after_the_same_lookup(
    signed_in, django_capture_on_commit_callbacks, django_assert_num_queries
) -> None:
    _, token = send(signed_in, django_capture_on_commit_callbacks)
    Share.objects.update(revoked_at=timezone.now())
    client = Client()
    with django_assert_num_queries(1) as known:
        assert client.get(f"/s/{token}/").status_code == 410
    with django_assert_num_queries(1) as unknown:
        assert client.get("/s/" + "A" * 43 + "/").status_code == 404
    shape = re.compile(r"'[0-9a-f]{64}'")
    assert shape.sub("?", known.captured_queries[0]["sql"]) == shape.sub(
        "?", unknown.captured_queries[0]["sql"]
    )


def test_guessing_tokens_is_rate_limited_per_address(
    signed_in, settings, django_capture_on_commit_callbacks
) -> None:
    settings.SHARE_GUESS_RATE = "5/h"
    _, token = send(signed_in, django_capture_on_commit_callbacks)
    guesser = Client(REMOTE_ADDR="203.0.113.9")
    statuses = [guesser.get(f"/s/guess{n:040d}/").status_code for n in range(8)]
    assert statuses == [404] * 5 + [429] * 3
    assert guesser.get(f"/s/{token}/").status_code == 429  # even a real link, for now
    assert guesser.post(f"/s/{token}/download/").status_code == 429
    assert Client(REMOTE_ADDR="198.51.100.7").get(f"/s/{token}/").status_code == 200


def test_the_sent_list_shows_each_status_and_revokes(
    signed_in, django_capture_on_commit_callbacks
) -> None:
    tokens = [send(signed_in, django_capture_on_commit_callbacks)[1] for _ in range(3)]
    Client().get(f"/s/{tokens[1]}/")
    Client().post(f"/s/{tokens[2]}/download/")
    page = signed_in.get("/sent/").content.decode()
    for status in ("sent", "opened", "downloaded 1 of 3"):
        assert f"<td>{status}</td>" in page
    assert page.count(">Revoke</button>") == 3
    assert page.count(CLIENT_EMAIL) == 3
    share = Share.objects.order_by("pk").first()
    assert share is not None
    response = signed_in.post(f"/sent/{share.pk}/revoke/")
    assert response.status_code == 302 and response["Location"] == "/sent/"
    assert signed_in.get("/sent/").content.decode().count(">Revoke</button>") == 2
    assert Client().get(f"/s/{tokens[0]}/").status_code == 410
    assert signed_in.get(f"/sent/{share.pk}/revoke/").status_code == 405  # POST only


def test_a_therapist_sees_and_revokes_only_their_own_shares(
    signed_in, django_user_model, django_capture_on_commit_callbacks
) -> None:
    _, token = send(signed_in, django_capture_on_commit_callbacks)
    share = Share.objects.get()
    other = django_user_model.objects.create_user(
        "other@example.org", "other@example.org", PASSWORD
    )
    second = Client()
    second.force_login(other)
    listing = second.get("/sent/").content.decode()
    assert CLIENT_EMAIL not in listing and "Revoke" not in listing
    assert second.get(f"/sent/{share.pk}/").status_code == 404
    assert second.post(f"/sent/{share.pk}/revoke/").status_code == 404
    assert second.post(f"/sent/{share.pk}/resend/").status_code == 404
    share.refresh_from_db()
    assert share.revoked_at is None and Client().get(f"/s/{token}/").status_code == 200


def test_therapist_pages_need_an_account(client: Client, therapist) -> None:
    for path in ("/sent/", f"/{SLUG}/send/", "/sent/1/"):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/account/sign-in/?next=")
    assert client.post("/sent/1/revoke/").status_code == 302


def test_the_sweep_erases_addresses_some_days_after_a_share_ends(
    signed_in, settings, django_capture_on_commit_callbacks
) -> None:
    for _ in range(4):
        send(signed_in, django_capture_on_commit_callbacks)
    expired_long_ago, revoked_recently, used_up_long_ago, active = Share.objects.order_by("pk")
    now = timezone.now()
    Share.objects.filter(pk=expired_long_ago.pk).update(expires_at=now - timedelta(days=31))
    Share.objects.filter(pk=revoked_recently.pk).update(revoked_at=now - timedelta(days=29))
    Share.objects.filter(pk=used_up_long_ago.pk).update(
        used_up_at=now - timedelta(days=40), downloads=3
    )
    assert sweep_addresses() == 2
    emails = dict(Share.objects.values_list("pk", "client_email"))
    assert emails == {
        expired_long_ago.pk: "",
        revoked_recently.pk: CLIENT_EMAIL,
        used_up_long_ago.pk: "",
        active.pk: CLIENT_EMAIL,
    }
    assert sweep_addresses() == 0  # already erased
    settings.ADDRESS_RETENTION_DAYS = 7
    assert sweep_addresses() == 1  # the revoked one, under a shorter retention
    events = list(Event.objects.values_list("kind", flat=True))
    assert events.count(Event.ADDRESS_ERASED) == 3
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM shares_event")
        assert CLIENT_EMAIL not in repr(cursor.fetchall())  # the audit log keeps no address
    listing = signed_in.get("/sent/").content.decode()
    assert listing.count("(address erased)") == 3


class RefusingInbox:
    """An SMTP server (aiosmtpd) that refuses every recipient, quoting the address."""

    async def handle_RCPT(self, server, session, envelope, address, options) -> str:  # noqa: N802
        return f"550 no mailbox for {address}"


def test_a_refused_address_is_shown_but_not_kept_or_logged(
    signed_in, settings, caplog: pytest.LogCaptureFixture, django_capture_on_commit_callbacks
) -> None:
    controller_module = pytest.importorskip("aiosmtpd.controller", reason="needs aiosmtpd")
    controller = controller_module.Controller(
        RefusingInbox(), hostname="127.0.0.1", port=free_port()
    )
    controller.start()
    try:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        response, token = send(signed_in, django_capture_on_commit_callbacks)
    finally:
        controller.stop()
    share = Share.objects.get()
    assert token is None and share.status == "not sent"
    assert "SMTPRecipientsRefused" in share.email_error and "550" in share.email_error
    assert CLIENT_EMAIL not in share.email_error
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith("mail.")]
    assert ours and not any(CLIENT_EMAIL in message for message in ours)  # mail.log: aiosmtpd's
    page = signed_in.get(response["Location"]).content.decode()
    assert f"The email to {CLIENT_EMAIL} could not be sent" in page


def test_a_script_broken_while_serving_leaves_the_site_as_it_was(
    client: Client, published: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert TITLE.split("<")[0] in client.get("/").content.decode()
    broken = published / "scripts_src" / "broken.md"
    broken.write_text("---\ntitle: Broken\nvoice: [\n---\nText.\n", encoding="utf-8")
    try:
        page = client.get(f"/{SLUG}/")
        assert page.status_code == 200 and "A Calm &lt;script&gt;" in page.content.decode()
        assert "keeping the site as it was: scripts_src/broken.md:3:" in caplog.text
    finally:
        broken.unlink()
    assert client.get(f"/{SLUG}/").status_code == 200
