"""The project root as a boundary: every file voicetrack reads or writes because of a script,
a profile, a lexicon, a command-line option or a project setting must lie inside it.

The check resolves symlinks first, so a link inside the project that points out of it counts
as outside. The folder of installed voices is a second root of the same kind for the names
a profile gives there.
"""

from __future__ import annotations

import os
from pathlib import Path

from pipeline.errors import OutsideRoot, ScriptError


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


def _reason(error: OSError) -> str:
    return error.strerror or str(error)
