"""Encode stage: a mastered track + its tags and chapters -> a tagged MP3 file.

The samples are streamed to ffmpeg (libmp3lame, CBR, mono, 44.1 kHz) as raw float32, a block
at a time, straight from the master, so an hour-long track is never held whole in memory.
ffmpeg writes no tag of its own; the ID3v2.3 tag (title, album, track, artist, language,
comment, cover, chapters) is written with mutagen into the temporary file before it is
renamed into place, so no reader ever sees an untagged or half-written file.

:func:`encode_mp3` encodes samples in memory; :func:`encode_blocks` and :func:`finish_mp3`
encode a stream of blocks and tag the result (:mod:`pipeline.mastering` feeds them the
master as it is made). :func:`encode_frames` and :func:`add_header_frame` do the same for a
track laid out as pieces (:mod:`pipeline.pieces`).

The MP3's own headers (gapless length, chapter frame order) are read and patched by
:mod:`pipeline.mp3header`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import queue
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import ffmpeg
import numpy as np
from mutagen.id3 import (
    APIC,
    CHAP,
    COMM,
    CTOC,
    ID3,
    TALB,
    TIT2,
    TLAN,
    TLEN,
    TPE1,
    TRCK,
    CTOCFlags,
    Encoding,
    PictureType,
)

from pipeline.atomic import atomic_path
from pipeline.errors import EncodeError
from pipeline.ffmpeg import ffmpeg_exe, run_ffmpeg, start_ffmpeg
from pipeline.images import image_type
from pipeline.model import SAMPLE_RATE, Chapter, TrackTags
from pipeline.mp3frames import FRAME_SAMPLES, split_frames
from pipeline.mp3header import (
    GaplessInfo,
    audio_start,
    gapless_info,
    order_chapter_frames,
    set_gapless_padding,
)

log = logging.getLogger(__name__)

#: Samples sent to ffmpeg per write (10 s); keeps the pipe busy without a copy of the track.
CHUNK = 441_000
#: Blocks of the master that may wait for the encoder (each about 1 MB).
WRITE_AHEAD = 4
#: ISO 639-2 codes for the ID3 TLAN frame, by the language subtag of a BCP 47 locale.
ISO_639_2 = {
    "en": "eng",
    "cy": "cym",
    "de": "deu",
    "es": "spa",
    "fr": "fra",
    "ga": "gle",
    "it": "ita",
    "nl": "nld",
    "pt": "por",
}
#: LAME quality (ffmpeg's -compression_level for libmp3lame): 2 is LAME's "high quality".
LAME_QUALITY = 2


@dataclass(frozen=True)
class EncodeReport:
    path: Path
    input_samples: int
    sample_rate: int
    gapless: GaplessInfo | None  # None when the file has no LAME header

    @property
    def seconds(self) -> float:
        return self.input_samples / self.sample_rate


def encode_mp3(
    samples: np.ndarray,
    sr: int,
    path: Path | str,
    tags: TrackTags,
    chapters: Sequence[Chapter],
    bitrate: str = "96k",
) -> EncodeReport:
    """Write ``samples`` (mono float, rate ``sr``) to ``path`` as a tagged CBR MP3.

    Chapter times are samples at ``sr``.
    Raises :class:`EncodeError` when ffmpeg or tagging fails; ``path`` is then untouched.
    """
    samples = np.asarray(samples).reshape(-1)
    path = Path(path)

    with atomic_path(path) as temp:
        encode_blocks(
            (samples[start : start + CHUNK] for start in range(0, len(samples), CHUNK)),
            sr,
            temp,
            bitrate,
        )
        report = finish_mp3(temp, path, tags, chapters, len(samples), sr)
    return report


def encode_blocks(
    blocks: Iterable[np.ndarray], sr: int, output: Path, bitrate: str = "96k"
) -> None:
    """Encode mono float samples, given a block at a time, to an untagged MP3 at ``output``
    (which the caller names and, when done, tags with :func:`finish_mp3`).

    The blocks are written to ffmpeg from a thread of their own, a few ahead, so the
    encoder works on one block while the next is being made (by the master, say).
    """

    def feed(write: Callable[[np.ndarray], None]) -> None:
        for block in blocks:
            write(block)

    _run_encoder(feed, sr, output, bitrate)


def encode_frames(
    blocks: Iterable[np.ndarray], sr: int, output: Path, bitrate: str = "96k"
) -> None:
    """Encode as :func:`encode_blocks` does, but to bare frames: no LAME/Info header frame
    (for frames that will be laid out with others, see :mod:`pipeline.pieces`)."""

    def feed(write: Callable[[np.ndarray], None]) -> None:
        for block in blocks:
            write(block)

    _run_encoder(feed, sr, output, bitrate, header=False)


def add_header_frame(frames: Path, output: Path) -> None:
    """Write the bare MP3 frames in ``frames`` to ``output`` behind a LAME/Info header
    frame: ffmpeg's muxer counts the frames, indexes them for seeking and checksums them.
    The header gives no encoder delay (ffmpeg cannot know it for copied frames):
    :func:`finish_mp3` writes it."""
    run_ffmpeg(
        [
            "-v",
            "error",
            "-f",
            "mp3",
            "-i",
            str(frames),
            "-c:a",
            "copy",
            "-write_xing",
            "1",
            "-id3v2_version",
            "0",
            "-write_id3v1",
            "0",
            "-map_metadata",
            "-1",
            "-f",
            "mp3",
            "-y",
            str(output),
        ]
    )


@functools.cache
def encoder_frame_format(bitrate: str = "96k") -> tuple[bytes, int]:
    """A frame as the encoder writes it at ``bitrate`` (frames of silence copy its header)
    and the encoder's delay in samples, as the encoder's own header gives it. Found once
    per process, by encoding a few frames of silence."""
    with tempfile.TemporaryDirectory(prefix="voicetrack-") as folder:
        probe = Path(folder) / "probe.mp3"
        encode_blocks([np.zeros(4 * FRAME_SAMPLES, dtype=np.float32)], SAMPLE_RATE, probe, bitrate)
        info = gapless_info(probe)
        data = probe.read_bytes()
    if info is None:
        raise EncodeError("the encoder wrote no LAME/Info header")
    frames = split_frames(data[audio_start(data[:10]) :])
    return frames[1], info.encoder_delay


def encoder_command(sr: int, output: Path, bitrate: str = "96k", header: bool = True) -> list[str]:
    """The ffmpeg command that reads raw float32 mono PCM at ``sr`` on stdin and writes
    an untagged 44.1 kHz mono CBR MP3 to ``output``, with a LAME/Info header frame unless
    ``header`` is False."""
    source = ffmpeg.input("pipe:0", format="f32le", ac=1, ar=sr)
    sink = source.output(
        str(output),
        format="mp3",
        acodec="libmp3lame",
        audio_bitrate=bitrate,
        ac=1,
        ar=SAMPLE_RATE,
        compression_level=LAME_QUALITY,
        write_xing=int(header),  # the header that carries encoder delay and padding
        id3v2_version=0,  # tags are written by write_tags
        write_id3v1=0,
        map_metadata=-1,
    )
    program = [ffmpeg_exe(), "-hide_banner", "-v", "error"]
    return list(ffmpeg.compile(sink, cmd=program, overwrite_output=True))


def write_tags(
    path: Path,
    tags: TrackTags,
    chapters: Sequence[Chapter],
    sr: int,
    length: int | None = None,
) -> None:
    """Replace the ID3v2 tag of ``path`` with ``tags`` and ``chapters`` (ID3v2.3, which
    podcast apps and car stereos read more reliably than 2.4); ``length`` (samples at
    ``sr``) is written as the exact duration (TLEN, in milliseconds)."""
    id3 = ID3()
    id3.add(TIT2(encoding=Encoding.UTF8, text=[tags.title]))
    if length is not None:
        id3.add(TLEN(encoding=Encoding.UTF8, text=[str(round(length * 1000 / sr))]))
    if tags.album:
        id3.add(TALB(encoding=Encoding.UTF8, text=[tags.album]))
    if tags.track is not None:
        id3.add(TRCK(encoding=Encoding.UTF8, text=[str(tags.track)]))
    if tags.artist:
        id3.add(TPE1(encoding=Encoding.UTF8, text=[tags.artist]))
    language = id3_language(tags.language)
    id3.add(TLAN(encoding=Encoding.UTF8, text=[language]))
    if tags.comment:
        id3.add(COMM(encoding=Encoding.UTF8, lang=language, desc="", text=[tags.comment]))
    if tags.cover:
        mime = tags.cover_mime or image_type(tags.cover)
        if mime is None:
            raise EncodeError("the cover is neither a PNG nor a JPEG image")
        id3.add(
            APIC(
                encoding=Encoding.UTF8,
                mime=mime,
                type=PictureType.COVER_FRONT,
                desc="Cover",
                data=tags.cover,
            )
        )
    frames = chapter_frames(chapters, sr)
    for frame in frames:
        id3.add(frame)
    id3.save(path, v2_version=3)
    if len(chapters) > 1:
        order_chapter_frames(path, chapter_ids(len(chapters)))


def chapter_frames(chapters: Sequence[Chapter], sr: int) -> list[CHAP | CTOC]:
    """CHAP frames (times in ms, titled) plus the ordered top-level CTOC that lists them."""
    if not chapters:
        return []
    ids = chapter_ids(len(chapters))
    frames: list[CHAP | CTOC] = [
        CHAP(
            element_id=element_id,
            start_time=round(chapter.start * 1000 / sr),
            end_time=round(chapter.end * 1000 / sr),
            # No byte offsets: readers must use the times.
            start_offset=0xFFFFFFFF,
            end_offset=0xFFFFFFFF,
            sub_frames=[TIT2(encoding=Encoding.UTF8, text=[chapter.title])],
        )
        for element_id, chapter in zip(ids, chapters, strict=True)
    ]
    frames.append(
        CTOC(
            element_id="toc",
            flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED,
            child_element_ids=ids,
            sub_frames=[],
        )
    )
    return frames


def chapter_ids(count: int) -> list[str]:
    """The element IDs of ``count`` chapters, in time order."""
    return [f"chp{index}" for index in range(count)]


def id3_language(locale: str) -> str:
    """ISO 639-2 code for a BCP 47 locale ("en-GB" -> "eng"); "und" when not known."""
    language = locale.split("-")[0].lower()
    code = ISO_639_2.get(language)
    if code is None:
        log.warning("no ISO 639-2 code known for %s; tagging the language as undetermined", locale)
        return "und"
    return code


# --------------------------------------------------------------------------- internals


def finish_mp3(
    temp: Path,
    path: Path,
    tags: TrackTags,
    chapters: Sequence[Chapter],
    count: int,
    sr: int,
    encoder_delay: int | None = None,
) -> EncodeReport:
    """Correct the gapless length of the encoded temporary file ``temp`` (to become
    ``path``), tag it, and check it; ``count`` samples at ``sr`` went in. ``encoder_delay``
    is written into the header when given (for a header that does not know it)."""
    expected = round(count * SAMPLE_RATE / sr)
    set_gapless_padding(temp, expected, encoder_delay)
    try:
        write_tags(temp, tags, chapters, sr, count)
    except Exception as exc:  # mutagen raises its own errors and OSError
        raise EncodeError(f"could not tag {path.name}: {exc}") from exc
    gapless = gapless_info(temp)
    if gapless is None:
        log.warning("%s has no LAME header: players may add about 25 ms at the start", path)
    elif gapless.samples != expected:
        log.warning("%s: gapless length %d samples, expected %d", path, gapless.samples, expected)
    return EncodeReport(path=path, input_samples=count, sample_rate=sr, gapless=gapless)


def _run_encoder(
    feed: Callable[[Callable[[np.ndarray], None]], None],
    sr: int,
    output: Path,
    bitrate: str,
    header: bool = True,
) -> None:
    """Run the encoder, with ``feed`` writing the samples to its input a block at a time."""
    running = start_ffmpeg(
        encoder_command(sr, output, bitrate, header),
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
    )
    process = running.process
    assert process.stdin is not None
    # Blocks are written from a thread of its own, a few ahead, so the encoder works on
    # one block while the next is being mastered (with a bare pipe they take turns).
    pending: queue.Queue[bytes | None] = queue.Queue(maxsize=WRITE_AHEAD)
    failed: list[BaseException] = []
    writer = threading.Thread(
        target=_write_behind, args=(process.stdin, pending, failed), daemon=True
    )
    writer.start()
    try:
        try:

            def write(block: np.ndarray) -> None:
                if failed:
                    raise failed[0]
                pending.put(np.asarray(block).astype("<f4", copy=False).tobytes())

            try:
                feed(write)
            finally:
                pending.put(None)
                writer.join()
            if failed:
                raise failed[0]
        except BrokenPipeError:
            pass  # ffmpeg stopped early; its exit status and stderr say why
        returncode = process.wait()
    finally:
        if process.poll() is None:  # interrupted while feeding ffmpeg
            process.kill()
            process.wait()
        with contextlib.suppress(OSError):
            process.stdin.close()
    if returncode != 0:
        raise running.failure("ffmpeg could not encode the MP3", returncode)


def _write_behind(
    stream: IO[bytes], pending: queue.Queue[bytes | None], failed: list[BaseException]
) -> None:
    """Write what arrives on ``pending`` to ``stream`` until None, then close it.

    A failed write (BrokenPipeError when ffmpeg has stopped) is put in ``failed`` for the
    feeding thread to raise, and the rest is taken and dropped, so the feeder is never
    left waiting on a full queue.
    """
    while (data := pending.get()) is not None:
        if failed:
            continue
        try:
            stream.write(data)
        except BaseException as exc:  # raised again in the feeding thread
            failed.append(exc)
    with contextlib.suppress(OSError):
        stream.close()
