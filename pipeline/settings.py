"""Project settings: ``voicetrack.toml`` at the project root -> :class:`ProjectSettings`.

The file is optional. ``[site]`` describes the published site (its title, publisher and the
base URL that feeds and shared links need); ``[email]`` describes the mail server that
``voicetrack serve`` sends links through. Every problem is reported like a script's, as
``path:line:col: message``, all of them at once, with a suggestion for a misspelt key.
"""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pipeline.errors import ScriptError, SourceError
from pipeline.tomlpos import KeyPositions, decode_error

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

SETTINGS_FILE = "voicetrack.toml"
EMAIL_SECURITY = ("starttls", "ssl", "none")


@dataclass(frozen=True)
class SiteSettings:
    title: str | None = None  # default: the scripts' collection, else "Audio exercises"
    publisher: str | None = None
    base_url: str | None = None  # absolute, ends with "/"


@dataclass(frozen=True)
class EmailSettings:
    host: str
    port: int
    from_address: str
    username: str | None = None
    password_env: str | None = None  # the environment variable holding the password
    security: str = "starttls"


@dataclass(frozen=True)
class ServeSettings:
    """``[serve]``: what ``voicetrack serve`` keeps, and for how long."""

    address_retention_days: int = 30  # days after a share ends before its address is erased


@dataclass(frozen=True)
class ProjectSettings:
    site: SiteSettings = SiteSettings()
    email: EmailSettings | None = None
    serve: ServeSettings = ServeSettings()


#: Every table and its keys, as written in the file.
TABLES: dict[str, tuple[str, ...]] = {
    "site": ("title", "publisher", "base_url"),
    "email": ("host", "port", "username", "password_env", "from", "security"),
    "serve": ("address_retention_days",),
}


def load_settings(root: Path) -> ProjectSettings:
    """The settings in ``root/voicetrack.toml``, or the defaults when there is no such file."""
    path = root / SETTINGS_FILE
    if not path.is_file():
        return ProjectSettings()
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        before = data[: error.start].decode("utf-8", errors="replace")
        line = before.count("\n") + 1
        col = len(before) - (before.rfind("\n") + 1) + 1
        raise ScriptError.at(SETTINGS_FILE, line, col, "not UTF-8 text") from None
    return parse_settings(text, SETTINGS_FILE)


def parse_settings(text: str, shown: str = SETTINGS_FILE) -> ProjectSettings:
    """The settings written in ``text``; ``shown`` is the path used in messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        line, col, message = decode_error(error, text)
        raise ScriptError.at(shown, line, col, f"invalid TOML: {message}") from None
    reader = _Reader(shown, KeyPositions(text))
    settings = reader.read(data)
    if reader.errors:
        raise ScriptError(reader.errors)
    return settings


class _Reader:
    def __init__(self, shown: str, positions: KeyPositions):
        self.shown = shown
        self.positions = positions
        self.errors: list[SourceError] = []

    def error(self, where: tuple[int, int], message: str) -> None:
        self.errors.append(SourceError(self.shown, where[0], where[1], message))

    def read(self, data: dict[str, Any]) -> ProjectSettings:
        for name, value in data.items():
            if name not in TABLES:
                where = self.positions.table(name) if isinstance(value, dict) else None
                where = where or self.positions.key(None, name)
                self.error(where, f"unknown table [{name}]{_suggest(name, TABLES)}")
            elif not isinstance(value, dict):
                self.error(self.positions.key(None, name), f"{name} must be a table: [{name}]")
        site = self._site(data.get("site"))
        email = self._email(data.get("email"))
        return ProjectSettings(site=site, email=email, serve=self._serve(data.get("serve")))

    def _table(self, name: str, value: object) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            return None
        for key in value:
            if key not in TABLES[name]:
                self.error(
                    self.positions.key(name, key),
                    f"unknown key {key!r} in [{name}]{_suggest(key, TABLES[name])}",
                )
        return value

    def _text(
        self, table: str, values: dict[str, Any], key: str, check: _Check | None = None
    ) -> str | None:
        if key not in values:
            return None
        value = values[key]
        where = self.positions.key(table, key)
        if not isinstance(value, str) or not value.strip():
            self.error(where, f"{key} must be a non-empty string")
            return None
        problem = check(value) if check else None
        if problem:
            self.error(where, problem)
            return None
        return value.strip()

    def _site(self, value: object) -> SiteSettings:
        values = self._table("site", value)
        if values is None:
            return SiteSettings()
        base_url = self._text("site", values, "base_url", base_url_problem)
        if base_url is not None and not base_url.endswith("/"):
            base_url += "/"
        return SiteSettings(
            title=self._text("site", values, "title"),
            publisher=self._text("site", values, "publisher"),
            base_url=base_url,
        )

    def _email(self, value: object) -> EmailSettings | None:
        values = self._table("email", value)
        if values is None:
            return None
        before = len(self.errors)
        host = self._text("email", values, "host", _host_problem)
        from_address = self._text("email", values, "from", _address_problem)
        username = self._text("email", values, "username")
        password_env = self._text("email", values, "password_env", _env_name_problem)
        security = self._text("email", values, "security", _security_problem) or "starttls"
        port = values.get("port")
        header = self.positions.table("email")
        for key in ("host", "from"):
            if key not in values:
                self.error(header, f"[email] needs {key} = ...")
        if port is None:
            port = {"ssl": 465, "none": 25}.get(security, 587)
        elif isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            self.error(self.positions.key("email", "port"), "port must be a whole number 1-65535")
        if len(self.errors) > before or host is None or from_address is None:
            return None
        return EmailSettings(
            host=host,
            port=port,
            from_address=from_address,
            username=username,
            password_env=password_env,
            security=security,
        )

    def _serve(self, value: object) -> ServeSettings:
        values = self._table("serve", value)
        if values is None or "address_retention_days" not in values:
            return ServeSettings()
        days = values["address_retention_days"]
        if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= 3650:
            self.error(
                self.positions.key("serve", "address_retention_days"),
                "address_retention_days must be a whole number of days, 0-3650",
            )
            return ServeSettings()
        return ServeSettings(address_retention_days=days)


_Check = Callable[[str], "str | None"]


def _suggest(word: str, candidates: Any) -> str:
    close = difflib.get_close_matches(word, sorted(candidates), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def base_url_problem(value: str) -> str | None:
    """Why ``value`` cannot be the site's base URL, or None if it can."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return (
            "base_url must be an absolute http(s) URL such as "
            f"https://example.org/audio/ (not {value})"
        )
    if parts.query or parts.fragment:
        return "base_url cannot have a query or a fragment"
    return None


def _host_problem(value: str) -> str | None:
    if re.search(r"[\s/:]", value.strip()):
        return f"host must be a host name such as smtp.example.org (not {value})"
    return None


def _address_problem(value: str) -> str | None:
    from email.utils import parseaddr

    _, address = parseaddr(value)
    if not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+", address):
        return f"from must be an email address such as Name <audio@example.org> (not {value})"
    return None


def _env_name_problem(value: str) -> str | None:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
        return (
            "password_env names the environment variable that holds the password, "
            f"such as VOICETRACK_SMTP_PASSWORD (not {value}); the password is never in the file"
        )
    return None


def _security_problem(value: str) -> str | None:
    if value not in EMAIL_SECURITY:
        return f"security must be one of {', '.join(EMAIL_SECURITY)} (not {value})"
    return None
