"""Master stage: an assembled track -> the same track at the target loudness, peaks limited.

Integrated loudness is measured per ITU-R BS.1770-4 / EBU R128 (K-weighting, 400 ms blocks,
absolute and relative gates), the track is brought to the target, and a look-ahead
true-peak limiter keeps the 4x oversampled peak below the ceiling. The ceiling sits a little
below the requested true-peak limit because MP3 encoding adds overshoot of its own. Limiting
takes a little loudness away, so gain and limiting are repeated until the result lands on
the target.

Everything streams block by block over a lazy :class:`~pipeline.model.TrackAudio`
(hour-long tracks are normal here): the meters carry their filter and look-ahead state
across blocks, each gain pass re-reads the track and measures the limited result as it goes
by, keeping it in a temporary file, and :func:`master_blocks` hands the pass that landed on
target to a sink (the encoder) a block at a time, so no copy of the whole track is ever
held in memory and the limiter runs once per pass, not once more for the output.
numpy/scipy do the per-sample work; only gain changes, so digital silence stays exactly
zero, and silent blocks cost next to nothing.

:func:`measure_file` decodes an encoded file with ffmpeg and measures what comes out as it
streams in, which is what the manifest reports: the loudness of the file a listener gets.
(Decoding and measuring here is about twice as fast as ffmpeg's ``ebur128`` filter with
true peak on, and agrees with it to the tenth of a unit it prints.)
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import queue
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
from scipy.ndimage import maximum_filter1d
from scipy.signal import firwin, sosfilt

from pipeline.ffmpeg import ffmpeg_exe, run_ffmpeg, start_ffmpeg
from pipeline.model import Loudness, TrackAudio
from pipeline.spool import Spool, Spooled

log = logging.getLogger(__name__)

#: Headroom kept below the true-peak limit for the MP3 encoder's own overshoot: at 96 kbps
#: LAME's quantisation noise lifts single peaks by up to about 0.5 dB over the master's.
MP3_MARGIN_DB = 1.0
#: The master counts as on target within this many LU; the build promises +-1 LU and
#: checks the encoded file against a tighter +-0.3.
LOUDNESS_TOLERANCE_LU = 0.1
MAX_PASSES = 6
#: True-peak oversampling factor (BS.1770-4 asks for at least 4x at 48 kHz).
OVERSAMPLING = 4
#: The limiter ramps gain down over this long before a peak.
LOOKAHEAD_S = 0.005
#: Time constant of the limiter's release: gain reduction (in dB) decays exponentially, so
#: a deep reduction recovers about as fast as a shallow one.
RELEASE_S = 0.04
#: Reduction smaller than this counts as none, so the release ends.
_NEGLIGIBLE_DB = 0.01
#: Limiting may cost loudness, which is won back with more gain, but never more than this:
#: past it the track is mostly limiter, and missing the target is the lesser harm.
MAX_MAKEUP_DB = 6.0
#: Samples processed at a time (about 6 s at 44.1 kHz).
BLOCK = 1 << 18
#: Decoded blocks that may wait to be measured (each about 1 MB).
READ_AHEAD = 4
#: Intersample peaks of real audio stay well within this of the sample peak, so a stretch
#: whose sample peak is this far below the ceiling needs no oversampling.
INTERSAMPLE_HEADROOM_DB = 6.0
_HALF_WINDOW = 6  # input samples each side of the interpolator's centre
_WINDOWS_AT_ONCE = 1 << 14  # oversampled together (a few MB of windows)

#: Filter state smaller than this is rest: silence into it gives silence, to far below
#: anything the gates could count.
_SETTLED = 1e-15

#: The K-weighting filter's state falls below :data:`_SETTLED` within this long of silence.
SETTLE_S = 0.25

_ABSOLUTE_GATE_LUFS = -70.0
_RELATIVE_GATE_LU = -10.0


@dataclass(frozen=True)
class MasterReport:
    input_lufs: float
    output_lufs: float
    gain_db: float  # gain before limiting
    true_peak_dbtp: float  # of the master, 4x oversampled, before encoding
    max_reduction_db: float  # deepest limiter gain reduction
    limited_seconds: float  # time the limiter spent reducing gain by more than 0.1 dB
    passes: int


@dataclass(frozen=True)
class MasterGain:
    """The gain that brings a track to its target, found by :func:`find_master_gain`."""

    input_lufs: float
    output_lufs: float  # of the track with this gain applied and then limited
    gain_db: float
    ceiling_db: float
    passes: int


#: Receives the mastered track a block at a time, in order.
BlockSink = Callable[[np.ndarray], None]


def master(
    samples: np.ndarray | TrackAudio,
    sr: int,
    target_lufs: float = -16.0,
    true_peak_limit: float = -1.0,
) -> tuple[np.ndarray, MasterReport]:
    """Normalise ``samples`` to ``target_lufs`` with the true peak under ``true_peak_limit``
    less :data:`MP3_MARGIN_DB`. Returns float32 samples and what was done.

    The whole master is made in memory: for short tracks and tests. Long tracks go through
    :func:`master_blocks`, which gives the same samples a block at a time.
    """
    track = as_track(samples, sr)
    output = np.empty(track.length, dtype=np.float32)
    position = 0

    def keep(block: np.ndarray) -> None:
        nonlocal position
        output[position : position + len(block)] = block
        position += len(block)

    report = master_blocks(track, keep, target_lufs, true_peak_limit)
    return output, report


def master_blocks(
    track: TrackAudio,
    sink: BlockSink,
    target_lufs: float = -16.0,
    true_peak_limit: float = -1.0,
    *,
    spool_dir: Path | None = None,
    makeup_db: float | None = None,
) -> MasterReport:
    """Master ``track`` as :func:`master` does, handing the result to ``sink`` a block at a
    time, so no copy of the whole track is ever made. Returns what was done.

    The gain search limits the whole track at least once; the pass that lands on target
    keeps what it made (its sounding blocks, in a temporary file in ``spool_dir``), and
    that is what ``sink`` receives: the limiter does not run over the track again.
    The search starts from the gain that reaches the target unlimited, plus ``makeup_db``
    when given: a guess of the loudness limiting will cost (for instance what it cost when
    the track was mastered before a small edit).
    """
    peak = TruePeakMeter()
    with contextlib.ExitStack() as spools:
        gain, kept = _search_gain(
            track,
            target_lufs,
            true_peak_limit,
            lambda: spools.enter_context(Spool(spool_dir)),
            makeup_db,
        )
        if kept is None:
            log.warning("track is silent; mastering leaves it as it is")
            for block in track.blocks(BLOCK):
                peak.add(block)
                sink(block)
            return MasterReport(gain.input_lufs, gain.input_lufs, 0.0, peak.dbtp(), 0.0, 0.0, 0)
        for block in kept.limited.blocks(BLOCK):
            peak.add(block)
            sink(block)
    report = MasterReport(
        input_lufs=gain.input_lufs,
        output_lufs=gain.output_lufs,
        gain_db=gain.gain_db,
        true_peak_dbtp=peak.dbtp(),
        max_reduction_db=kept.reduction.max_db,
        limited_seconds=kept.reduction.samples / track.sample_rate,
        passes=gain.passes,
    )
    log.debug("master: %s", report)
    return report


def find_master_gain(
    track: TrackAudio, target_lufs: float = -16.0, true_peak_limit: float = -1.0
) -> MasterGain:
    """The gain that, followed by the limiter, lands ``track`` on ``target_lufs``.

    Limiting takes a little loudness away, so each pass limits the whole track with a
    candidate gain and measures the result as it streams by (nothing is kept), until the
    loudness is within :data:`LOUDNESS_TOLERANCE_LU` of the target.
    """
    return _search_gain(track, target_lufs, true_peak_limit, None, None)[0]


@dataclass(frozen=True)
class _LimitedPass:
    """What one gain pass made: the limited track (sounding blocks only, spooled) and the
    limiter's reduction over it."""

    limited: TrackAudio
    reduction: Reduction
    spool: Spool


def _search_gain(
    track: TrackAudio,
    target_lufs: float,
    true_peak_limit: float,
    new_spool: Callable[[], Spool] | None,
    makeup_db: float | None,
) -> tuple[MasterGain, _LimitedPass | None]:
    """:func:`find_master_gain`, starting ``makeup_db`` above the unlimited gain; with
    ``new_spool``, also what the last pass made (None for a silent track). A superseded
    pass's spool is closed as soon as the next one is done."""
    sr = track.sample_rate
    ceiling_db = true_peak_limit - MP3_MARGIN_DB
    input_lufs = integrated_loudness(track, sr)
    if not math.isfinite(input_lufs):
        return MasterGain(input_lufs, input_lufs, 0.0, ceiling_db, 0), None

    plain_gain_db = target_lufs - input_lufs
    gain_db = plain_gain_db
    if makeup_db is not None and math.isfinite(makeup_db):
        gain_db += min(max(makeup_db, 0.0), MAX_MAKEUP_DB)
    previous: tuple[float, float] | None = None  # (gain, loudness) of the last pass
    kept: _LimitedPass | None = None
    passes = 0
    while True:
        passes += 1
        output_lufs, made = _limit_pass(track, gain_db, ceiling_db, new_spool)
        if kept is not None:
            kept.spool.close()
        kept = made
        error = target_lufs - output_lufs
        log.debug("gain pass %d: %+.2f dB -> %.2f LUFS", passes, gain_db, output_lufs)
        if abs(error) <= LOUDNESS_TOLERANCE_LU or passes == MAX_PASSES:
            break
        # Under limiting 1 dB of gain adds less than 1 LU: step by the slope seen between
        # the last two passes (a secant step), within sane bounds. After the first pass it
        # is guessed from how far off that pass is: the more loudness limiting has cost
        # already, the less the next dB adds. (On the sample scripts this lands every track
        # in two passes, where a first step at slope 1 took three or four.)
        slope = 1 / (1 + abs(error))
        if previous is not None and gain_db != previous[0]:
            slope = (output_lufs - previous[1]) / (gain_db - previous[0])
        slope = min(max(slope, 0.2), 1.0)
        next_gain_db = min(gain_db + error / slope, plain_gain_db + MAX_MAKEUP_DB)
        if next_gain_db == gain_db:
            break  # at the makeup limit already
        previous = (gain_db, output_lufs)
        gain_db = next_gain_db
    if abs(error) > 0.5:
        log.warning(
            "master ends %.2f LU off target %.1f LUFS: the track is too peaky to reach it "
            "under a %.1f dBTP ceiling",
            -error,
            target_lufs,
            ceiling_db,
        )
    return MasterGain(input_lufs, output_lufs, gain_db, ceiling_db, passes), kept


def _limit_pass(
    track: TrackAudio, gain_db: float, ceiling_db: float, new_spool: Callable[[], Spool] | None
) -> tuple[float, _LimitedPass | None]:
    """Limit ``track`` with ``gain_db`` -> the loudness of the result, and the result itself
    when ``new_spool`` gives somewhere to keep it (silent blocks are not stored)."""
    meter = LoudnessMeter(track.sample_rate)
    limiter = Limiter(track, gain_db, ceiling_db)
    spool = new_spool() if new_spool is not None else None
    placed: list[tuple[int, Spooled]] = []
    position = 0
    for block in limiter.blocks():
        meter.add(block)
        if spool is not None and block.any():
            placed.append((position, spool.put(block)))
        position += len(block)
    if spool is None:
        return meter.integrated(), None
    limited = TrackAudio(track.length, track.sample_rate, placed)
    return meter.integrated(), _LimitedPass(limited, limiter.reduction, spool)


def as_track(samples: np.ndarray | TrackAudio, sr: int) -> TrackAudio:
    """``samples`` as a :class:`TrackAudio` (an array is wrapped, not copied)."""
    if isinstance(samples, TrackAudio):
        if samples.sample_rate != sr:
            raise ValueError(f"track is at {samples.sample_rate} Hz, not {sr} Hz")
        return samples
    return TrackAudio.from_array(samples, sr)


# --------------------------------------------------------------------------- loudness


def k_weighting(sr: int) -> np.ndarray:
    """BS.1770 K-weighting (high shelf, then high pass) as second-order sections for ``sr``.

    The analogue prototypes are re-derived for each rate by the bilinear transform, giving
    the standard's published coefficients at 48 kHz.
    """
    # Stage 1: high-frequency shelf, about +4 dB above 2 kHz (the head's acoustic effect).
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = math.tan(math.pi * f0 / sr)
    vh = 10 ** (gain_db / 20)
    vb = vh**0.4996667741545416
    a0 = 1 + k / q + k * k
    shelf = [
        (vh + vb * k / q + k * k) / a0,
        2 * (k * k - vh) / a0,
        (vh - vb * k / q + k * k) / a0,
        1.0,
        2 * (k * k - 1) / a0,
        (1 - k / q + k * k) / a0,
    ]
    # Stage 2: the RLB high pass at about 38 Hz.
    f0, q = 38.13547087602444, 0.5003270373238773
    k = math.tan(math.pi * f0 / sr)
    a0 = 1 + k / q + k * k
    highpass = [1.0, -2.0, 1.0, 1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0]
    return np.array([shelf, highpass])


class LoudnessMeter:
    """Gated integrated loudness (BS.1770-4) of mono audio fed a block at a time.

    The K-weighting filter's state is carried from block to block, and only the energy of
    each 100 ms hop is kept (the 400 ms gating blocks overlap by 75 %, so each is four
    hops): about 140 kB for an hour. Blocks may be any size; the result does not depend
    on how the audio was cut.
    """

    def __init__(self, sr: int) -> None:
        self.sample_rate = sr
        self._sos = k_weighting(sr)
        self._state = np.zeros((self._sos.shape[0], 2))
        self._hop = round(0.1 * sr)
        self._settle = round(SETTLE_S * sr)
        self._partial = np.zeros(0)  # weighted samples of a hop not yet complete
        self._hops: list[np.ndarray] = []

    def add(self, block: np.ndarray) -> None:
        """Measure the next ``block`` of samples."""
        if len(block) == 0:
            return
        # Silence after sound is filtered only until the filter has come to rest: filtered
        # further, its decaying state turns subnormal, which costs x86 twenty times as much
        # per sample, for energies some 300 dB below the absolute gate.
        position = 0
        for start, end in _long_zero_runs(block, self._settle):
            if start > position:
                self._filter(block[position:start])
            self._filter(block[start : start + self._settle])
            position = start + self._settle
            if np.abs(self._state).max() < _SETTLED:
                self._state[:] = 0.0
                self._add_silence(end - position)
                position = end
        if position < len(block):
            self._filter(block[position:])

    def _filter(self, samples: np.ndarray) -> None:
        if len(samples) == 0:
            return
        if np.abs(self._state).max() < _SETTLED and not np.any(samples):
            # Silence into a filter at rest stays silence: nothing to filter or square.
            self._state[:] = 0.0
            self._add_silence(len(samples))
            return
        piece = np.asarray(samples, dtype=np.float64)
        weighted, self._state = sosfilt(self._sos, piece, zi=self._state)
        if len(self._partial):
            weighted = np.concatenate((self._partial, weighted))
        whole = len(weighted) - len(weighted) % self._hop
        if whole:
            self._hops.append(np.square(weighted[:whole]).reshape(-1, self._hop).sum(axis=1))
        self._partial = weighted[whole:].copy()

    def _add_silence(self, count: int) -> None:
        total = len(self._partial) + count
        whole = total - total % self._hop
        if not whole:
            self._partial = np.concatenate((self._partial, np.zeros(count)))
            return
        hops = np.zeros(whole // self._hop)
        hops[0] = np.square(self._partial).sum()  # the hop that was under way
        self._hops.append(hops)
        self._partial = np.zeros(total - whole)

    def integrated(self) -> float:
        """Integrated loudness in LUFS of everything added so far (-inf when all is gated);
        a last hop shorter than 100 ms is left out."""
        if not self._hops:
            return -math.inf
        hops = np.concatenate(self._hops)
        if len(hops) < 4:
            return -math.inf
        blocks = (hops[:-3] + hops[1:-2] + hops[2:-1] + hops[3:]) / (4 * self._hop)
        with np.errstate(divide="ignore"):
            block_lufs = -0.691 + 10 * np.log10(blocks)
        gated = blocks[block_lufs > _ABSOLUTE_GATE_LUFS]
        if len(gated) == 0:
            return -math.inf
        relative_gate = -0.691 + 10 * math.log10(gated.mean()) + _RELATIVE_GATE_LU
        gated = blocks[(block_lufs > _ABSOLUTE_GATE_LUFS) & (block_lufs > relative_gate)]
        return float(-0.691 + 10 * math.log10(gated.mean()))


def _long_zero_runs(block: np.ndarray, shortest: int) -> list[tuple[int, int]]:
    """``(start, end)`` of each run of exact zeros in ``block`` longer than ``shortest``."""
    sounding = np.flatnonzero(block)
    if len(sounding) == 0:
        return [(0, len(block))] if len(block) > shortest else []
    edges = np.concatenate(([-1], sounding, [len(block)]))
    gaps = np.flatnonzero(np.diff(edges) - 1 > shortest)
    return [(int(edges[i]) + 1, int(edges[i + 1])) for i in gaps]


def integrated_loudness(samples: np.ndarray | TrackAudio, sr: int) -> float:
    """Gated integrated loudness of mono ``samples`` in LUFS (-inf when all is gated)."""
    meter = LoudnessMeter(sr)
    for block in as_track(samples, sr).blocks(BLOCK):
        meter.add(block)
    return meter.integrated()


# --------------------------------------------------------------------------- true peak


class TruePeakMeter:
    """Largest 4x-oversampled absolute value of mono audio fed a block at a time.

    The interpolator looks :data:`_HALF_WINDOW` samples either side, so the last few
    samples of each block wait for the next one (or for :meth:`dbtp`, which treats what
    follows the end as silence). Only samples that could beat the peak found so far are
    oversampled: a stretch whose sample peak lies :data:`INTERSAMPLE_HEADROOM_DB` below it
    cannot.
    """

    def __init__(self) -> None:
        self._best = 0.0
        self._history = np.zeros(_HALF_WINDOW, dtype=np.float32)  # already examined
        self._pending = np.zeros(0, dtype=np.float32)  # waiting for what follows

    def add(self, block: np.ndarray) -> None:
        """Examine the next ``block`` of samples."""
        if len(block) == 0:
            return
        data = np.concatenate((self._history, self._pending, np.asarray(block, np.float32)))
        count = len(data) - 2 * _HALF_WINDOW - 1  # samples whose window is complete
        if count <= 0:
            self._pending = data[_HALF_WINDOW:]
            return
        self._best = _true_peak(data, count, self._best)
        done = _HALF_WINDOW + count
        self._history = data[done - _HALF_WINDOW : done]
        self._pending = data[done:]

    def dbtp(self) -> float:
        """The true peak in dBTP of everything added so far, taking what follows as
        silence (-inf for digital silence)."""
        best = self._best
        if len(self._pending):
            tail = np.zeros(_HALF_WINDOW + 1, dtype=np.float32)
            data = np.concatenate((self._history, self._pending, tail))
            best = _true_peak(data, len(self._pending), best)
        return 20 * math.log10(best) if best > 0 else -math.inf


def _true_peak(data: np.ndarray, count: int, best: float) -> float:
    """The larger of ``best`` and the true peak of ``count`` samples from
    ``data[_HALF_WINDOW]`` on, ``data`` holding their whole windows."""
    headroom = 10 ** (INTERSAMPLE_HEADROOM_DB / 20)
    sample_peak = float(np.max(np.abs(data[_HALF_WINDOW : _HALF_WINDOW + count + 1])))
    if sample_peak * headroom <= best:
        return best
    floor = max(sample_peak, best) / headroom
    return max(best, float(_envelope(data, count, floor).max(initial=0.0)))


def true_peak_dbtp(samples: np.ndarray | TrackAudio, sr: int) -> float:
    """Largest 4x-oversampled absolute value of ``samples`` in dBTP."""
    meter = TruePeakMeter()
    for block in as_track(samples, sr).blocks(BLOCK):
        meter.add(block)
    return meter.dbtp()


@functools.cache
def _interpolator() -> np.ndarray:
    """The 4x interpolation filter as a (13, 4) matrix: a 13-sample window of the input
    centred on sample n, times column p, is the signal at n + p/4.

    A 49-tap Kaiser-windowed sinc: 12 or 13 taps per phase (BS.1770-4 uses 12), and with an
    odd length its delay is a whole 6 input samples, so every window is centred. It reads
    sines up to 20 kHz within 0.01 dB of their true peak.
    """
    taps = 2 * _HALF_WINDOW * OVERSAMPLING + 1
    h = firwin(taps, 1 / OVERSAMPLING, window=("kaiser", 6.0)) * OVERSAMPLING
    matrix = np.zeros((2 * _HALF_WINDOW + 1, OVERSAMPLING), dtype=np.float32)
    for phase in range(OVERSAMPLING):
        polyphase = h[phase::OVERSAMPLING]
        for k in range(2 * _HALF_WINDOW + 1):
            # Output at n + phase/4 is sum_i polyphase[i] * x[n + HALF - i].
            i = 2 * _HALF_WINDOW - k
            if i < len(polyphase):
                matrix[k, phase] = polyphase[i]
    return matrix


def _peak_envelope(
    track: TrackAudio, start: int, end: int, gain: float = 1.0, floor: float = 0.0
) -> np.ndarray:
    """Per sample of ``track`` in [start, end) (scaled by ``gain``): the largest absolute
    value of the 4x oversampled signal from that sample to the next (see :func:`_envelope`).
    """
    padded = track.read(start - _HALF_WINDOW, end + _HALF_WINDOW + 1)  # zeros outside
    if gain != 1.0:
        padded *= np.float32(gain)
    return _envelope(padded, end - start, floor)


def _envelope(padded: np.ndarray, count: int, floor: float) -> np.ndarray:
    """For ``count`` samples from ``padded[_HALF_WINDOW]`` on (``padded`` holding
    :data:`_HALF_WINDOW` samples before them and one more than that after): the largest
    absolute value of the 4x oversampled signal from each sample to the next.

    Oversampling is only done where the sample or the next one reaches ``floor``; elsewhere
    the sample's own magnitude is returned (a stretch that stays below the floor cannot
    have intersample peaks much above it).
    """
    half = _HALF_WINDOW
    magnitude = np.abs(padded)
    envelope = magnitude[half : half + count].copy()
    reaches = magnitude >= floor
    candidates = np.flatnonzero(reaches[half : half + count] | reaches[half + 1 : half + 1 + count])
    taps = _interpolator()
    # A few thousand samples at a time keeps the temporaries small. The filter is summed
    # tap by tap rather than as a matrix product: a threaded BLAS spins against the
    # encoder running alongside and takes several times as long.
    for first in range(0, candidates.size, _WINDOWS_AT_ONCE):
        chosen = candidates[first : first + _WINDOWS_AT_ONCE]
        window = [padded[chosen + k] for k in range(2 * half + 1)]
        interpolated = np.zeros(len(chosen), dtype=np.float32)
        for phase in range(OVERSAMPLING):
            value = window[0] * taps[0, phase]
            for k in range(1, 2 * half + 1):
                if taps[k, phase]:  # the shorter phases have a zero tap
                    value += window[k] * taps[k, phase]
            interpolated = np.maximum(interpolated, np.abs(value))
        envelope[chosen] = np.maximum(envelope[chosen], interpolated)
    return envelope


# --------------------------------------------------------------------------- limiter


@dataclass(frozen=True)
class Reduction:
    max_db: float
    samples: int  # samples with more than 0.1 dB of gain reduction


def limit(
    samples: np.ndarray | TrackAudio, sr: int, gain_db: float, ceiling_db: float
) -> tuple[np.ndarray, Reduction]:
    """Apply ``gain_db``, then keep the true peak at or below ``ceiling_db`` (see
    :class:`Limiter`); the whole output in one array."""
    limiter = Limiter(as_track(samples, sr), gain_db, ceiling_db)
    output = np.empty(limiter.track.length, dtype=np.float32)
    position = 0
    for block in limiter.blocks():
        output[position : position + len(block)] = block
        position += len(block)
    return output, limiter.reduction


class Limiter:
    """Gain, then a look-ahead true-peak limiter, over a track, streamed block by block.

    Gain reduction ``r`` (dB) needed at each sample is held over the look-ahead window,
    released with time constant :data:`RELEASE_S`, then averaged over the look-ahead
    window. The average at a peak covers only held values that already include that peak,
    so the reduction there is never less than needed, while its onset becomes a smooth ramp.
    The recurrences run block by block with their state carried across; the track is read
    a look-ahead past each block, so peaks just after a block pull its end down.
    """

    def __init__(self, track: TrackAudio, gain_db: float, ceiling_db: float) -> None:
        self.track = track
        self.gain_db = gain_db
        self.ceiling_db = ceiling_db
        self._max_db = 0.0
        self._reduced = 0

    @property
    def reduction(self) -> Reduction:
        """The reduction applied by the blocks produced so far."""
        return Reduction(max_db=self._max_db, samples=self._reduced)

    def blocks(self) -> Iterator[np.ndarray]:
        """The limited track in consecutive float32 blocks of :data:`BLOCK` samples."""
        track, sr, n = self.track, self.track.sample_rate, self.track.length
        gain = 10 ** (self.gain_db / 20)
        ceiling = 10 ** (self.ceiling_db / 20)
        lookahead = max(round(LOOKAHEAD_S * sr), 1)
        decay = 1 / (RELEASE_S * sr)  # per sample, in the log of the reduction
        headroom = 10 ** (INTERSAMPLE_HEADROOM_DB / 20)
        quiet = ceiling / headroom / gain  # input level that cannot need limiting

        held_tail = np.zeros(lookahead - 1)  # the last look-ahead-1 released values
        released = 0.0  # release state at the previous sample
        for a in range(0, n, BLOCK):
            b = min(a + BLOCK, n)
            ahead = min(b + lookahead, n)
            pending = released > 0.0 or held_tail.any()
            if track.is_silent(a, ahead) and not pending:
                yield np.zeros(b - a, dtype=np.float32)
                continue
            samples = track.read(a, ahead)
            needed = None
            if np.max(np.abs(samples), initial=0.0) >= quiet:
                envelope = _peak_envelope(track, a, ahead, gain, floor=ceiling / headroom)
                over = envelope > ceiling
                if over.any():
                    needed = np.zeros(ahead - a)
                    needed[over] = 20 * np.log10(envelope[over] / ceiling)
            if needed is None:
                if not pending:  # no reduction here nor pending
                    yield samples[: b - a] * np.float32(gain)
                    continue
                needed = np.zeros(ahead - a)
            # Before the first sample, the ramp needs look-ahead-1 virtual samples of
            # silence, so that a peak right at the start is reduced in full too.
            virtual = lookahead - 1 if a == 0 else 0
            if virtual:
                needed = np.concatenate((np.zeros(virtual), needed))
            # Forward hold: the largest reduction needed from here to a look-ahead later.
            held = maximum_filter1d(
                needed, size=lookahead, origin=-(lookahead // 2), mode="constant"
            )
            released_block = _release(held[: virtual + b - a], released, decay)
            if virtual:
                held_tail, released_block = released_block[:virtual], released_block[virtual:]
            released = float(released_block[-1])
            # Trailing average over the look-ahead window: the attack ramp.
            extended = np.concatenate((held_tail, released_block))
            sums = np.cumsum(np.concatenate(([0.0], extended)))
            smoothed = (sums[lookahead:] - sums[:-lookahead]) / lookahead
            held_tail = extended[len(extended) - (lookahead - 1) :]
            scale = np.full(b - a, gain, dtype=np.float32)
            active = np.flatnonzero(smoothed > 0)
            scale[active] = gain * 10 ** (-smoothed[active] / 20)
            self._max_db = max(self._max_db, float(smoothed.max(initial=0.0)))
            self._reduced += int(np.count_nonzero(smoothed > 0.1))
            yield samples[: b - a] * scale


def _release(held: np.ndarray, previous: float, decay: float) -> np.ndarray:
    """``y[i] = max(held[i], y[i-1] * exp(-decay))`` with ``y[-1] = previous``: hold each
    reduction, letting it fade exponentially. Values below a negligible reduction are 0."""
    with np.errstate(divide="ignore"):
        log_held = np.log(held)
        log_previous = math.log(previous) if previous > 0 else -math.inf
    released = np.exp(_decaying_max(log_held, log_previous, decay))
    released[released < _NEGLIGIBLE_DB] = 0.0
    return released


def _decaying_max(values: np.ndarray, previous: float, step: float) -> np.ndarray:
    """``y[i] = max(values[i], y[i-1] - step)`` with ``y[-1] = previous``, without a loop.

    Unrolled, ``y[i] = max over k <= i of (values[k] - step * (i - k))``: a running maximum
    of ``values[k] + step * k``, less ``step * i``.
    """
    index = np.arange(len(values), dtype=np.float64)
    running = np.maximum.accumulate(values + step * index) - step * index
    return np.maximum(running, previous - step * (index + 1))


# --------------------------------------------------------------------------- files


def measure_file(path: Path | str, sr: int = 44100) -> Loudness:
    """Integrated loudness (BS.1770-4) and 4x-oversampled true peak of an audio file, as
    decoded by ffmpeg at ``sr``, measured as the decoded samples stream in."""
    loudness = LoudnessMeter(sr)
    peak = TruePeakMeter()
    for block in decoded_blocks(path, sr):
        loudness.add(block)
        peak.add(block)
    return Loudness(
        integrated_lufs=round(loudness.integrated(), 2),
        true_peak_dbtp=round(peak.dbtp(), 2),
    )


def decode_file(path: Path | str, sr: int = 44100) -> np.ndarray:
    """Mono float32 samples of an audio file, decoded by ffmpeg (gapless for our MP3s)."""
    result = run_ffmpeg([*_decoder_args(path, sr), "-f", "f32le", "-"])
    return np.frombuffer(result.stdout, dtype=np.float32)


def decoded_blocks(path: Path | str, sr: int = 44100) -> Iterator[np.ndarray]:
    """Mono float32 samples of an audio file as ffmpeg decodes them, :data:`BLOCK` at a
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
        while chunk := stream.read(BLOCK * 4):
            if not put(chunk):
                return
    except (OSError, ValueError):
        pass  # the stream was closed under us: the process is being stopped
    put(None)
