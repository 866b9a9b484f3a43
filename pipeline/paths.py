"""The project root as a boundary: every file voicetrack reads or writes because of a script,
a profile, a lexicon, a command-line option or a project setting must lie inside it.

The check resolves symlinks first, so a link inside the project that points out of it counts
as outside. The folder of installed voices (:func:`data_dir`) is a second root of the same kind
for the names a profile gives there.

This module sits below everything else in the package (engines, voices, takes, listen and
install all import it, and it imports nothing of theirs): it also knows where downloaded voices
live and hashes model files once per process (:func:`file_digest`), since every build computes
each engine's identity.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
from pathlib import Path

from pipeline.errors import OutsideRoot, ScriptError

#: Environment variable naming the folder where voicetrack keeps downloaded voices.
DATA_DIR_ENV = "VOICETRACK_DATA_DIR"


def inside_root(
    root: Path, path: str | os.PathLike[str], *, follow_links: bool = True
) -> Path | None:
    """``root / path`` (``path`` relative to ``root``, or absolute) with every symlink
    resolved, or None when that leaves ``root``.

    With ``follow_links`` False only the path as written is judged (``..`` and absolute
    parts), for a folder whose links are its owner's own doing, such as the folder of
    installed voices: a name from a project may not climb out of it, but a voice the user
    linked there is theirs to use.
    """
    base = Path(root).resolve()
    if not follow_links:
        target = Path(os.path.normpath(base / path))
        return target if target.is_relative_to(base) else None
    target = (base / path).resolve()
    return target if target.is_relative_to(base) else None


def require_inside(root: Path, path: Path) -> Path:
    """``path`` resolved, for a file or folder voicetrack is about to read or write because
    of an option or a setting; OutsideRoot when it leads out of ``root``."""
    resolved = inside_root(root, path)
    if resolved is None:
        raise OutsideRoot(
            f"{display_path(path, root)} leads outside the project root (to "
            f"{(Path(root) / path).resolve()}); voicetrack reads and writes only inside the "
            "project"
        )
    return resolved


def display_path(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when inside it (as shown in messages), else as given.

    A path that is inside the root as written, but links out of it, is shown as written.
    """
    for candidate, base in (
        (Path(path).resolve(), Path(root).resolve()),
        (Path(os.path.abspath(path)), Path(os.path.abspath(root))),
    ):
        if candidate.is_relative_to(base):
            return candidate.relative_to(base).as_posix()
    return str(path)


def read_source(path: Path, shown: str, what: str) -> str:
    """The UTF-8 text of an input file (a script, a lexicon: ``what``); a ScriptError at the
    file's first line when it cannot be read, or at the first byte that is not UTF-8."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise ScriptError.at(shown, 1, 1, f"cannot read the {what}: {_reason(error)}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        before = data[: error.start].decode("utf-8", errors="replace")
        line = before.count("\n") + 1
        col = len(before) - (before.rfind("\n") + 1) + 1
        bad = data[error.start : error.start + 1].hex()
        raise ScriptError.at(shown, line, col, f"not UTF-8 text (byte 0x{bad})") from None


def data_dir() -> Path:
    """The per-user folder for downloaded voices: ``$VOICETRACK_DATA_DIR`` if set, else the
    platform's user data folder (``~/.local/share/voicetrack`` on Linux)."""
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "voicetrack"


_digests: dict[tuple[str, int, int], str] = {}
_digests_lock = threading.Lock()


def file_digest(path: Path) -> str:
    """sha256 of a file, computed once per process for each (path, mtime, size).

    Engines put model hashes in their identity, which every build computes; hashing a 60 MB
    model on each call would dominate a build that is otherwise fully cached.
    """
    resolved = Path(path).resolve()
    st = resolved.stat()
    key = (str(resolved), st.st_mtime_ns, st.st_size)
    with _digests_lock:
        cached = _digests.get(key)
    if cached is not None:
        return cached
    h = hashlib.sha256()
    with open(resolved, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    digest = h.hexdigest()
    with _digests_lock:
        _digests[key] = digest
    return digest


def _reason(error: OSError) -> str:
    return error.strerror or str(error)
