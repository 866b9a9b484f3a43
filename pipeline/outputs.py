"""A track's files as its manifest records them, and what earlier builds left behind.

The manifest is written last, after every other file of the track is in place, and records
each of those files' size and SHA-256 (``outputs``). A later build takes the track as up to
date only if every file is still what the manifest records: a truncated MP3, an emptied PDF
or a file from another build (an MP3 renamed into place just before the build was killed,
beside the old manifest) is rebuilt.

The check is cheap: a file whose size differs fails at once, and a file of the right size
that has not been modified since the manifest was written (its mtime is not later) is taken
as it is; only a file changed since then is read and digested.

A build killed outright (SIGKILL, a power cut) cannot remove the hidden temporary files it
was writing; :func:`remove_stale_temporaries` removes them on the next build, without
touching those another build, still running, is writing (see :mod:`pipeline.atomic`).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pipeline.atomic import is_stale_temporary

log = logging.getLogger(__name__)

_READ = 1 << 20


def file_record(path: Path) -> dict[str, Any]:
    """What the manifest records of one output file."""
    return {"bytes": path.stat().st_size, "sha256": file_sha256(path)}


def record_outputs(folder: Path, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``{name: {"bytes": …, "sha256": …}}`` for each file ``name`` in ``folder``."""
    return {name: file_record(folder / name) for name in names}


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(_READ):
            digest.update(chunk)
    return digest.hexdigest()


def outputs_intact(folder: Path, manifest_path: Path, recorded: object) -> bool:
    """True when every file that ``recorded`` (a manifest's ``outputs``) names is in
    ``folder`` with the size and digest recorded."""
    if not isinstance(recorded, Mapping) or not recorded:
        return False
    try:
        written_ns = manifest_path.stat().st_mtime_ns
    except OSError:
        return False
    return all(_matches(folder / name, record, written_ns) for name, record in recorded.items())


def _matches(path: Path, record: object, written_ns: int) -> bool:
    if not isinstance(record, Mapping):
        return False
    try:
        found = path.stat()
    except OSError:
        return False
    if found.st_size != record.get("bytes"):
        log.info("%s is not the file the last build wrote (size); rebuilding", path)
        return False
    if found.st_mtime_ns <= written_ns:
        return True  # not touched since its manifest was written
    try:
        same = file_sha256(path) == record.get("sha256")
    except OSError:
        return False
    if not same:
        log.info("%s is not the file the last build wrote (digest); rebuilding", path)
    return same


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Remove the hidden temporary files that builds which died left in ``folder``; return
    them. A temporary file that a live process is still writing stays."""
    removed: list[Path] = []
    try:
        candidates = [entry.path for entry in os.scandir(folder) if entry.name.startswith(".")]
    except OSError:
        return removed
    for name in candidates:
        path = Path(name)
        if is_stale_temporary(path):
            try:
                path.unlink()
            except OSError:
                continue
            log.info("removed %s, left by a build that did not finish", path)
            removed.append(path)
    return removed
