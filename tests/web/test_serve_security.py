"""Each security rule of voicetrack serve, tried through Django's test client: CSRF, the
response headers, cookies, escaping, path traversal, sign-in throttling and tokens kept out
of the logs. (Who may see a share, expiry and token guessing are in test_serve_shares.)"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

pytest.importorskip("django", reason="voicetrack serve's tests need the web extra")

from django.conf import settings as django_settings  # noqa: E402
from django.core import mail  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.test import Client  # noqa: E402

from pipeline.web.shares.models import Share  # noqa: E402
from tests.web.serving import PASSWORD, SLUG, send  # noqa: E402

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _site(published: Path) -> None:
    cache.clear()


@pytest.fixture
def therapist(django_user_model):
    return django_user_model.objects.create_user(
        "therapist@example.org", "therapist@example.org", PASSWORD
    )


@pytest.fixture
def signed_in(client: Client, therapist) -> Client:
    client.force_login(therapist)
    return client


@pytest.fixture
def token(signed_in, django_capture_on_commit_callbacks) -> str:
    found = send(signed_in, django_capture_on_commit_callbacks)[1]
    assert found is not None
    return found


def sign_in(client: Client, email: str, password: str, **extra):
    return client.post("/account/sign-in/", {"username": email, "password": password}, **extra)


def test_a_post_without_a_csrf_token_is_forbidden(therapist, token: str) -> None:
    strict = Client(enforce_csrf_checks=True)
    assert sign_in(strict, "therapist@example.org", PASSWORD).status_code == 403
    strict.force_login(therapist)
    share = Share.objects.get()
    data = {"client_email": "c@example.org", "locale": "en-GB", "consent": "on"}
    assert strict.post(f"/{SLUG}/send/", data | {"days": 7, "downloads": 3}).status_code == 403
    assert strict.post(f"/sent/{share.pk}/revoke/").status_code == 403
    assert strict.post("/account/sign-out/").status_code == 403
    share.refresh_from_db()
    assert share.revoked_at is None and Share.objects.count() == 1


def test_the_client_download_needs_the_link_not_a_csrf_token(token: str) -> None:
    """The client's pages hold no CSRF token: the link's own token is what a forged request
    would need, and without it there is nothing to download."""
    strict = Client(enforce_csrf_checks=True)
    assert strict.post(f"/s/{token}/download/").status_code == 200
    assert strict.post("/s/" + "C" * 43 + "/download/").status_code == 404
    assert "csrfmiddlewaretoken" not in strict.get(f"/s/{token}/").content.decode()


def test_with_its_csrf_token_the_same_post_works(therapist) -> None:
    strict = Client(enforce_csrf_checks=True)
    page = strict.get("/account/sign-in/").content.decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert csrf is not None
    response = strict.post(
        "/account/sign-in/",
        {"username": "therapist@example.org", "password": PASSWORD, "csrfmiddlewaretoken": csrf[1]},
    )
    assert response.status_code == 302


def test_every_response_carries_the_security_headers(signed_in, token: str) -> None:
    anonymous = Client()
    share = Share.objects.get()
    responses = {
        "index": anonymous.get("/"),
        "resource": anonymous.get(f"/{SLUG}/"),
        "resource signed in": signed_in.get(f"/{SLUG}/"),
        "media": anonymous.get(f"/{SLUG}/{SLUG}.en-GB.mp3"),
        "static": anonymous.get("/static/site.css"),
        "sign-in": anonymous.get("/account/sign-in/"),
        "send": signed_in.get(f"/{SLUG}/send/"),
        "sent": signed_in.get("/sent/"),
        "share": signed_in.get(f"/sent/{share.pk}/"),
        "client": anonymous.get(f"/s/{token}/"),
        "download": anonymous.post(f"/s/{token}/download/"),
        "not found": anonymous.get("/no-such-page/"),
        "unknown token": anonymous.get("/s/" + "B" * 43 + "/"),
    }
    private = {"sign-in", "send", "sent", "share", "client", "download", "unknown token"}
    private.add("resource signed in")
    for name, response in responses.items():
        csp = response.get("Content-Security-Policy", "")
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, name
        assert response.get("X-Content-Type-Options") == "nosniff", name
        assert response.get("Referrer-Policy") == "no-referrer", name
        assert response.get("X-Frame-Options") == "DENY", name
        if name in private:
            assert "no-store" in response.get("Cache-Control", ""), name
    assert responses["media"].status_code == 200 and responses["static"].status_code == 200


def test_media_are_served_with_range_requests(published: Path) -> None:
    track = (published / "out" / "site" / SLUG / f"{SLUG}.en-US.mp3").read_bytes()
    response = Client().get(f"/{SLUG}/{SLUG}.en-US.mp3", HTTP_RANGE="bytes=100-199")
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes 100-199/{len(track)}"
    assert b"".join(response.streaming_content) == track[100:200]


def test_cookies_are_httponly_and_samesite_and_secure_under_https(therapist) -> None:
    for secure in (True, False):
        client = Client()
        client.get("/account/sign-in/", secure=secure)
        response = sign_in(client, "therapist@example.org", PASSWORD, secure=secure)
        assert response.status_code == 302
        session, csrf = response.cookies["sessionid"], client.cookies["csrftoken"]
        for cookie in (session, csrf):
            assert cookie["httponly"] is True
            assert bool(cookie["secure"]) is secure
        assert session["samesite"] == "Lax" and csrf["samesite"] == "Strict"


def test_a_title_holding_a_script_is_escaped_on_every_page(
    signed_in, token: str, django_capture_on_commit_callbacks
) -> None:
    share = Share.objects.get()
    pages = [
        Client().get("/"),
        Client().get(f"/{SLUG}/"),
        signed_in.get("/"),
        signed_in.get(f"/{SLUG}/"),
        signed_in.get(f"/{SLUG}/send/"),
        signed_in.get("/sent/"),
        signed_in.get(f"/sent/{share.pk}/"),
        Client().get(f"/s/{token}/"),
    ]
    for response in pages:
        html = response.content.decode()
        assert response.status_code == 200
        assert "<script>alert" not in html
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    published = (django_settings.SITE_DIR / SLUG / "index.html").read_text(encoding="utf-8")
    assert "<script>alert" not in published


@pytest.mark.parametrize(
    "path",
    [
        "/../voicetrack.toml",
        "/../instance/secret_key",
        f"/{SLUG}/../../instance/secret_key",
        "/%2e%2e/instance/secret_key",
        "/static/..%2f..%2finstance%2fsecret_key",
        f"/{SLUG}/..%2f..%2fscripts_src%2f{SLUG}.md",
        f"/{SLUG}/%2e%2e/%2e%2e/out/{SLUG}/{SLUG}.en-GB.json",
        "/s/..%2f..%2finstance%2fsecret_key/",
        "/s/../../instance/secret_key/download/",
        "/..%5c..%5cinstance%5csecret_key",
        "/static/%00/etc/passwd",
    ],
)
def test_path_traversal_is_not_found(signed_in, path: str) -> None:
    secret = django_settings.SECRET_KEY
    for client in (Client(), signed_in):
        response = client.get(path)
        assert response.status_code == 404, path
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert secret.encode() not in body


def test_failed_sign_ins_lock_an_account_from_any_address(therapist) -> None:
    statuses = [
        sign_in(Client(REMOTE_ADDR=f"198.51.100.{n}"), "therapist@example.org", "wrong").status_code
        for n in range(5)
    ]
    assert statuses == [200] * 4 + [429]  # the fifth failure locks the account
    fresh = Client(REMOTE_ADDR="192.0.2.55")
    locked = sign_in(fresh, "Therapist@Example.org", PASSWORD)  # the right password, too late
    assert locked.status_code == 429
    assert "too many unsuccessful sign-ins" in locked.content.decode()
    assert "_auth_user_id" not in fresh.session


def test_failed_sign_ins_lock_an_address_whatever_the_account(therapist, django_user_model) -> None:
    django_user_model.objects.create_user("second@example.org", "second@example.org", PASSWORD)
    guesser = Client(REMOTE_ADDR="203.0.113.5")
    statuses = [sign_in(guesser, f"nobody{n}@example.org", "guess").status_code for n in range(5)]
    assert statuses == [200] * 4 + [429]
    assert sign_in(guesser, "second@example.org", PASSWORD).status_code == 429
    elsewhere = Client(REMOTE_ADDR="203.0.113.6")
    assert sign_in(elsewhere, "second@example.org", PASSWORD).status_code == 302


def test_a_successful_sign_in_clears_the_count(therapist) -> None:
    client = Client(REMOTE_ADDR="192.0.2.10")
    for _ in range(4):
        sign_in(client, "therapist@example.org", "wrong password")
    assert sign_in(client, "therapist@example.org", PASSWORD).status_code == 302
    client.post("/account/sign-out/")
    for _ in range(4):
        assert sign_in(client, "therapist@example.org", "wrong password").status_code == 200
    assert sign_in(client, "therapist@example.org", PASSWORD).status_code == 302


def test_the_token_is_in_no_log(
    signed_in, caplog: pytest.LogCaptureFixture, django_capture_on_commit_callbacks
) -> None:
    caplog.set_level(logging.DEBUG)
    _, token = send(signed_in, django_capture_on_commit_callbacks, downloads="1")
    assert token is not None
    anonymous = Client()
    anonymous.get(f"/s/{token}/")
    anonymous.post(f"/s/{token}/download/")
    assert anonymous.get(f"/s/{token}/").status_code == 410  # logged by Django as a 4xx
    assert Client(enforce_csrf_checks=True).post(f"/{SLUG}/send/").status_code == 403
    assert anonymous.get(f"/s/{token}x/").status_code == 404
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "/s/[token]" in logged  # the 4xx responses were logged, redacted
    assert token not in logged and token not in caplog.text
    assert len(mail.outbox) == 1
