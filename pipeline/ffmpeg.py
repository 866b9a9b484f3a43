"""Finding and running ffmpeg.

voicetrack needs no system packages: when neither ``VOICETRACK_FFMPEG`` nor a ``ffmpeg`` on
``PATH`` is there, it uses the static binary that the ``imageio-ffmpeg`` wheel ships. That
binary has no ffprobe, so nothing here (or anywhere in the pipeline) depends on ffprobe.
"""

from __future__ import annotations

import functools
import os
import queue
import shutil
import subprocess
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Literal

import numpy as np

from pipeline.errors import EncodeError

#: Environment variable naming the ffmpeg executable to use, overriding every other choice.
ENV_VAR = "VOICETRACK_FFMPEG"

#: Samples a decoder hands on at a time (about 6 s at 44.1 kHz).
DECODE_BLOCK = 1 << 18
#: Decoded blocks that may wait to be used (each about 1 MB).
READ_AHEAD = 4

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


# --------------------------------------------------------------------------- decoding


def decode_file(path: Path | str, sr: int = 44100) -> np.ndarray:
    """Mono float32 samples of an audio file (its first audio stream), decoded by ffmpeg at
    ``sr`` (gapless for our MP3s). Raises :class:`EncodeError` when ffmpeg fails."""
    result = run_ffmpeg(["-nostdin", *_decoder_args(path, sr), "-f", "f32le", "-"])
    return np.frombuffer(result.stdout, dtype=np.float32)


def decoded_blocks(path: Path | str, sr: int = 44100) -> Iterator[np.ndarray]:
    """Mono float32 samples of an audio file as ffmpeg decodes them, :data:`DECODE_BLOCK` at a
    time, so a long file is never held whole.

    Raises :class:`EncodeError` with the command, exit status and stderr when ffmpeg fails.
    """
    command = [ffmpeg_exe(), "-hide_banner", *_decoder_args(path, sr), "-f", "f32le", "-"]
    running = start_ffmpeg(command, stdout=subprocess.PIPE)
    process = running.process
    assert process.stdout is not None
    # stdout is read a few blocks ahead, so ffmpeg decodes while the last block is measured.
    ready: queue.Queue[bytes | None] = queue.Queue(maxsize=READ_AHEAD)
    stop = threading.Event()
    decoder = threading.Thread(target=_read_ahead, args=(process.stdout, ready, stop), daemon=True)
    decoder.start()
    try:
        carry = b""
        while (chunk := ready.get()) is not None:
            chunk = carry + chunk
            usable = len(chunk) - len(chunk) % 4
            carry = chunk[usable:]
            if usable:
                yield np.frombuffer(chunk[:usable], dtype="<f4").astype(np.float32)
        returncode = process.wait()
    finally:
        stop.set()
        if process.poll() is None:  # the consumer stopped early
            process.kill()
            process.wait()
        decoder.join()
        process.stdout.close()
    if returncode != 0:
        raise running.failure("ffmpeg failed", returncode)


def _decoder_args(path: Path | str, sr: int) -> list[str]:
    return ["-v", "error", "-i", str(path), "-map", "0:a:0", "-ac", "1", "-ar", str(sr)]


def _read_ahead(stream: IO[bytes], ready: queue.Queue[bytes | None], stop: threading.Event) -> None:
    """Put what ``stream`` gives on ``ready`` a block at a time, then None, unless told to
    stop (the queue being full then must not hold this thread forever)."""

    def put(item: bytes | None) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    try:
        while chunk := stream.read(DECODE_BLOCK * 4):
            if not put(chunk):
                return
    except (OSError, ValueError):
        pass  # the stream was closed under us: the process is being stopped
    put(None)
