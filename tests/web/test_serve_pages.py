"""The public pages through the server: the static site's templates, with the account
links and the resource page's send button filled in; signing in and out."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("django", reason="voicetrack serve's tests need the web extra")

from django.core.cache import cache  # noqa: E402
from django.test import Client  # noqa: E402

from tests.web.serving import PASSWORD, SLUG  # noqa: E402

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _site(published: Path) -> None:
    cache.clear()


@pytest.fixture
def therapist(django_user_model):
    return django_user_model.objects.create_user(
        "therapist@example.org", "therapist@example.org", PASSWORD
    )


def main_of(html: str) -> str:
    found = re.search(r"<main id=\"main\" tabindex=\"-1\">(.*)</main>", html, re.S)
    assert found is not None
    return found.group(1)


def test_the_resource_page_is_the_published_page_plus_the_account_blocks(
    client: Client, published: Path
) -> None:
    served = client.get(f"/{SLUG}/").content.decode()
    static = (published / "out" / "site" / SLUG / "index.html").read_text(encoding="utf-8")
    hint = re.compile(r'<p class="send-hint">.*?</p>\n?', re.S)
    assert hint.search(served)  # the server's resource_actions block, signed out
    assert hint.sub("", main_of(served)).strip() == main_of(static).strip()
    assert f'<a href="/account/sign-in/?next=/{SLUG}/">Sign in</a>' in served
    assert "Send securely to my client" not in served


def test_the_index_is_the_published_index_with_a_sign_in_link(
    client: Client, published: Path
) -> None:
    served = client.get("/").content.decode()
    static = (published / "out" / "site" / "index.html").read_text(encoding="utf-8")
    assert f'href="/{SLUG}/"' in served
    # the same page, but for links from the server's root instead of the folder
    assert main_of(served).replace(f'href="/{SLUG}/"', f'href="{SLUG}/"') == main_of(static)
    assert '<a href="/account/sign-in/">Sign in</a>' in served


def test_signed_in_every_page_offers_sent_and_sign_out(client: Client, therapist) -> None:
    client.force_login(therapist)
    for path in ("/", f"/{SLUG}/", "/sent/", f"/{SLUG}/send/"):
        html = client.get(path).content.decode()
        assert '<a href="/sent/">Sent</a>' in html, path
        assert '<button type="submit">Sign out</button>' in html, path
        assert ">Sign in</a>" not in html, path
    resource = client.get(f"/{SLUG}/").content.decode()
    assert re.search(
        rf'<form method="get" action="/{SLUG}/send/"[^>]*>\s*'
        r'<button type="submit">Send securely to my client</button>',
        resource,
    )


def test_sign_in_with_email_and_password_then_sign_out(client: Client, therapist) -> None:
    page = client.get("/account/sign-in/").content.decode()
    assert re.search(r'<label for="id_username">Email</label>', page)
    assert re.search(r'<label for="id_password">Password</label>', page)
    assert '<button type="submit">Sign in</button>' in page
    response = client.post(
        "/account/sign-in/?next=/sent/",
        {"username": " Therapist@Example.org ", "password": PASSWORD, "next": "/sent/"},
    )
    assert response.status_code == 302 and response["Location"] == "/sent/"
    assert client.get("/sent/").status_code == 200
    assert client.get("/account/sign-out/").status_code == 405  # signing out is a POST
    assert client.post("/account/sign-out/").status_code == 302
    assert client.get("/sent/").status_code == 302


def test_a_wrong_password_is_refused_without_saying_which_part(client: Client, therapist) -> None:
    for email in ("therapist@example.org", "nobody@example.org"):
        response = client.post("/account/sign-in/", {"username": email, "password": "wrong one"})
        assert response.status_code == 200
        assert "Please enter a correct email and password." in response.content.decode()


def test_an_unknown_page_is_not_found(client: Client) -> None:
    response = client.get("/no-such-exercise/")
    assert response.status_code == 404
    assert "There is nothing at this address." in response.content.decode()
