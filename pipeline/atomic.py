"""Writing output files so that a reader sees the old file or the new one, never half of one.

Each file is written under a hidden temporary name in its own directory (so the final rename
stays on one file system and is atomic), flushed to disk, then renamed over the final path.
If anything goes wrong, Ctrl-C included, the temporary file is removed and the previous
output stays as it was.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(final: Path | str) -> Iterator[Path]:
    """Yield a temporary path next to ``final``; on a clean exit, move it onto ``final``.

    The temporary name is hidden (starts with a dot) and keeps ``final``'s suffix, so tools
    that choose a format from the extension (ffmpeg) do the right thing. The file already
    exists, empty, when the block starts.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(
        prefix=f".{final.stem}.", suffix=f".tmp{final.suffix}", dir=final.parent
    )
    os.close(fd)
    temp = Path(name)
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
