"""Fetching a voice's files safely: download, verify, then move into place.

RemoteFile (url, destination, size, checksum) -> fetch_files -> files in place, or nothing

The machinery every engine's installer shares (see :class:`pipeline.engines.base.VoiceInstaller`):
each file is downloaded into a hidden staging folder beside its destination, checked against
its length, size and checksum, and only then renamed into place, in order (a voice's model
last), so a failed or interrupted download leaves nothing behind and an engine never sees
half a voice. When the server is out of reach, :func:`by_hand` says what to fetch and where
to put it.

``$VOICETRACK_VOICES_URL`` (or a ``base_url``) points every download at a mirror laid out as
``hibari/<file>``, ``piper/voices.json``, ``piper/<family>/<code>/<name>/<quality>/<file>`` and
``coqui/<release zip>``; a ``file://`` URL of a folder copied from another machine works too.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import InstallError

log = logging.getLogger(__name__)

BASE_URL_ENV = "VOICETRACK_VOICES_URL"
#: How long a silent connection may stall before the download counts as interrupted.
TIMEOUT = 60.0
CHUNK = 1 << 16

#: progress(file name, bytes so far, total bytes or None when unknown)
Progress = Callable[[str, int, "int | None"], None]


@dataclass(frozen=True)
class InstallableVoice:
    """A voice ``install_voice`` can fetch, as ``voicetrack voices available`` lists it."""

    name: str  # what to pass to install_voice, and the profile's ``model``
    engine: str
    locale: str  # BCP 47; "en" for a model that takes the accent of its reference recording
    description: str
    licence: str
    source: str  # a page a person can open
    size: int | None  # bytes to download, when known


@dataclass(frozen=True)
class RemoteFile:
    """One file to fetch: from where, to where, and what it must be."""

    url: str
    dest: Path
    size: int | None = None
    digest: tuple[str, str] | None = None  # (hashlib algorithm, hex digest)


def mirror(base_url: str | None) -> str | None:
    """The mirror every download comes from: ``base_url``, else ``$VOICETRACK_VOICES_URL``,
    without a trailing slash; None for each voice's own home."""
    return (base_url or os.environ.get(BASE_URL_ENV) or "").rstrip("/") or None


def fetch_files(label: str, files: Sequence[RemoteFile], progress: Progress | None = None) -> None:
    """Download every file, verify each, then rename them into place in order.

    Files are staged in a hidden folder beside the first destination (the same file system,
    so the renames are atomic); on any failure, Ctrl-C included, the staging folder is removed
    and nothing was installed.
    """
    folder = files[0].dest.parent
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".install-", dir=folder))
    try:
        staged = []
        for wanted in files:
            path = staging / wanted.dest.name
            try:
                download(wanted, path, progress, wanted.dest.name)
            except Unreachable as exc:
                raise InstallError(str(exc), hint=by_hand(label, files)) from exc
            staged.append(path)
        for path, wanted in zip(staged, files, strict=True):
            wanted.dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, wanted.dest)
        log.info("installed %s in %s", label, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


class Unreachable(InstallError):
    """The server could not be reached at all (offline, refused, unknown host)."""


def download(wanted: RemoteFile, path: Path, progress: Progress | None, label: str) -> None:
    """Fetch ``wanted.url`` into ``path``, checking its length, size and checksum."""
    try:
        response = urllib.request.urlopen(wanted.url, timeout=TIMEOUT)
    except urllib.error.HTTPError as exc:
        raise InstallError(f"{wanted.url} answered HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        host = urllib.parse.urlsplit(wanted.url).netloc or wanted.url
        raise Unreachable(f"cannot reach {host} to download {label}: {reason}") from exc
    hasher = hashlib.new(wanted.digest[0], usedforsecurity=False) if wanted.digest else None
    announced = content_length(response)
    total = wanted.size if wanted.size is not None else announced
    done = 0
    if progress:
        progress(label, 0, total)
    try:
        with response, open(path, "wb") as out:
            while chunk := response.read(CHUNK):
                out.write(chunk)
                if hasher:
                    hasher.update(chunk)
                done += len(chunk)
                if progress:
                    progress(label, done, total)
    except (http.client.HTTPException, OSError) as exc:
        raise InstallError(
            f"download of {wanted.url} broke off after {done} bytes ({exc}); nothing was installed",
            hint="run the same command again",
        ) from exc
    # http.client ends a body cut short without an error: the length is the only sign.
    expected = announced if announced is not None else wanted.size
    if expected is not None and done != expected:
        raise InstallError(
            f"download of {wanted.url} stopped after {done} of {expected} bytes; "
            "nothing was installed",
            hint="run the same command again",
        )
    if wanted.size is not None and done != wanted.size:
        raise InstallError(
            f"{wanted.url} is {done} bytes, not the {wanted.size} its catalogue lists; "
            "nothing was installed"
        )
    if hasher and wanted.digest and hasher.hexdigest() != wanted.digest[1].lower():
        algorithm, digest = wanted.digest
        raise InstallError(
            f"{wanted.url} does not match its published {algorithm} "
            f"({hasher.hexdigest()[:12]}… instead of {digest[:12]}…); nothing was installed",
            hint="try again later; if it persists, the file on the server has changed or "
            "was damaged",
        )


def content_length(response: Any) -> int | None:
    value = response.headers.get("Content-Length") if response.headers else None
    return int(value) if value and value.isdigit() else None


def digest(path: Path, algorithm: str) -> str:
    hasher = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def by_hand(label: str, files: Sequence[RemoteFile], also: str | None = None) -> str:
    """Instructions to install ``files`` without this command (on an offline machine)."""
    lines = [f"to install {label} by hand, download on a machine with internet access"]
    for wanted in files:
        check = f" ({wanted.digest[0]} {wanted.digest[1]})" if wanted.digest else ""
        lines.append(f"  {wanted.url}{check}\n    and save it as {wanted.dest}")
    lines.append(
        f"or copy the files to a folder laid out like the server and set {BASE_URL_ENV} to "
        "its file:// URL"
    )
    if also:
        lines.append(also)
    return "\n".join(lines)
