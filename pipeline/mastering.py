"""Mastering to an MP3 that is on target: master -> encode -> measure the encoded file.

The encoder moves both loudness and true peak: LAME lowers the level of a low-bitrate mono
stream by about 0.45 dB, and its quantisation noise can push true peaks up. So the master
aims a little above the target and a little below the peak limit, the encoded file is
measured, and when it misses, the track is mastered again with the aim corrected by what was
measured, and encoded again. :class:`MasterHint` keeps where the last build of a track
landed, so the next one (after a small edit, say) aims right the first time.

The stages stay apart: :mod:`pipeline.master` finds the gain and limits, :mod:`pipeline.encode`
encodes and tags, :mod:`pipeline.master`'s :func:`~pipeline.master.measure_file` measures.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.atomic import atomic_path
from pipeline.encode import EncodeReport, encode_blocks, finish_mp3
from pipeline.errors import EncodeError
from pipeline.manifest import MasterHint
from pipeline.master import (
    MasteredTrack,
    MasterReport,
    TrackAnalysis,
    analyse,
    as_track,
    ceiling_for,
    find_gain,
    measure_file,
)
from pipeline.model import Chapter, Loudness, TrackAudio, TrackTags

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
    audio. So the encoded file is measured (:func:`measure_file`), and when it misses, the
    track is mastered again with the target and ceiling corrected by what was measured,
    and encoded again. Tags are written last, then the file is renamed into place. A track
    still more than :data:`PROMISED_TOLERANCE_LU` off target, or over the peak limit, after
    :data:`ENCODE_ATTEMPTS` encodes raises :class:`EncodeError`, and ``path`` is untouched.

    The master streams straight into the encoder and the encoded file is measured as it
    is decoded, so an hour-long track never exists whole in memory, before or after.
    """
    track = as_track(samples, sr)
    path = Path(path)
    analysis: TrackAnalysis | None = None
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
            ceiling_db = ceiling_for(aim_peak)
            if analysis is None or not analysis.covers(aim_lufs, ceiling_db):
                analysis = analyse(track, aim_lufs, ceiling_db)
            gain = find_gain(analysis, aim_lufs, ceiling_db, makeup_db)
            mastered = MasteredTrack(track, gain, analysis)
            encode_blocks(mastered.blocks(), sr, temp, bitrate)
            master_report = mastered.report
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
        report = finish_mp3(temp, path, tags, chapters, track.length, sr)
    landed = None
    if math.isfinite(master_report.input_lufs):
        landed = MasterHint(
            makeup_db=_makeup_db(master_report, aim_lufs),
            level_offset_db=aim_lufs - target_lufs,
            peak_offset_db=aim_peak - true_peak_limit,
        )
    return MasteredMp3(loudness, master_report, report, attempts, landed)


def _makeup_db(report: MasterReport, aim_lufs: float) -> float:
    """The gain a master aimed at ``aim_lufs`` added for the loudness limiting cost, over
    the gain that reaches the aim unlimited."""
    return report.gain_db - (aim_lufs - report.input_lufs)
