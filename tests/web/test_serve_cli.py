"""The command line of voicetrack serve: ``users add|list|remove`` in a project of their
own (a process each, as a person runs them), the instance folder they make, the message
when the web extra is missing, and start-up checks of ``serve``."""

from __future__ import annotations

import importlib.util
import os
import sqlite3
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import main

PASSWORD = "a long enough passphrase"


def voicetrack(root: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DJANGO_SETTINGS_MODULE", "VOICETRACK_ROOT")
    }
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        cwd=root,
        env=env,
        input=stdin,
        text=True,
        capture_output=True,
        timeout=120,
    )


def test_the_core_commands_do_not_import_the_web_extra() -> None:
    code = (
        "import sys, pipeline.cli, pipeline.web, pipeline.web.instance\n"
        "heavy = {'django', 'axes', 'csp', 'django_ratelimit', 'argon2'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == "[]"


@pytest.mark.parametrize("command", [["serve"], ["users", "list"], ["users", "add", "a@b.org"]])
def test_without_the_web_extra_the_message_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "django" else real(name, *a)
    )
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 1
    assert "voicetrack serve needs the web extra (django is not installed)" in result.output
    assert "Hint: install it with: pip install 'voicetrack[web]'" in result.output


needs_web = pytest.mark.skipif(
    importlib.util.find_spec("django") is None, reason="voicetrack serve's tests need the web extra"
)


@needs_web
def test_users_add_list_remove(tmp_path: Path) -> None:
    added = voicetrack(
        tmp_path, "users", "add", "Dr.Lee@Example.org", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert added.returncode == 0, added.stderr
    assert added.stdout == "added dr.lee@example.org\n"
    prompted = voicetrack(
        tmp_path, "users", "add", "second@example.org", stdin=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert prompted.returncode == 0, prompted.stderr

    listed = voicetrack(tmp_path, "users", "list")
    lines = listed.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["dr.lee@example.org", "second@example.org"]
    assert "last signed in never  0 shares" in lines[0]

    again = voicetrack(
        tmp_path, "users", "add", "dr.lee@example.org", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert (
        again.returncode == 2
        and "there is already an account for dr.lee@example.org" in again.stderr
    )
    weak = voicetrack(
        tmp_path, "users", "add", "c@example.org", "--password-stdin", stdin="12345\n"
    )
    assert weak.returncode == 2 and "the password is too weak" in weak.stderr
    bad = voicetrack(
        tmp_path, "users", "add", "not-an-address", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert bad.returncode == 2 and "not an email address: not-an-address" in bad.stderr

    removed = voicetrack(tmp_path, "users", "remove", "SECOND@example.org", "--yes")
    assert removed.returncode == 0 and removed.stdout == "removed second@example.org\n"
    missing = voicetrack(tmp_path, "users", "remove", "second@example.org", "--yes")
    assert (
        missing.returncode == 2 and "there is no account for second@example.org" in missing.stderr
    )
    assert voicetrack(tmp_path, "users", "list").stdout.split()[0] == "dr.lee@example.org"

    database = sqlite3.connect(tmp_path / "instance" / "voicetrack.sqlite3")
    (hashed,) = database.execute("SELECT password FROM auth_user").fetchone()
    assert hashed.startswith("argon2$argon2id$") and PASSWORD not in hashed
    applied = {row[0] for row in database.execute("SELECT app FROM django_migrations")}
    assert {"auth", "sessions", "axes", "shares"} <= applied


@needs_web
def test_the_instance_folder_and_secret_key_are_private(tmp_path: Path) -> None:
    assert voicetrack(tmp_path, "users", "list").returncode == 0
    folder = tmp_path / "instance"
    key = folder / "secret_key"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    first = key.read_text()
    assert len(first.strip()) >= 64
    assert voicetrack(tmp_path, "users", "list").returncode == 0
    assert key.read_text() == first  # made once, then kept


@needs_web
def test_the_committed_migrations_match_the_models(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env |= {"VOICETRACK_ROOT": str(tmp_path), "DJANGO_SETTINGS_MODULE": "pipeline.web.settings"}
    checked = subprocess.run(
        [sys.executable, "-m", "django", "makemigrations", "--check", "--dry-run"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


@needs_web
def test_serve_needs_a_published_site(tmp_path: Path) -> None:
    refused = voicetrack(tmp_path, "serve", "--port", "9")
    assert refused.returncode == 2
    assert f"Error: there is no published site in {tmp_path / 'out' / 'site'}" in refused.stderr
    assert "Hint: run voicetrack publish first" in refused.stderr


@needs_web
def test_serve_needs_the_email_password_it_names(tmp_path: Path) -> None:
    (tmp_path / "out" / "site").mkdir(parents=True)
    (tmp_path / "out" / "site" / "index.html").write_text("<!doctype html>", encoding="utf-8")
    (tmp_path / "voicetrack.toml").write_text(
        '[email]\nhost = "smtp.example.org"\nfrom = "a@example.org"\n'
        'password_env = "VOICETRACK_TEST_UNSET_PASSWORD"\n',
        encoding="utf-8",
    )
    refused = voicetrack(tmp_path, "serve", "--port", "9")
    assert refused.returncode == 2
    assert (
        "[email] password_env names VOICETRACK_TEST_UNSET_PASSWORD, which is not set"
        in refused.stderr
    )


@needs_web
def test_the_sweep_runs_on_start_and_then_daily(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from pipeline.web import server

    (tmp_path / "out" / "site").mkdir(parents=True)
    (tmp_path / "out" / "site" / "index.html").write_text("<!doctype html>", encoding="utf-8")
    events: list[str] = []
    started = threading.Event()

    class Listening:
        effective_port = 8123

        def run(self) -> None:
            events.append("serving")

        def close(self) -> None:
            events.append("closed")

    def create_server(application, **options):
        assert options["host"] == "127.0.0.1" and options["port"] == 8123
        return Listening()

    monkeypatch.setattr(server, "prepare", lambda root: events.append("prepared"))
    monkeypatch.setattr(server, "sweep", lambda: events.append("swept") or 0)
    monkeypatch.setattr("waitress.create_server", create_server)
    monkeypatch.setattr("pipeline.web.wsgi.application", object(), raising=False)
    server.serve(tmp_path, port=8123, announce=events.append)
    assert events[:3] == [
        "prepared",
        "swept",
        f"Serving {tmp_path} on http://127.0.0.1:8123/ (Ctrl-C stops)",
    ]
    assert events[3:] == ["serving", "closed"]

    # The daily thread: sweeps once per interval until stopped.
    stop = threading.Event()
    calls: list[int] = []

    def counted_sweep() -> int:
        calls.append(1)
        if len(calls) == 3:
            stop.set()
            started.set()
        return 0

    monkeypatch.setattr(server, "sweep", counted_sweep)
    worker = threading.Thread(target=server._sweep_daily, args=(stop, 0.001))
    worker.start()
    assert started.wait(30)
    worker.join(30)
    assert len(calls) == 3 and not worker.is_alive()


def test_the_serve_table_sets_how_long_addresses_are_kept() -> None:
    from pipeline.errors import ScriptError
    from pipeline.settings import parse_settings

    assert parse_settings("").serve.address_retention_days == 30
    assert parse_settings("[serve]\naddress_retention_days = 7\n").serve.address_retention_days == 7
    with pytest.raises(ScriptError) as caught:
        parse_settings("[site]\n\n[serve]\naddress_retention_days = -1\n")
    assert str(caught.value) == (
        "voicetrack.toml:4:1: address_retention_days must be a whole number of days, 0-3650"
    )


SHOW_EMAIL = """
import django
django.setup()
from django.conf import settings
from django.core.mail import send_mail
print(settings.EMAIL_BACKEND.rsplit(".", 2)[-2], settings.DEFAULT_FROM_EMAIL)
if settings.EMAIL_BACKEND.endswith("console.EmailBackend"):
    send_mail("Subject line", "Body with a link", None, ["client@example.org"])
else:
    print(settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_HOST_USER,
          settings.EMAIL_HOST_PASSWORD, settings.EMAIL_USE_TLS, settings.EMAIL_USE_SSL)
"""


@needs_web
@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        (
            "",
            [
                "console voicetrack <voicetrack@localhost>",
                "Subject: Subject line",
                "Body with a link",
            ],
        ),
        (
            '[email]\nhost = "smtp.example.org"\nport = 2525\nusername = "audio@example.org"\n'
            'password_env = "TEST_SMTP_PASSWORD"\nfrom = "Audio <audio@example.org>"\n',
            [
                "smtp Audio <audio@example.org>",
                "smtp.example.org 2525 audio@example.org s3cret True False",
            ],
        ),
        (
            '[email]\nhost = "smtp.example.org"\nfrom = "audio@example.org"\nsecurity = "ssl"\n',
            ["smtp audio@example.org", "smtp.example.org 465   False True"],
        ),
    ],
)
def test_the_email_backend_follows_voicetrack_toml(
    tmp_path: Path, toml: str, expected: list[str]
) -> None:
    """No [email]: messages are printed where the server runs; else SMTP as configured, the
    password read from the variable [email] names."""
    (tmp_path / "voicetrack.toml").write_text(toml, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env |= {"VOICETRACK_ROOT": str(tmp_path), "DJANGO_SETTINGS_MODULE": "pipeline.web.settings"}
    env["TEST_SMTP_PASSWORD"] = "s3cret"
    shown = subprocess.run(
        [sys.executable, "-c", SHOW_EMAIL], env=env, capture_output=True, text=True
    )
    assert shown.returncode == 0, shown.stderr
    for line in expected:
        assert line in shown.stdout, shown.stdout
