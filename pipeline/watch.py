"""Watch a project's inputs and rebuild when one changes (``voicetrack build --watch``).

paths, root -> a call to ``rebuild`` with the files that changed, each time some do

What is watched is everything a build reads from the project: the scripts (a folder's new
scripts too), the lexicon files that apply to them, the files beside the scripts (cover
images), and the voice profiles in ``voices/``. Files are compared by modification time
and size, polled at an interval: no platform file-event API, and nothing to install.
Editors often save in several steps, so a change is acted on once the files have stopped
changing for one interval.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from pipeline.check import find_scripts
from pipeline.lexicon import lexicon_files

#: Seconds between two looks at the files.
INTERVAL_S = 0.5

Snapshot = dict[Path, tuple[int, int]]  # file -> (modification time in ns, size)


def watched_files(paths: Sequence[Path], root: Path) -> list[Path]:
    """Every file a build of ``paths`` reads from the project rooted at ``root``, as
    absolute paths."""
    try:
        scripts = find_scripts(paths)
    except FileNotFoundError:  # a script named on the command line was moved away
        scripts = [p for p in paths if p.is_file()]
    files: set[Path] = set(scripts)
    folders = {p.parent for p in scripts} | {p for p in paths if p.is_dir()}
    for folder in folders:
        files.update(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
        files.update(lexicon_files(folder, root))
    voices = root / "voices"
    if voices.is_dir():
        files.update(voices.glob("*.toml"))
    return sorted({p.resolve() for p in files})


def snapshot(files: Iterable[Path]) -> Snapshot:
    """Modification time and size of each of ``files`` that exists."""
    found: Snapshot = {}
    for path in files:
        try:
            stat = path.stat()
        except OSError:
            continue
        found[path] = (stat.st_mtime_ns, stat.st_size)
    return found


def changed_files(before: Snapshot, after: Snapshot) -> list[Path]:
    """Files added, removed or modified between two snapshots."""
    return sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))


def watch(
    paths: Sequence[Path],
    root: Path,
    rebuild: Callable[[list[Path]], None],
    *,
    interval: float = INTERVAL_S,
    stop: threading.Event | None = None,
) -> None:
    """Call ``rebuild`` with the changed files whenever the inputs of ``paths`` change and
    have settled, until ``stop`` is set (or forever; Ctrl-C ends it)."""
    stop = stop or threading.Event()
    current = snapshot(watched_files(paths, root))
    while not stop.wait(interval):
        seen = snapshot(watched_files(paths, root))
        if seen == current:
            continue
        # Wait until the files stop changing: an editor may still be writing them.
        while not stop.wait(interval):
            settled = snapshot(watched_files(paths, root))
            if settled == seen:
                break
            seen = settled
        if stop.is_set():
            return
        changed = changed_files(current, seen)
        current = seen
        rebuild(changed)  # edits made meanwhile differ from ``current``: the next look sees them
