"""Mastering to an MP3 that is on target: master -> encode -> measure the encoded file.

The encoder moves both loudness and true peak: LAME lowers the level of a low-bitrate mono
stream by about 0.45 dB, and its quantisation noise can push true peaks up. So the master
aims a little above the target and a little below the peak limit, the encoded file is
measured, and when it misses, the track is mastered again with the aim corrected by what was
measured, and encoded again. :class:`MasterHint` keeps where the last build of a track
landed, so the next one (after a small edit, say) aims right the first time.

The file is laid out as pieces (:mod:`pipeline.pieces`): only what sounds is mastered,
encoded, decoded and measured, and a rebuild keeps the frames (and the measurements) of the
pieces it did not change.

The stages stay apart: :mod:`pipeline.master` finds the gain, limits and measures,
:mod:`pipeline.encode` encodes and tags, :mod:`pipeline.pieces` lays the frames out.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from pipeline.atomic import atomic_path, scratch_path
from pipeline.encode import (
    LAME_QUALITY,
    EncodeReport,
    add_header_frame,
    encode_blocks,
    encode_frames,
    encoder_frame_format,
    finish_mp3,
)
from pipeline.errors import EncodeError
from pipeline.ffmpeg import decoded_blocks
from pipeline.manifest import MasterHint
from pipeline.master import (
    MasteredTrack,
    MasterGain,
    MasterReport,
    StretchLoudness,
    StretchMeter,
    TrackAnalysis,
    analyse,
    as_track,
    ceiling_for,
    find_gain,
    measure_file,
    track_loudness,
)
from pipeline.model import Chapter, Loudness, TrackAudio, TrackTags
from pipeline.mp3frames import (
    DECODER_DELAY,
    FRAME_SAMPLES,
    FrameError,
    frame_offsets,
    read_heads,
    silent_frames,
    stands_alone,
)
from pipeline.mp3header import set_gapless_padding
from pipeline.paths import file_digest
from pipeline.pieces import (
    EncodedPiece,
    Piece,
    PieceMap,
    PiecePlan,
    StoredFrames,
    copy_bytes,
    piece_key,
    plan_pieces,
    runs_of_frames,
    split_run,
    stored_frames,
)

log = logging.getLogger(__name__)

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
class MasteredMp3:
    loudness: Loudness  # measured on the file written
    master: MasterReport  # of the master that was encoded
    encode: EncodeReport
    attempts: int
    hint: MasterHint | None  # where this master landed (None for a silent track)
    pieces: PieceMap | None = None  # the file's pieces, for the next build to take from
    encoded_frames: int = 0  # frames the encoder made this time (the rest were taken or silent)


@dataclass(frozen=True)
class PreviousMp3:
    """The MP3 the last build of a track wrote, and the map of its pieces."""

    path: Path
    pieces: PieceMap


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
    previous: PreviousMp3 | None = None,
) -> MasteredMp3:
    """Master an assembled track and write it as a tagged MP3 whose *encoded* loudness is
    on target and whose encoded true peak is within the limit. ``hint`` (from the last
    build of this track) is where the gain search and the encoder corrections start.

    The encoder changes both: LAME lowers the level of a low-bitrate mono stream by about
    0.45 dB, and its quantisation noise can push true peaks up, more so for full-band
    audio. So the encoded file is measured (each piece's frames decoded where they lie,
    :func:`~pipeline.master.track_loudness`), and when it misses, the track is mastered
    again with the target and ceiling corrected by what was measured, and encoded again.
    Tags are written last, then the file is renamed into place. A track still more than
    :data:`PROMISED_TOLERANCE_LU` off target, or over the peak limit, after
    :data:`ENCODE_ATTEMPTS` encodes raises :class:`EncodeError`, and ``path`` is untouched.

    The file is laid out as pieces (:mod:`pipeline.pieces`): only what sounds is mastered
    and encoded. With ``previous`` (the last build's file and its piece map), the last
    gain is tried first, with no gain search: every piece whose samples are unchanged keeps
    its frames, and only the changed pieces are encoded. The file is measured all the same,
    and mastered afresh if that misses.

    The master streams straight into the encoder and the encoded frames are measured as
    they are decoded, so an hour-long track never exists whole in memory, before or after.
    """
    track = as_track(samples, sr)
    path = Path(path)
    encoder = encoder_frame_format(bitrate)  # (a frame of its, its delay)
    layout = plan_pieces(track, encoder[1])
    settings: dict[str, float | str] = {
        "target_lufs": target_lufs,
        "true_peak_limit": true_peak_limit,
        "bitrate": bitrate,
    }
    stored = _stored_frames(previous, settings)
    analysis: TrackAnalysis | None = None
    low_bitrate = int(bitrate.rstrip("kK")) <= 128 if bitrate.rstrip("kK").isdigit() else False
    aim_lufs = target_lufs + (LAME_LEVEL_LOSS_DB if low_bitrate else 0.0)
    aim_peak = true_peak_limit
    makeup_db = None
    if hint is not None:
        aim_lufs = target_lufs + hint.level_offset_db
        aim_peak = true_peak_limit + hint.peak_offset_db
        makeup_db = hint.makeup_db
    # The last build's gain, tried as it is: if the file still lands on target, every
    # unchanged piece keeps its frames.
    gain = _last_gain(stored)
    attempts = 0
    with atomic_path(path) as temp:
        while True:
            attempts += 1
            kept_gain = gain is not None
            if gain is None:
                ceiling_db = ceiling_for(aim_peak)
                if analysis is None or not analysis.covers(aim_lufs, ceiling_db):
                    analysis = analyse(track, aim_lufs, ceiling_db)
                gain = find_gain(analysis, aim_lufs, ceiling_db, makeup_db)
            written = _write_pieces(track, gain, layout, stored, encoder, path, temp, bitrate)
            master_report = written.report
            loudness = written.loudness
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
            gain = None
            if kept_gain:
                continue  # the edit moved the loudness: search from the hint's aims
            makeup_db = _makeup_db(master_report, aim_lufs)
            aim_lufs += loudness_error
            if peak_excess > -PEAK_GUARD_DB:
                aim_peak -= peak_excess + PEAK_GUARD_DB
        report = finish_mp3(temp, path, tags, chapters, track.length, sr, encoder[1])
        digest = file_digest(temp)
    landed = None
    if math.isfinite(master_report.input_lufs):
        landed = MasterHint(
            makeup_db=_makeup_db(master_report, aim_lufs),
            level_offset_db=aim_lufs - target_lufs,
            peak_offset_db=aim_peak - true_peak_limit,
        )
        if kept_gain and hint is not None:
            landed = hint  # nothing was searched: the last landing still stands
    pieces = None
    if written.pieces is not None:
        pieces = PieceMap(
            file_digest=digest,
            settings=settings,
            gain_db=gain.gain_db,
            ceiling_db=gain.ceiling_db,
            input_lufs=gain.input_lufs,
            output_lufs=gain.output_lufs,
            pieces=written.pieces,
        )
    return MasteredMp3(
        loudness, master_report, report, attempts, landed, pieces, written.encoded_frames
    )


@dataclass(frozen=True)
class _Written:
    report: MasterReport
    loudness: Loudness  # of the file, as decoded
    pieces: tuple[EncodedPiece, ...] | None  # None: written in one run, not as pieces
    encoded_frames: int


def _stored_frames(
    previous: PreviousMp3 | None, settings: dict[str, float | str]
) -> StoredFrames | None:
    """The last build's pieces, if its file is still the one they were mapped in and its
    gain was found for the same target, limit and bitrate."""
    if previous is None or previous.pieces.settings != settings:
        return None
    try:
        digest = file_digest(previous.path)
    except OSError:
        return None
    return stored_frames(previous.path, previous.pieces, digest)


def _last_gain(stored: StoredFrames | None) -> MasterGain | None:
    if stored is None or not math.isfinite(stored.piece_map.input_lufs):
        return None
    last = stored.piece_map
    return MasterGain(last.input_lufs, last.output_lufs, last.gain_db, last.ceiling_db, 0)


def _write_pieces(
    track: TrackAudio,
    gain: MasterGain,
    layout: PiecePlan,
    stored: StoredFrames | None,
    encoder: tuple[bytes, int],
    path: Path,
    temp: Path,
    bitrate: str,
) -> _Written:
    """Write the track mastered with ``gain`` to ``temp`` as an untagged MP3: each piece
    from ``stored`` when it has the piece's frames, the rest encoded in one run of the
    encoder, and frames of silence between. A run that cannot be cut into pieces cleanly
    (see :func:`~pipeline.mp3frames.stands_alone`) is given up, and the whole track is
    encoded in one piece."""
    sr = track.sample_rate
    template, encoder_delay = encoder
    settings = f"{bitrate}|{LAME_QUALITY}|{gain.gain_db!r}|{gain.ceiling_db!r}"
    key_of = {piece: piece_key(track, piece, settings) for piece in layout.pieces}
    # A piece's frames are taken where they lay: measured there, they need no decoding.
    missing = {
        piece: key
        for piece, key in key_of.items()
        if stored is None or key not in stored.spans or stored.pieces[key].first != piece.first
    }
    entries = []
    try:
        with scratch_path(path) as run, scratch_path(path) as bare:
            made = _encode_pieces(track, gain, missing, run, bitrate, encoder_delay)
            with open(bare, "wb") as out, open(run, "rb") as encoded:
                for first, count, piece in runs_of_frames(layout):
                    if piece is None:
                        _write_silence(out, template, first, count)
                        continue
                    key = key_of[piece]
                    if key in made:
                        (offset, length), entry = made[key]
                        encoded.seek(offset)
                        copy_bytes(encoded, out, length)
                    else:
                        assert stored is not None
                        stored.copy(key, out)
                        entry = stored.pieces[key]
                    entries.append(entry)
            add_header_frame(bare, temp)
        # Measured as a listener's player decodes it: gapless, from the first sample.
        set_gapless_padding(temp, track.length, encoder_delay)
    except FrameError as exc:
        log.warning("%s: encoding in one piece (%s)", path.name, exc)
        mastered = MasteredTrack(track, gain)
        encode_blocks(mastered.blocks(), sr, temp, bitrate)
        return _Written(mastered.report, measure_file(temp), None, layout.frames)
    report = MasterReport(
        input_lufs=gain.input_lufs,
        output_lufs=gain.output_lufs,
        gain_db=gain.gain_db,
        max_reduction_db=max((entry.reduction_db for entry in entries), default=0.0),
        limited_seconds=sum(entry.limited for entry in entries) / sr,
        passes=gain.passes,
    )
    loudness = track_loudness(track.length, (entry.loudness for entry in entries), sr)
    return _Written(report, loudness, tuple(entries), sum(piece.count for piece in missing))


def _encode_pieces(
    track: TrackAudio,
    gain: MasterGain,
    pieces: dict[Piece, str],
    run: Path,
    bitrate: str,
    encoder_delay: int,
) -> dict[str, tuple[tuple[int, int], EncodedPiece]]:
    """Master each of ``pieces`` (a piece and its key) with ``gain`` and encode them all,
    one after another, in one run of the encoder into ``run``; then decode the run and
    measure each piece where it will lie. By key: where each piece's frames lie in
    ``run`` (byte offset and length), and its record."""
    if not pieces:
        return {}
    sr = track.sample_rate
    reports: list[MasterReport] = []

    def blocks() -> Iterator[np.ndarray]:
        for piece in pieces:
            mastered = MasteredTrack(track.window(piece.start, piece.stop), gain)
            yield from mastered.blocks()
            reports.append(mastered.report)

    encode_frames(blocks(), sr, run, bitrate)
    measured = _measure_run(run, list(pieces), encoder_delay + DECODER_DELAY, sr)
    made = {}
    with open(run, "rb") as stream:
        offsets = frame_offsets(stream)
        shares = split_run(offsets, list(pieces))
        for (piece, key), (a, b), report, loudness in zip(
            pieces.items(), shares, reports, measured, strict=True
        ):
            if not stands_alone(read_heads(stream, offsets[a:b])):
                raise FrameError(f"frames {piece.first} on borrow bits from before them")
            limited = round(report.limited_seconds * sr)
            record = EncodedPiece(
                key, piece.first, piece.count, report.max_reduction_db, limited, loudness
            )
            made[key] = ((offsets[a], offsets[b] - offsets[a]), record)
    return made


def _measure_run(run: Path, pieces: list[Piece], delay: int, sr: int) -> list[StretchLoudness]:
    """Decode a run of the encoder over ``pieces`` and measure each piece's frames where
    the piece lies in the track (frame ``f`` decodes to track samples from ``1152 f -
    delay``). Each piece starts with frames of silence, so the decoder comes to it as it
    comes to it in the whole file: the samples are the file's, sample for sample."""
    measured: list[StretchLoudness] = []
    meter: StretchMeter | None = None  # of the piece being decoded
    left = 0  # its samples still to come
    for block in decoded_blocks(run, sr):
        while len(block) and len(measured) < len(pieces):
            if meter is None:
                piece = pieces[len(measured)]
                meter = StretchMeter(piece.first * FRAME_SAMPLES - delay, sr)
                left = piece.count * FRAME_SAMPLES
            take = min(len(block), left)
            meter.add(block[:take])
            block, left = block[take:], left - take
            if left == 0:  # measured, and let go of
                measured.append(meter.result())
                meter = None
        if len(measured) == len(pieces):
            break
    if len(measured) < len(pieces):
        raise FrameError("the encoder's frames decode to fewer samples than they should")
    return measured


def _write_silence(out: BinaryIO, template: bytes, first: int, count: int) -> None:
    """Frames ``first`` to ``first + count`` as digital silence, a thousand at a time."""
    for start in range(first, first + count, 1000):
        out.write(silent_frames(template, start, min(1000, first + count - start)))


def _makeup_db(report: MasterReport, aim_lufs: float) -> float:
    """The gain a master aimed at ``aim_lufs`` added for the loudness limiting cost, over
    the gain that reaches the aim unlimited."""
    return report.gain_db - (aim_lufs - report.input_lufs)
