"""Encode stage: a mastered track + its tags and chapters -> a tagged MP3 file.

The samples are streamed to ffmpeg (libmp3lame, CBR, mono, 44.1 kHz) as raw float32, a block
at a time, straight from the master, so an hour-long track is never held whole in memory.
ffmpeg writes no tag of its own; the ID3v2.3 tag (title, album, track, artist, language,
comment, cover, chapters) is written with mutagen into the temporary file before it is
renamed into place, so no reader ever sees an untagged or half-written file.

:func:`encode_mp3` encodes a master as it is. :func:`write_mastered_mp3` masters too, and
checks the loudness and true peak of the encoded file, mastering again when the encoder
has moved them off target.

Encoder delay: LAME delays its output by 576 samples, the decoder adds 529 more, and the
last frame is padded to a whole frame. ffmpeg records delay and padding in the LAME/Info
header of the first frame, and a decoder that reads it (ffmpeg's does) removes both: the
decoded track is exactly as long as the input, sample for sample, so chapter and caption
times need no offset. :func:`gapless_info` reads that header back to check it. A decoder
that ignores the header plays everything 1105 samples (25 ms) late: well inside the
+-50 ms the timing model promises.
"""

from __future__ import annotations

import contextlib
import logging
import math
import queue
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
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
from pipeline.ffmpeg import ffmpeg_exe, start_ffmpeg
from pipeline.master import BlockSink, MasterReport, as_track, master_blocks, measure_file
from pipeline.model import SAMPLE_RATE, Chapter, Loudness, TrackAudio, TrackTags

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
#: Encoded loudness counts as on target within this (ffmpeg reports tenths of an LU); a
#: miss costs a second master and encode, so this is a third of the promised +-1 LU.
ENCODED_TOLERANCE_LU = 0.3
#: How much quieter LAME makes a mono stream at 128 kbps and below (measured: about
#: 0.45 dB); the first attempt aims this much higher so it usually lands on target.
LAME_LEVEL_LOSS_DB = 0.4
#: What the outputs promise (SCRIPT_FORMAT.md): integrated loudness within this of the
#: target. A track still further off after every attempt is a failed render.
PROMISED_TOLERANCE_LU = 1.0
#: ffmpeg reports true peak in tenths of a dB: a reading this far over the limit is a miss.
PEAK_SLACK_DB = 0.05
#: Extra distance kept from the true-peak limit after a miss.
PEAK_GUARD_DB = 0.2
ENCODE_ATTEMPTS = 3


@dataclass(frozen=True)
class GaplessInfo:
    """What the LAME/Info header of an MP3 says about its length."""

    frames: int  # audio frames, not counting the header frame
    samples_per_frame: int
    encoder_delay: int  # samples the encoder added at the start (decoders add 529 more)
    padding: int  # samples of padding at the end

    @property
    def samples(self) -> int:
        """Length a gapless decoder plays."""
        return self.frames * self.samples_per_frame - self.encoder_delay - self.padding


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

    def feed(write: BlockSink) -> None:
        for start in range(0, len(samples), CHUNK):
            write(samples[start : start + CHUNK])

    with atomic_path(path) as temp:
        _run_encoder(feed, sr, temp, bitrate)
        report = _finish(temp, path, tags, chapters, len(samples), sr)
    return report


@dataclass(frozen=True)
class MasterHint:
    """Where the last master of a track landed, as offsets that survive a change of target:
    a rebuild after a small edit starts there and usually needs one gain pass and one
    encode instead of several."""

    makeup_db: float  # gain the limiting cost, over the gain that reaches the aim unlimited
    level_offset_db: float  # loudness aimed at, less the target (the encoder's level loss)
    peak_offset_db: float  # true-peak limit aimed at, less the limit

    def to_dict(self) -> dict[str, float]:
        return {name: round(value, 4) for name, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: object) -> MasterHint | None:
        """The hint in ``data`` (as :meth:`to_dict` gives it), or None if it is not one."""
        if not isinstance(data, dict):
            return None
        try:
            values = [float(data[field.name]) for field in fields(cls)]
        except (KeyError, TypeError, ValueError):
            return None
        if not all(math.isfinite(v) and abs(v) < 100 for v in values):
            return None
        return cls(*values)


@dataclass(frozen=True)
class MasteredMp3:
    loudness: Loudness  # measured on the file written
    master: MasterReport  # of the master that was encoded
    encode: EncodeReport
    attempts: int
    hint: MasterHint | None  # where this master landed (None for a silent track)


def write_mastered_mp3(
    samples: np.ndarray | TrackAudio,
    sr: int,
    path: Path | str,
    tags: TrackTags,
    chapters: Sequence[Chapter],
    *,
    target_lufs: float = -16.0,
    true_peak_limit: float = -1.0,
    bitrate: str = "96k",
    hint: MasterHint | None = None,
) -> MasteredMp3:
    """Master an assembled track and write it as a tagged MP3 whose *encoded* loudness is
    on target and whose encoded true peak is within the limit. ``hint`` (from the last
    build of this track) is where the gain search and the encoder corrections start.

    The encoder changes both: LAME lowers the level of a low-bitrate mono stream by about
    0.45 dB, and its quantisation noise can push true peaks up, more so for full-band
    audio. So the encoded file is measured (ffmpeg's ebur128), and when it misses, the
    track is mastered again with the target and ceiling corrected by what was measured,
    and encoded again. Tags are written last, then the file is renamed into place. A track
    still more than :data:`PROMISED_TOLERANCE_LU` off target, or over the peak limit, after
    :data:`ENCODE_ATTEMPTS` encodes raises :class:`EncodeError`, and ``path`` is untouched.

    The master streams straight into the encoder and the encoded file is measured as it
    is decoded, so an hour-long track never exists whole in memory, before or after.
    """
    track = as_track(samples, sr)
    path = Path(path)
    low_bitrate = int(bitrate.rstrip("kK")) <= 128 if bitrate.rstrip("kK").isdigit() else False
    aim_lufs = target_lufs + (LAME_LEVEL_LOSS_DB if low_bitrate else 0.0)
    aim_peak = true_peak_limit
    makeup_db = None
    if hint is not None:
        aim_lufs = target_lufs + hint.level_offset_db
        aim_peak = true_peak_limit + hint.peak_offset_db
        makeup_db = hint.makeup_db
    attempts = 0
    with atomic_path(path) as temp:
        while True:
            attempts += 1
            master_report = _encode_master(
                track, temp, bitrate, aim_lufs, aim_peak, makeup_db=makeup_db
            )
            loudness = measure_file(temp)
            loudness_error = target_lufs - loudness.integrated_lufs
            peak_excess = loudness.true_peak_dbtp - true_peak_limit
            on_target = abs(loudness_error) <= ENCODED_TOLERANCE_LU and peak_excess <= 0
            # A silent track has nothing to correct.
            if on_target or not math.isfinite(master_report.input_lufs):
                break
            if attempts == ENCODE_ATTEMPTS:
                missed = (
                    f"{path.name}: encoded at {loudness.integrated_lufs:.1f} LUFS and "
                    f"{loudness.true_peak_dbtp:.1f} dBTP after {attempts} attempts "
                    f"(target {target_lufs:.1f} LUFS, limit {true_peak_limit:.1f} dBTP)"
                )
                if abs(loudness_error) > PROMISED_TOLERANCE_LU or peak_excess > PEAK_SLACK_DB:
                    raise EncodeError(missed)
                log.warning("%s", missed)  # within what the outputs promise
                break
            log.debug(
                "%s encoded at %.1f LUFS, %.1f dBTP; mastering again",
                path.name,
                loudness.integrated_lufs,
                loudness.true_peak_dbtp,
            )
            makeup_db = _makeup_db(master_report, aim_lufs)
            aim_lufs += loudness_error
            if peak_excess > -PEAK_GUARD_DB:
                aim_peak -= peak_excess + PEAK_GUARD_DB
        report = _finish(temp, path, tags, chapters, track.length, sr)
    landed = None
    if math.isfinite(master_report.input_lufs):
        landed = MasterHint(
            makeup_db=_makeup_db(master_report, aim_lufs),
            level_offset_db=aim_lufs - target_lufs,
            peak_offset_db=aim_peak - true_peak_limit,
        )
    return MasteredMp3(loudness, master_report, report, attempts, landed)


def encoder_command(sr: int, output: Path, bitrate: str = "96k") -> list[str]:
    """The ffmpeg command that reads raw float32 mono PCM at ``sr`` on stdin and writes
    an untagged 44.1 kHz mono CBR MP3 with a LAME/Info header to ``output``."""
    source = ffmpeg.input("pipe:0", format="f32le", ac=1, ar=sr)
    sink = source.output(
        str(output),
        format="mp3",
        acodec="libmp3lame",
        audio_bitrate=bitrate,
        ac=1,
        ar=SAMPLE_RATE,
        compression_level=LAME_QUALITY,
        write_xing=1,  # the header that carries encoder delay and padding
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
        mime = tags.cover_mime or image_mime(tags.cover)
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
        _order_chapter_frames(path, chapter_ids(len(chapters)))


def _order_chapter_frames(path: Path, element_ids: Sequence[str]) -> None:
    """Rewrite the ID3v2.3 tag at the start of ``path`` so its CHAP frames follow each other
    in the order of ``element_ids`` (time order).

    ffmpeg, and the players built on it, list chapters in the order their frames lie in the
    file, not by the CTOC or the start times; mutagen writes frames smallest first. The
    frames keep their bytes and the tag its size: only their order changes.
    """
    with open(path, "r+b") as stream:
        header = stream.read(10)
        if header[:3] != b"ID3" or header[3] != 3 or header[5] & 0x80:
            return  # not an ID3v2.3 tag mutagen wrote (unsynchronised tags are not)
        size = 0
        for byte in header[6:10]:
            size = (size << 7) | (byte & 0x7F)
        body = stream.read(size)
        frames: list[tuple[bytes, bytes]] = []  # (frame id, whole frame)
        position = 0
        while position + 10 <= len(body) and body[position] != 0:
            frame_size = int.from_bytes(body[position + 4 : position + 8], "big")
            frames.append(
                (body[position : position + 4], body[position : position + 10 + frame_size])
            )
            position += 10 + frame_size
        chapters = {
            _chap_element_id(frame): frame for frame_id, frame in frames if frame_id == b"CHAP"
        }
        if sorted(chapters) != sorted(element_ids):
            return
        ordered = iter([chapters[element_id] for element_id in element_ids])
        rewritten = b"".join(
            next(ordered) if frame_id == b"CHAP" else frame for frame_id, frame in frames
        )
        stream.seek(10)
        stream.write(rewritten)


def _chap_element_id(frame: bytes) -> str:
    """The element ID of a whole CHAP frame: the NUL-terminated string its data starts with."""
    return frame[10:].split(b"\0", 1)[0].decode("latin-1")


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


def image_mime(data: bytes) -> str:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    raise EncodeError("the cover is neither a PNG nor a JPEG image")


def gapless_info(path: Path | str) -> GaplessInfo | None:
    """Read frame count, encoder delay and padding from the LAME/Info header of an MP3."""
    with open(path, "rb") as stream:
        stream.seek(_audio_offset(stream))
        found = _parse_info_frame(stream.read(_INFO_READ))
    return found[0] if found else None


def set_gapless_padding(path: Path | str, samples: int) -> bool:
    """Rewrite the padding in the LAME/Info header of ``path`` so that a gapless decoder
    plays exactly ``samples`` samples; True when the header was changed.

    ffmpeg's muxer records at most one frame of trailing padding (plus the decoder's
    delay), so when the encoder flushed a frame of padding more, players would hold a
    few dozen samples of the encoder's tail too. The header's checksum is recomputed as
    ffmpeg computes it; a header that does not check out as written is left alone.
    """
    with open(path, "r+b") as stream:
        offset = _audio_offset(stream)
        stream.seek(offset)
        frame = bytearray(stream.read(_INFO_READ))
        found = _parse_info_frame(bytes(frame))
        if found is None:
            return False
        info, fields_at, crc_at = found
        if int.from_bytes(frame[crc_at : crc_at + 2], "big") != _tag_crc(frame, crc_at):
            return False
        padding = info.frames * info.samples_per_frame - info.encoder_delay - samples
        if padding == info.padding or not 0 <= padding < 1 << 12:
            return False
        frame[fields_at : fields_at + 3] = ((info.encoder_delay << 12) | padding).to_bytes(3, "big")
        frame[crc_at : crc_at + 2] = _tag_crc(frame, crc_at).to_bytes(2, "big")
        stream.seek(offset)
        stream.write(frame[: crc_at + 2])
    return True


# --------------------------------------------------------------------------- internals


def _finish(
    temp: Path, path: Path, tags: TrackTags, chapters: Sequence[Chapter], count: int, sr: int
) -> EncodeReport:
    """Correct the gapless length of the encoded temporary file, tag it, and check it."""
    expected = round(count * SAMPLE_RATE / sr)
    set_gapless_padding(temp, expected)
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


#: Bytes read from the start of the audio: enough for the LAME/Info header frame.
_INFO_READ = 2048
#: ffmpeg checksums the first 190 bytes of the header frame, the checksum field zeroed.
_TAG_CRC_SPAN = 190


def _audio_offset(stream: IO[bytes]) -> int:
    """Where the audio starts: after an ID3v2 tag, if the file begins with one."""
    stream.seek(0)
    head = stream.read(10)
    if head[:3] != b"ID3" or len(head) < 10:
        return 0
    # The tag size is four 7-bit bytes ("syncsafe"), after a 10-byte header.
    size = 0
    for byte in head[6:10]:
        size = (size << 7) | (byte & 0x7F)
    return 10 + size + (10 if head[5] & 0x10 else 0)


def _parse_info_frame(frame: bytes) -> tuple[GaplessInfo, int, int] | None:
    """The gapless fields of a LAME/Info header frame, with where the delay and padding
    field and the header's checksum lie in it; None when ``frame`` has no such header."""
    if len(frame) < 4 or frame[0] != 0xFF or frame[1] & 0xE0 != 0xE0:
        return None
    version = (frame[1] >> 3) & 0x3  # 3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5
    mono = (frame[3] >> 6) == 3
    if version == 3:
        side_info, samples_per_frame = (17 if mono else 32), 1152
    else:
        side_info, samples_per_frame = (9 if mono else 17), 576
    position = 4 + side_info
    if frame[position : position + 4] not in (b"Xing", b"Info"):
        return None
    flags = int.from_bytes(frame[position + 4 : position + 8], "big")
    position += 8
    frames = None
    if flags & 0x1:
        frames = int.from_bytes(frame[position : position + 4], "big")
        position += 4
    position += (4 if flags & 0x2 else 0) + (100 if flags & 0x4 else 0) + (4 if flags & 0x8 else 0)
    # The LAME extension (36 bytes): a 9-byte encoder name, 12 bytes of settings, 12 bits
    # of encoder delay and 12 of padding, 8 more bytes, and the header's checksum last.
    lame = frame[position : position + 36]
    if frames is None or len(lame) < 36:
        return None
    delay_padding = int.from_bytes(lame[21:24], "big")
    info = GaplessInfo(
        frames=frames,
        samples_per_frame=samples_per_frame,
        encoder_delay=delay_padding >> 12,
        padding=delay_padding & 0xFFF,
    )
    return info, position + 21, position + 34


def _tag_crc(frame: bytes | bytearray, crc_at: int) -> int:
    """The header checksum as ffmpeg computes it: CRC-16 (ARC) of the first
    :data:`_TAG_CRC_SPAN` bytes with the checksum field itself taken as zero."""
    data = bytearray(frame[:_TAG_CRC_SPAN])
    data[crc_at : crc_at + 2] = b"\0\0"
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def _makeup_db(report: MasterReport, aim_lufs: float) -> float:
    """The gain a master aimed at ``aim_lufs`` added for the loudness limiting cost, over
    the gain that reaches the aim unlimited."""
    return report.gain_db - (aim_lufs - report.input_lufs)


def _encode_master(
    track: TrackAudio,
    output: Path,
    bitrate: str,
    target_lufs: float,
    true_peak_limit: float,
    *,
    makeup_db: float | None = None,
) -> MasterReport:
    """Master ``track`` straight into the encoder, writing ``output``."""
    reports: list[MasterReport] = []

    def feed(write: BlockSink) -> None:
        report = master_blocks(
            track,
            write,
            target_lufs,
            true_peak_limit,
            spool_dir=output.parent,
            makeup_db=makeup_db,
        )
        reports.append(report)

    _run_encoder(feed, track.sample_rate, output, bitrate)
    return reports[0]


def _run_encoder(feed: Callable[[BlockSink], None], sr: int, output: Path, bitrate: str) -> None:
    """Run the encoder, with ``feed`` writing the samples to its input a block at a time."""
    running = start_ffmpeg(
        encoder_command(sr, output, bitrate), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL
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
