"""voicetrack.toml: [site] and [email] read and validated, every problem at its position."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import ScriptError
from pipeline.settings import EmailSettings, ProjectSettings, SiteSettings, load_settings

FULL = """\
[site]
title = "Developing Self-Compassion"
publisher = "Example Psychology Press"
base_url = "https://example.org/audio"

[email]
host = "smtp.example.org"
port = 587
username = "audio@example.org"
password_env = "VOICETRACK_SMTP_PASSWORD"
from = "Example Psychology Press <audio@example.org>"
security = "starttls"
"""


def errors_of(tmp_path: Path, text: str) -> list[str]:
    (tmp_path / "voicetrack.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ScriptError) as caught:
        load_settings(tmp_path)
    return [str(e) for e in caught.value.errors]


def test_no_file_gives_the_defaults(tmp_path: Path) -> None:
    assert load_settings(tmp_path) == ProjectSettings(SiteSettings(), None)


def test_every_key_is_read(tmp_path: Path) -> None:
    (tmp_path / "voicetrack.toml").write_text(FULL, encoding="utf-8")
    settings = load_settings(tmp_path)
    assert settings.site == SiteSettings(
        title="Developing Self-Compassion",
        publisher="Example Psychology Press",
        base_url="https://example.org/audio/",
    )
    assert settings.email == EmailSettings(
        host="smtp.example.org",
        port=587,
        username="audio@example.org",
        password_env="VOICETRACK_SMTP_PASSWORD",
        from_address="Example Psychology Press <audio@example.org>",
        security="starttls",
    )


def test_email_port_defaults_from_security(tmp_path: Path) -> None:
    text = '[email]\nhost = "mail.example.org"\nfrom = "a@example.org"\nsecurity = "ssl"\n'
    (tmp_path / "voicetrack.toml").write_text(text, encoding="utf-8")
    email = load_settings(tmp_path).email
    assert email is not None and email.port == 465 and email.username is None


def test_unknown_keys_and_tables_are_errors_with_suggestions(tmp_path: Path) -> None:
    text = '[site]\ntitel = "x"\n\n[emial]\nhost = "x"\n'
    assert errors_of(tmp_path, text) == [
        "voicetrack.toml:2:1: unknown key 'titel' in [site]; did you mean 'title'?",
        "voicetrack.toml:4:1: unknown table [emial]; did you mean 'email'?",
    ]


def test_bad_values_are_reported_together(tmp_path: Path) -> None:
    text = (
        '[site]\nbase_url = "example.org/audio"\n\n'
        '[email]\nhost = "smtp.example.org"\nport = 70000\nfrom = "nobody"\n'
        'password_env = "hunter2!"\nsecurity = "tls"\n'
    )
    found = errors_of(tmp_path, text)
    assert [e.split(": ")[0] for e in found] == [
        "voicetrack.toml:2:1",
        "voicetrack.toml:6:1",
        "voicetrack.toml:7:1",
        "voicetrack.toml:8:1",
        "voicetrack.toml:9:1",
    ]
    assert "base_url must be an absolute http(s) URL" in found[0]
    assert "port must be a whole number 1-65535" in found[1]
    assert "from must be an email address" in found[2]
    assert "the password is never in the file" in found[3]
    assert "security must be one of starttls, ssl, none (not tls)" in found[4]


def test_email_needs_host_and_from(tmp_path: Path) -> None:
    assert errors_of(tmp_path, '[site]\ntitle = "x"\n\n[email]\nport = 25\n') == [
        "voicetrack.toml:4:1: [email] needs host = ...",
        "voicetrack.toml:4:1: [email] needs from = ...",
    ]


def test_syntax_errors_have_positions(tmp_path: Path) -> None:
    (found,) = errors_of(tmp_path, '[site]\ntitle = "unclosed\n')
    assert found.startswith("voicetrack.toml:2:") and "invalid TOML" in found


def test_a_string_key_must_be_a_string(tmp_path: Path) -> None:
    assert errors_of(tmp_path, "[site]\ntitle = 3\n") == [
        "voicetrack.toml:2:1: title must be a non-empty string"
    ]
