"""``voicetrack serve`` as a therapist and a client meet it: the real server (waitress, in a
process of its own) on 127.0.0.1, a real SMTP server (aiosmtpd) receiving the emails, and a
real browser (Chromium through Playwright) signing in, sending, and downloading from the
link in the email. Also: the real server under 100 concurrent downloads of a 10 MB track,
with its memory measured, and raw requests that a test client would normalise."""

from __future__ import annotations

import email
import email.policy
import hashlib
import http.client
import http.cookiejar
import os
import re
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytest.importorskip("django", reason="voicetrack serve's tests need the web extra")
pytest.importorskip("aiosmtpd", reason="the end-to-end tests need aiosmtpd (the test extra)")

from aiosmtpd.controller import Controller  # noqa: E402

from tests.web.serving import SLUG, TITLE, free_port  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
THERAPIST = "therapist@example.org"
PASSWORD = "a long enough passphrase"
BIG_TRACK = 10 * 1024 * 1024
LINK = re.compile(r"(http://127\.0\.0\.1:\d+/s/[A-Za-z0-9_-]+/)")


class Inbox:
    """An aiosmtpd handler keeping every message it is given."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's name)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def links(self) -> list[str]:
        with self.lock:
            bodies = [m.get_body(("plain",)).get_content() for m in self.messages]  # type: ignore[union-attr]
        return [LINK.search(body).group(1) for body in bodies]  # type: ignore[union-attr]


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path
    root: Path
    inbox: Inbox
    tokens: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def inbox() -> Iterator[Inbox]:
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port = controller.port  # type: ignore[attr-defined]
    yield handler
    controller.stop()


def _voicetrack(root: Path, *args: str, **kwargs) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DJANGO_SETTINGS_MODULE", "VOICETRACK_ROOT")
    }
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        cwd=root,
        env=env,
        text=True,
        capture_output=True,
        **kwargs,
    )


@pytest.fixture(scope="module")
def server(project_copy, inbox: Inbox) -> Iterator[Server]:
    root: Path = project_copy()
    settings = root / "voicetrack.toml"
    settings.write_text(
        '[site]\ntitle = "Test site"\n\n'
        f'[email]\nhost = "127.0.0.1"\nport = {inbox.port}\n'  # type: ignore[attr-defined]
        'from = "Audio exercises <audio@example.org>"\nsecurity = "none"\n',
        encoding="utf-8",
    )
    # The en-GB track made 10 MB (the real MP3's frames, repeated) for the load test.
    track = root / "out" / "site" / SLUG / f"{SLUG}.en-GB.mp3"
    frames = track.read_bytes()
    track.unlink()
    track.write_bytes(frames * (BIG_TRACK // len(frames) + 1))
    added = _voicetrack(root, "users", "add", THERAPIST, "--password-stdin", input=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr

    port = free_port()
    log = root / "server.log"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DJANGO_SETTINGS_MODULE", "VOICETRACK_ROOT")
    }
    env["PYTHONUNBUFFERED"] = "1"
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "pipeline", "serve", "--port", str(port)],
            cwd=root,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):  # up to a minute on a busy machine: the server says when it listens
        if "Serving" in log.read_text() or process.poll() is not None:
            break
        time.sleep(0.1)
    assert process.poll() is None, log.read_text()
    yield Server(url, process, log, root, inbox)
    process.terminate()
    process.wait(timeout=30)


def raw_get(server: Server, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    """A GET sent exactly as written (no client-side normalisation of the path)."""
    host, port = urllib.parse.urlsplit(server.url).netloc.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    connection.putrequest("GET", path, skip_accept_encoding=True)
    for name, value in headers.items():
        connection.putheader(name, value)
    connection.endheaders()
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, dict(response.getheaders()), body


class Session:
    """A browser-like HTTP client: its own cookies, and the CSRF token of the last page."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        self.csrf = ""

    def get(self, url: str) -> str:
        with self.opener.open(urllib.parse.urljoin(self.base, url), timeout=120) as response:
            page = response.read().decode()
        found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        self.csrf = found.group(1) if found else self.csrf
        return page

    def post(self, url: str, fields: dict[str, str]):
        data = urllib.parse.urlencode({**fields, "csrfmiddlewaretoken": self.csrf}).encode()
        return self.opener.open(urllib.parse.urljoin(self.base, url), data=data, timeout=300)


def test_media_are_served_with_ranges_and_traversal_finds_nothing(server: Server) -> None:
    status, headers, body = raw_get(server, f"/{SLUG}/{SLUG}.en-US.mp3", Range="bytes=0-99")
    track = (server.root / "out" / "site" / SLUG / f"{SLUG}.en-US.mp3").read_bytes()
    assert status == 206 and body == track[:100]
    assert headers["Content-Range"] == f"bytes 0-99/{len(track)}"
    assert headers["Referrer-Policy"] == "no-referrer"
    secret = (server.root / "instance" / "secret_key").read_bytes().strip()
    for path in (
        "/../instance/secret_key",
        "/../../etc/passwd",
        f"/{SLUG}/../../instance/secret_key",
        "/static/../../instance/secret_key",
        "/%2e%2e/%2e%2e/instance/secret_key",
        f"/{SLUG}/..%2f..%2fvoicetrack.toml",
        "/s/../../instance/secret_key",
    ):
        status, _, body = raw_get(server, path)
        assert status == 404, path
        assert secret not in body and b"[email]" not in body and b"root:" not in body


WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def assert_accessible(page) -> None:
    """axe-core (bundled by axe-playwright-python) finds no WCAG 2 A or AA violation."""
    axe = pytest.importorskip(
        "axe_playwright_python.sync_playwright", reason="needs axe-playwright-python"
    )
    results = axe.Axe().run(
        page,
        options={"runOnly": {"type": "tag", "values": WCAG_TAGS}, "resultTypes": ["violations"]},
    )
    assert results.violations_count == 0, results.generate_report()


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Chromium at /usr/bin/chromium")
def test_a_therapist_sends_a_track_and_the_client_downloads_it(server: Server) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright")
    expect = sync_api.expect
    track = (server.root / "out" / "site" / SLUG / f"{SLUG}.en-US.mp3").read_bytes()
    before = len(server.inbox.messages)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        try:
            therapist = browser.new_context().new_page()
            therapist.goto(server.url + f"/{SLUG}/")
            therapist.get_by_role("link", name="Sign in", exact=True).click()
            assert_accessible(therapist)
            therapist.get_by_role("textbox", name="Email").fill(THERAPIST)
            therapist.get_by_role("textbox", name="Password").fill(PASSWORD)
            therapist.get_by_role("button", name="Sign in").click()
            expect(therapist.get_by_role("button", name="Sign out")).to_be_visible()
            assert therapist.url == server.url + f"/{SLUG}/"  # back where it started

            assert_accessible(therapist)  # the resource page, signed in
            therapist.get_by_role("button", name="Send securely to my client").click()
            assert_accessible(therapist)
            therapist.get_by_role("textbox", name="Client's email").fill("client@example.org")
            therapist.get_by_role("combobox", name="Language").select_option(label="English (US)")
            therapist.get_by_role(
                "checkbox", name="I have my client's consent to email them this link"
            ).check()
            therapist.get_by_role("spinbutton", name="Link expires after (days)").fill("5")
            therapist.get_by_role("spinbutton", name="Downloads allowed").fill("2")
            therapist.get_by_role("button", name="Send", exact=True).click()
            expect(therapist.get_by_role("status")).to_contain_text(
                "(English (US)) was sent to client@example.org"
            )

            assert_accessible(therapist)
            assert len(server.inbox.messages) == before + 1  # sent before the page answered
            message = server.inbox.messages[-1]
            assert message["To"] == "client@example.org"
            assert TITLE in message["Subject"]
            link = server.inbox.links()[-1]
            server.tokens.append(link.rstrip("/").rsplit("/", 1)[1])

            # The client: a fresh browser context, no account, no JavaScript.
            client_context = browser.new_context(java_script_enabled=False, accept_downloads=True)
            client = client_context.new_page()
            client.goto(link)
            expect(client.get_by_role("heading", level=1)).to_have_text(TITLE)
            expect(client.get_by_text("in English (US)")).to_be_visible()
            # axe-core runs as a script, which this context does not run: check the same
            # page in a context of its own.
            checker = browser.new_context().new_page()
            checker.goto(link)
            assert_accessible(checker)
            with client.expect_download() as caught:
                client.get_by_role("button", name="Download").click()
            download = caught.value
            assert download.suggested_filename == f"{SLUG}.en-US.mp3"
            assert Path(download.path()).read_bytes() == track

            therapist.get_by_role("link", name="Sent", exact=True).click()
            row = therapist.get_by_role("row").filter(has_text="client@example.org")
            expect(row).to_contain_text("downloaded 1 of 2")
            assert_accessible(therapist)
            row.get_by_role("button", name="Revoke").click()
            expect(
                therapist.get_by_role("row").filter(has_text="client@example.org")
            ).to_contain_text("revoked")
            gone = client.goto(link)
            assert gone is not None and gone.status == 410
            expect(client.get_by_role("heading", level=1)).to_have_text("This link no longer works")
            checker.goto(link)
            assert_accessible(checker)

            therapist.get_by_role("button", name="Sign out").click()
            expect(therapist.get_by_role("link", name="Sign in", exact=True)).to_be_visible()
        finally:
            browser.close()


def test_one_hundred_concurrent_downloads_stream_in_bounded_memory(server: Server) -> None:
    psutil = pytest.importorskip("psutil", reason="measuring the server's memory needs psutil")
    therapist = Session(server.url)
    therapist.get("/account/sign-in/")
    therapist.post("/account/sign-in/", {"username": THERAPIST, "password": PASSWORD})
    sent_before = len(server.inbox.messages)
    therapist.get(f"/{SLUG}/send/")
    for _ in range(10):
        fields = {"client_email": "client@example.org", "locale": "en-GB", "consent": "on"}
        therapist.post(f"/{SLUG}/send/", fields | {"days": "1", "downloads": "10"}).read()
    links = server.inbox.links()[sent_before:]
    assert len(links) == 10
    server.tokens.extend(link.rstrip("/").rsplit("/", 1)[1] for link in links)
    track = (server.root / "out" / "site" / SLUG / f"{SLUG}.en-GB.mp3").read_bytes()
    assert len(track) >= BIG_TRACK
    expected = hashlib.sha256(track).hexdigest()

    process = psutil.Process(server.process.pid)
    baseline = process.memory_info().rss
    peak = baseline
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.05):
            peak = max(peak, process.memory_info().rss)

    def download(link: str) -> tuple[int, str]:
        session = Session(server.url)
        session.get(link)
        digest = hashlib.sha256()
        with session.post(link + "download/", {}) as response:
            while chunk := response.read(256 * 1024):
                digest.update(chunk)
        return response.status, digest.hexdigest()

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with ThreadPoolExecutor(max_workers=100) as pool:
            results = list(pool.map(download, [link for link in links for _ in range(10)]))
    finally:
        done.set()
        sampler.join()
    assert results == [(200, expected)] * 100
    growth = peak - baseline
    print(
        f"server RSS {baseline / 2**20:.0f} MB before, peak {peak / 2**20:.0f} MB "
        f"during 100 downloads of {len(track) / 2**20:.0f} MB"
    )
    # Streamed, the server grows by its buffers (about 26 MB here); a response read into
    # memory would hold 10 MB per worker thread at once, with Python keeping the peak.
    assert growth < 64 * 2**20, f"the server grew by {growth / 2**20:.0f} MB"


def test_no_token_reaches_the_servers_log(server: Server) -> None:
    assert server.tokens, "run with the tests that send links"
    raw_get(server, f"/s/{server.tokens[0]}/")  # revoked or used up: a 410, which Django logs
    raw_get(server, f"/s/{server.tokens[0]}x/")  # unknown: a 404, logged too
    for _ in range(50):
        if "/s/[token]" in server.log.read_text():
            break
        time.sleep(0.1)
    log = server.log.read_text()
    assert "/s/[token]" in log
    assert not any(token in log for token in server.tokens)
