"""The project root as a boundary: every file voicetrack reads or writes because of a script,
a profile, a lexicon, a command-line option or a project setting must lie inside it.

The check resolves symlinks first, so a link inside the project that points out of it counts
as outside. The folder of installed voices is a second root of the same kind for the names
a profile gives there.
"""

from __future__ import annotations

import os
from pathlib import Path


def inside_root(root: Path, path: str | os.PathLike[str]) -> Path | None:
    """``root / path`` (``path`` relative to ``root``, or absolute) with every symlink
    resolved, or None when that leaves ``root``."""
    base = Path(root).resolve()
    target = (base / path).resolve()
    return target if target.is_relative_to(base) else None


def is_inside(root: Path, path: str | os.PathLike[str]) -> bool:
    return inside_root(root, path) is not None
