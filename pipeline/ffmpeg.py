"""Finding and running ffmpeg.

voicetrack needs no system packages: when neither ``VOICETRACK_FFMPEG`` nor a ``ffmpeg`` on
``PATH`` is there, it uses the static binary that the ``imageio-ffmpeg`` wheel ships. That
binary has no ffprobe, so nothing here (or anywhere in the pipeline) depends on ffprobe.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Literal

from pipeline.errors import EncodeError

#: Environment variable naming the ffmpeg executable to use, overriding every other choice.
ENV_VAR = "VOICETRACK_FFMPEG"

FfmpegOrigin = Literal["VOICETRACK_FFMPEG", "PATH", "imageio-ffmpeg"]


@functools.lru_cache(maxsize=1)
def which_ffmpeg() -> tuple[str, FfmpegOrigin]:
    """The ffmpeg executable to use and where it was found, for ``voicetrack doctor``-style
    reports. Looked up once per process; ``which_ffmpeg.cache_clear()`` forgets the answer."""
    configured = os.environ.get(ENV_VAR)
    if configured:
        path = shutil.which(configured) or configured
        if not Path(path).is_file():
            raise EncodeError(f"{ENV_VAR} names {configured!r}, which is not an executable file")
        return path, "VOICETRACK_FFMPEG"
    on_path = shutil.which("ffmpeg")
    if on_path:
        return on_path, "PATH"
    try:
        import imageio_ffmpeg
    except ImportError as exc:  # a dependency, but an installation can still be broken
        error = EncodeError("ffmpeg not found: it is not on PATH and imageio-ffmpeg is missing")
        error.hint = "pip install imageio-ffmpeg, or set VOICETRACK_FFMPEG to an ffmpeg binary"
        raise error from exc
    try:
        return imageio_ffmpeg.get_ffmpeg_exe(), "imageio-ffmpeg"
    except RuntimeError as exc:  # the wheel has no binary for this platform
        error = EncodeError(f"ffmpeg not found: {exc}")
        error.hint = "install ffmpeg, or set VOICETRACK_FFMPEG to an ffmpeg binary"
        raise error from exc


def ffmpeg_exe() -> str:
    """Path of the ffmpeg executable (see :func:`which_ffmpeg`)."""
    return which_ffmpeg()[0]


def run_ffmpeg(
    args: Sequence[str], *, input: bytes | None = None, exe: str | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run ffmpeg with ``args`` (without the program name), capturing stdout and stderr.

    Raises :class:`EncodeError` with the command, exit status and stderr when ffmpeg fails.
    """
    command = [exe or ffmpeg_exe(), "-hide_banner", *args]
    try:
        result = subprocess.run(command, input=input, capture_output=True, check=False)
    except OSError as exc:
        raise EncodeError(f"could not start ffmpeg: {exc}", command=command) from exc
    if result.returncode != 0:
        raise EncodeError(
            "ffmpeg failed",
            command=command,
            returncode=result.returncode,
            stderr=result.stderr.decode("utf-8", "replace"),
        )
    return result


class RunningFfmpeg:
    """An ffmpeg started by :func:`start_ffmpeg`, its stderr read as it comes."""

    def __init__(self, command: list[str], process: subprocess.Popen[bytes]) -> None:
        assert process.stderr is not None
        self.command = command
        self.process = process
        self._stderr: list[bytes] = []
        self._reader = threading.Thread(
            target=_collect_stream, args=(process.stderr, self._stderr), daemon=True
        )
        self._reader.start()

    def failure(self, message: str, returncode: int) -> EncodeError:
        """The error for this run having ended with ``returncode``; waits for its stderr."""
        return EncodeError(
            message, command=self.command, returncode=returncode, stderr=self.stderr()
        )

    def stderr(self) -> str:
        """Everything ffmpeg wrote to stderr (once it has closed it)."""
        self._reader.join()
        return b"".join(self._stderr).decode("utf-8", "replace")


def start_ffmpeg(
    command: list[str], *, stdin: int | None = None, stdout: int | None = None
) -> RunningFfmpeg:
    """Start ``command`` (an ffmpeg command line) with its stderr read in a thread beside
    it, so a full stderr pipe never stalls it. Raises :class:`EncodeError` when ffmpeg
    cannot be started."""
    try:
        process = subprocess.Popen(command, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE)
    except OSError as exc:
        raise EncodeError(f"could not start ffmpeg: {exc}", command=command) from exc
    return RunningFfmpeg(command, process)


def _collect_stream(stream: IO[bytes], into: list[bytes]) -> None:
    """Read ``stream`` to its end into ``into``, then close it."""
    for line in stream:
        into.append(line)
    stream.close()
