"""Writing output files so that a reader sees the old file or the new one, never half of one.

Each file is written under a hidden temporary name in its own directory (so the final rename
stays on one file system and is atomic), flushed to disk, then renamed over the final path.
If anything goes wrong, Ctrl-C included, the temporary file is removed and the previous
output stays as it was.

A process killed outright cannot remove its temporary file. So that a later build can tell
such a leftover from a file another build is still writing, the temporary name carries the
writer's process ID, and the writer holds an exclusive ``flock`` on the file for as long as
it writes: a temporary file is stale (:func:`is_stale_temporary`) only when no one holds
its lock and its writer is no longer running.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # not on Windows: the writer's process ID alone tells
    fcntl = None  # type: ignore[assignment]

#: ``.<stem>.<pid>.<random>.tmp<suffix>``, as :func:`atomic_path` names its files (the
#: process ID is missing from the names that earlier versions gave them).
_TEMPORARY = re.compile(r"^\..+?(?:\.(?P<pid>\d+))?\.[a-z0-9_]{8}\.tmp(?:\.[^.]*)?$")


@contextlib.contextmanager
def atomic_path(final: Path | str) -> Iterator[Path]:
    """Yield a temporary path next to ``final``; on a clean exit, move it onto ``final``.

    The temporary name is hidden (starts with a dot) and keeps ``final``'s suffix, so tools
    that choose a format from the extension (ffmpeg) do the right thing. The file already
    exists, empty, when the block starts.
    """
    final = Path(final)
    with _locked_temporary(final) as temp:
        try:
            yield temp
            # mkstemp makes the file private; outputs get the permissions of a normal new file.
            os.chmod(temp, 0o666 & ~_umask())
            _fsync_file(temp)
            os.replace(temp, final)
        except BaseException:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise
    _fsync_directory(final.parent)


@contextlib.contextmanager
def scratch_path(near: Path | str) -> Iterator[Path]:
    """Yield a temporary file named after ``near`` and beside it, removed when the block
    ends: for intermediate files. It is named and locked like :func:`atomic_path`'s, so a
    later build removes it if this process is killed while it exists."""
    with _locked_temporary(Path(near)) as temp:
        try:
            yield temp
        finally:
            with contextlib.suppress(OSError):
                temp.unlink()


@contextlib.contextmanager
def _locked_temporary(final: Path) -> Iterator[Path]:
    """A new, empty, hidden temporary file next to ``final``, locked while the block runs."""
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(
        prefix=f".{final.stem}.{os.getpid()}.", suffix=f".tmp{final.suffix}", dir=final.parent
    )
    try:
        if fcntl is not None:
            # Held until the file is renamed or removed: it marks the file as being written.
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield Path(name)
    finally:
        os.close(fd)


def is_stale_temporary(path: Path) -> bool:
    """True when ``path`` is a temporary file of :func:`atomic_path` whose writer has died:
    no process holds its lock, and the process that made it is not running."""
    match = _TEMPORARY.match(path.name)
    if match is None:
        return False
    if fcntl is not None:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # someone is writing it
        finally:
            os.close(fd)  # and with it the lock, if it was taken
    # Unlocked, but its writer may be between creating the file and locking it.
    pid = match.group("pid")
    return pid is None or not process_running(int(pid))


def process_running(pid: int) -> bool:
    """True when process ``pid`` exists (or cannot be told apart from one that does)."""
    if pid == os.getpid() or os.name != "posix":  # os.kill(pid, 0) ends a Windows process
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: running, as someone else
        return True
    return True


def write_bytes_atomic(path: Path | str, data: bytes) -> None:
    with atomic_path(path) as temp:
        temp.write_bytes(data)


def write_text_atomic(path: Path | str, text: str, encoding: str = "utf-8") -> None:
    # newline="" keeps "\n" as written on every platform: outputs are byte-identical.
    with atomic_path(path) as temp, open(temp, "w", encoding=encoding, newline="") as stream:
        stream.write(text)


def _umask() -> int:
    # The only portable way to read the umask is to set it and put it back.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as stream:
        os.fsync(stream.fileno())


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable; not possible (nor needed) on every platform."""
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
