"""Master stage: an assembled track -> the same track at the target loudness, peaks limited.

Integrated loudness is measured per ITU-R BS.1770-4 / EBU R128 (K-weighting, 400 ms blocks,
absolute and relative gates), the track is brought to the target, and a look-ahead
true-peak limiter keeps the 4x oversampled peak below the ceiling. The ceiling sits a little
below the requested true-peak limit because MP3 encoding adds overshoot of its own.

Limiting takes a little loudness away, so the gain that lands on target is more than the
gain that would reach it unlimited. It is found without limiting the track even once:
:func:`analyse` reads the track one time and keeps, for every cell of
:data:`CELL_S` (1.4 ms), its K-weighted energy and its true peak. The
limiter's gain reduction depends only on the peaks, so a model of the limiter run over the
cells gives the loudness the limited track would have, at any gain, for the cost of a few
array operations; :func:`find_gain` searches that. The limiter itself then runs once, as
the encoder reads the master (:func:`master_track`); the encoded file is what is measured
(:func:`measure_file`).

Everything streams block by block over a lazy :class:`~pipeline.model.TrackAudio`
(hour-long tracks are normal here): the meters carry their filter and look-ahead state
across blocks, so no copy of the whole track is ever held in memory. numpy/scipy do the
per-sample work; only gain changes, so digital silence stays exactly zero, and silent
blocks cost next to nothing.

:func:`measure_file` decodes an encoded file with ffmpeg and measures what comes out as it
streams in, which is what the manifest reports: the loudness of the file a listener gets.
(Decoding and measuring here is about twice as fast as ffmpeg's ``ebur128`` filter with
true peak on, and agrees with it to the tenth of a unit it prints.)
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.ffmpeg import decoded_blocks
from pipeline.model import Loudness, TrackAudio

log = logging.getLogger(__name__)

#: Headroom kept below the true-peak limit for the MP3 encoder's own overshoot: at 96 kbps
#: LAME's quantisation noise lifts peaks over the master's, most at transients the limiter
#: took down hard: by 1.6 and 1.9 dB there on the sample scripts' hibari tracks. Less headroom
#: costs a second master and encode more often; more costs a little more limiting.
MP3_MARGIN_DB = 1.5
#: The master counts as on target within this many LU; the build promises +-1 LU and
#: checks the encoded file against a tighter +-0.3.
LOUDNESS_TOLERANCE_LU = 0.1
#: The gain search gives up after this many steps of the model (each costs milliseconds).
MAX_PASSES = 12
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
#: The resolution of the analysis the gain search works on: about 1.4 ms at 44.1 kHz (a
#: whole number of cells makes a 100 ms hop, see :func:`cell_size`).
CELL_S = 0.0014
#: How far a corrected aim may lie beyond the analysis's own (see :func:`analyse`).
_AIM_SLACK_DB = 3.0
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
_ZERO_CHUNK = 256  # samples looked at together when looking for silence

_ABSOLUTE_GATE_LUFS = -70.0
#: A hop's K-weighted energy (a sum of squares) far below any the absolute gate lets through
#: (a 400 ms block at the gate holds about 2e-3).
_NEGLIGIBLE_ENERGY = 1e-12
_RELATIVE_GATE_LU = -10.0


@dataclass(frozen=True)
class MasterReport:
    input_lufs: float
    output_lufs: float  # of the limited output, as the analysis has it (see find_gain)
    gain_db: float  # gain before limiting
    max_reduction_db: float  # deepest limiter gain reduction
    limited_seconds: float  # time the limiter spent reducing gain by more than 0.1 dB
    passes: int  # steps of the gain search (on the analysis, not the audio)


@dataclass(frozen=True)
class MasterGain:
    """The gain that brings a track to its target, found by :func:`find_gain`."""

    input_lufs: float
    output_lufs: float  # the analysis's estimate for the track with this gain, limited
    gain_db: float
    ceiling_db: float
    passes: int


@dataclass(frozen=True)
class TrackAnalysis:
    """What the gain search needs of a track, read from it once (:func:`analyse`): per cell
    of :func:`cell_size` samples, the K-weighted energy and the true peak (the largest
    4x-oversampled magnitude; exact wherever it could reach ``floor``, the sample peak below
    it). About 20 MB for an hour."""

    sample_rate: int
    length: int
    cell: int
    energy: np.ndarray  # float32 per cell: sum of the K-weighted squared samples
    peak: np.ndarray  # float32 per cell
    floor: float  # below this the peaks are sample peaks

    @property
    def input_lufs(self) -> float:
        return gated_lufs(self.energy, self.cell, self.sample_rate)

    def covers(self, target_lufs: float, ceiling_db: float) -> bool:
        """Whether the peaks are exact wherever a search for ``target_lufs`` under
        ``ceiling_db`` could need them (:func:`analyse` made this for another aim)."""
        input_lufs = self.input_lufs
        if not math.isfinite(input_lufs):
            return True
        largest_db = target_lufs - input_lufs + MAX_MAKEUP_DB
        return self.floor <= 10 ** ((ceiling_db - INTERSAMPLE_HEADROOM_DB - largest_db) / 20)

    def limited_lufs(self, gain_db: float, ceiling_db: float) -> float:
        """The loudness of the track with ``gain_db`` applied and then limited to
        ``ceiling_db``, as the limiter's model over the cells has it."""
        gain = 10 ** (gain_db / 20)
        energy = self.energy * np.float32(gain**2)
        for first, reduction in _model_reduction(self, gain, 10 ** (ceiling_db / 20)):
            energy[first : first + len(reduction)] *= 10 ** (-reduction / 10)
        return gated_lufs(energy, self.cell, self.sample_rate)


def cell_size(sr: int) -> int:
    """Samples per analysis cell: the divisor of a 100 ms hop closest to :data:`CELL_S`."""
    hop = round(0.1 * sr)
    wanted = max(CELL_S * sr, 1.0)
    divisors = [d for d in range(1, int(wanted * 2) + 2) if hop % d == 0]
    return min(divisors, key=lambda d: abs(d - wanted))


def analyse(track: TrackAudio, target_lufs: float, ceiling_db: float) -> TrackAnalysis:
    """Read ``track`` once for the gain search: its K-weighted energy per cell, and per cell
    the true peak wherever the gain that reaches ``target_lufs`` plus :data:`MAX_MAKEUP_DB`
    could take it near ``ceiling_db`` (elsewhere the limiter cannot act; the sample peak
    stands).

    The energies come first, in one streaming pass; the loudness they give fixes the
    largest gain the search may try, and so the floor below which no peak needs
    oversampling; the stretches whose samples reach it are read again for their true peak.
    """
    sr = track.sample_rate
    cell = cell_size(sr)
    block = BLOCK - BLOCK % cell
    meter = LoudnessMeter(sr, cell=cell)
    cells = -(-track.length // cell)
    sample_peak = np.zeros(cells, dtype=np.float32)
    for start in range(0, track.length, block):
        end = min(start + block, track.length)
        if track.is_silent(start, end):
            meter.add_silence(end - start)
            continue
        samples = track.read(start, end)
        meter.add(samples)
        count = -(-(end - start) // cell)
        padded = np.zeros(count * cell, dtype=np.float32)
        padded[: end - start] = np.abs(samples)
        sample_peak[start // cell : start // cell + count] = padded.reshape(-1, cell).max(axis=1)
    energy = meter.cell_energies(cells)
    del meter
    input_lufs = gated_lufs(energy, cell, sr)
    plain_db = target_lufs - input_lufs if math.isfinite(input_lufs) else 0.0
    # The loudest gain the search may try, and some more for a corrected aim.
    largest_db = plain_db + MAX_MAKEUP_DB + _AIM_SLACK_DB
    floor = 10 ** ((ceiling_db - INTERSAMPLE_HEADROOM_DB - largest_db) / 20)
    peak = sample_peak  # made exact where it matters, in place
    for first, last in _runs_of(sample_peak >= floor, gap=64):
        a, b = first * cell, min(last * cell, track.length)
        envelope = _peak_envelope(track, a, b, 1.0, floor=floor)
        count = last - first
        padded = np.zeros(count * cell, dtype=np.float32)
        padded[: b - a] = envelope
        peak[first:last] = np.maximum(peak[first:last], padded.reshape(-1, cell).max(axis=1))
    return TrackAnalysis(sr, track.length, cell, energy, peak, floor)


def _runs_of(mask: np.ndarray, gap: int) -> list[tuple[int, int]]:
    """``(first, last)`` index ranges (last exclusive) covering the True cells of ``mask``,
    runs fewer than ``gap`` cells apart merged into one."""
    on = np.flatnonzero(mask)
    if len(on) == 0:
        return []
    breaks = np.flatnonzero(np.diff(on) > gap)
    starts = np.concatenate(([on[0]], on[breaks + 1]))
    ends = np.concatenate((on[breaks], [on[-1]])) + 1
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def _model_reduction(
    analysis: TrackAnalysis, gain: float, ceiling: float
) -> list[tuple[int, np.ndarray]]:
    """The limiter's gain reduction (dB) at ``gain``, per cell: :class:`Limiter`'s hold,
    release and attack ramp, run on the cells' peaks. As ``(first cell, reduction)`` for
    each stretch where there is any; none elsewhere.

    A stretch runs from a look-ahead before the first cell over the ceiling until the
    release has faded after the last (cells over it nearer than that join the stretch), so
    each starts and ends at rest, like the limiter between them."""
    from scipy.ndimage import maximum_filter1d

    over = analysis.peak * gain > ceiling
    if not over.any():
        return []
    sr, cell = analysis.sample_rate, analysis.cell
    lookahead = max(round(LOOKAHEAD_S * sr / cell), 1)
    decay = cell / (RELEASE_S * sr)
    deepest = 20 * math.log10(float(analysis.peak.max()) * gain / ceiling)
    fade = math.ceil(math.log(max(deepest, 1.0) / _NEGLIGIBLE_DB) / decay) + 2
    stretches = []
    for first, last in _runs_of(over, gap=lookahead + fade):
        start = max(first - (lookahead - 1), 0)
        end = min(last + fade + lookahead, len(over))
        padding = (lookahead - 1) - (first - start)  # virtual rest before the track
        peaks = analysis.peak[start:end]
        needed = np.zeros(padding + end - start)
        needed[padding:] = 20 * np.log10(np.maximum(peaks * gain / ceiling, 1.0))
        held = maximum_filter1d(needed, size=lookahead, origin=-(lookahead // 2), mode="constant")
        released = _release(held, 0.0, decay)
        sums = np.cumsum(np.concatenate((np.zeros(lookahead - 1 - padding), released)))
        stretches.append((start, (sums[lookahead:] - sums[:-lookahead]) / lookahead))
    return stretches


def find_gain(
    analysis: TrackAnalysis,
    target_lufs: float = -16.0,
    ceiling_db: float = -1.0 - 1.0,
    makeup_db: float | None = None,
) -> MasterGain:
    """The gain that, followed by the limiter, lands the analysed track on ``target_lufs``.

    Under limiting 1 dB of gain adds less than 1 LU: each step follows the slope seen
    between the last two (a secant step), within sane bounds, until the model's loudness is
    within :data:`LOUDNESS_TOLERANCE_LU`. It starts from the gain that reaches the
    target unlimited, plus ``makeup_db`` when given: a guess of what limiting will cost (for
    instance what it cost when the track was mastered before a small edit).
    """
    input_lufs = analysis.input_lufs
    if not math.isfinite(input_lufs):
        return MasterGain(input_lufs, input_lufs, 0.0, ceiling_db, 0)
    plain_gain_db = target_lufs - input_lufs
    gain_db = plain_gain_db
    if makeup_db is not None and math.isfinite(makeup_db):
        gain_db += min(max(makeup_db, 0.0), MAX_MAKEUP_DB)
    previous: tuple[float, float] | None = None
    passes = 0
    while True:
        passes += 1
        output_lufs = analysis.limited_lufs(gain_db, ceiling_db)
        error = target_lufs - output_lufs
        if abs(error) <= LOUDNESS_TOLERANCE_LU or passes == MAX_PASSES:
            break
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
    return MasterGain(input_lufs, output_lufs, gain_db, ceiling_db, passes)


class MasteredTrack:
    """A track with its gain found, limited as it is read (:meth:`blocks`), once.

    The report is complete when the blocks have all been read."""

    def __init__(
        self, track: TrackAudio, gain: MasterGain, analysis: TrackAnalysis | None = None
    ) -> None:
        self.track = track
        self.gain = gain
        self.analysis = analysis
        self._report: MasterReport | None = None

    @property
    def length(self) -> int:
        return self.track.length

    @property
    def sample_rate(self) -> int:
        return self.track.sample_rate

    def blocks(self) -> Iterator[np.ndarray]:
        """The mastered track, in consecutive float32 blocks, limited as they are made."""
        track, gain = self.track, self.gain
        if not math.isfinite(gain.input_lufs):
            log.warning("track is silent; mastering leaves it as it is")
            yield from track.blocks(BLOCK)
            self._report = MasterReport(gain.input_lufs, gain.input_lufs, 0.0, 0.0, 0.0, 0)
            return
        limiter = Limiter(track, gain.gain_db, gain.ceiling_db, self.analysis)
        yield from limiter.blocks()
        self._report = MasterReport(
            input_lufs=gain.input_lufs,
            output_lufs=gain.output_lufs,
            gain_db=gain.gain_db,
            max_reduction_db=limiter.reduction.max_db,
            limited_seconds=limiter.reduction.samples / track.sample_rate,
            passes=gain.passes,
        )

    @property
    def report(self) -> MasterReport:
        if self._report is None:
            raise RuntimeError("the mastered track has not been read yet")
        return self._report


def ceiling_for(true_peak_limit: float) -> float:
    """The true-peak ceiling the limiter keeps to for a file limited to ``true_peak_limit``:
    :data:`MP3_MARGIN_DB` lower, for the encoder's own overshoot."""
    return true_peak_limit - MP3_MARGIN_DB


def master_track(
    track: TrackAudio,
    target_lufs: float = -16.0,
    true_peak_limit: float = -1.0,
    *,
    makeup_db: float | None = None,
) -> MasteredTrack:
    """``track`` brought to ``target_lufs`` with its true peak under ``true_peak_limit``
    less :data:`MP3_MARGIN_DB`: the gain is found now (:func:`find_gain`), the limiting is
    done as the result is read."""
    ceiling_db = ceiling_for(true_peak_limit)
    analysis = analyse(track, target_lufs, ceiling_db)
    gain = find_gain(analysis, target_lufs, ceiling_db, makeup_db)
    log.debug("master: %s", gain)
    return MasteredTrack(track, gain, analysis)


def master(
    samples: np.ndarray | TrackAudio,
    sr: int,
    target_lufs: float = -16.0,
    true_peak_limit: float = -1.0,
) -> tuple[np.ndarray, MasterReport]:
    """Normalise ``samples`` to ``target_lufs`` with the true peak under ``true_peak_limit``
    less :data:`MP3_MARGIN_DB`. Returns float32 samples and what was done.

    The whole master is made in memory: for short tracks and tests. A build streams
    :func:`master_track`'s blocks into the encoder instead.
    """
    mastered = master_track(as_track(samples, sr), target_lufs, true_peak_limit)
    output = np.empty(mastered.length, dtype=np.float32)
    position = 0
    for block in mastered.blocks():
        output[position : position + len(block)] = block
        position += len(block)
    return output, mastered.report


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
    hops): about 140 kB for an hour. With ``cell``, a divisor of the hop, the energy of each
    cell of that many samples is kept instead (:meth:`cell_energies`). Blocks may be any
    size; the result does not depend on how the audio was cut.
    """

    def __init__(self, sr: int, cell: int | None = None) -> None:
        self.sample_rate = sr
        self._sos = k_weighting(sr)
        self._state = np.zeros((self._sos.shape[0], 2))
        self._hop = round(0.1 * sr)
        self._cell = cell or self._hop
        if self._hop % self._cell:
            raise ValueError(f"a cell of {cell} samples does not divide a hop of {self._hop}")
        self._settle = round(SETTLE_S * sr)
        self._partial = np.zeros(0)  # weighted samples of a cell not yet complete
        self._cells: list[np.ndarray] = []
        # Hops are few (kept exact); cells many (single precision is ample for a sum).
        self._dtype = np.float64 if self._cell == self._hop else np.float32

    def add(self, block: np.ndarray) -> None:
        """Measure the next ``block`` of samples."""
        if len(block) == 0:
            return
        # Silence after sound is filtered only until the filter has come to rest: filtered
        # further, its decaying state turns subnormal, which costs x86 about 17 times as much
        # per sample, for energies some 300 dB below the absolute gate.
        position = 0
        for start, end in _long_zero_runs(block, self._settle):
            if start > position:
                self._filter(block[position:start])
            self._filter(block[start : start + self._settle])
            position = start + self._settle
            if np.abs(self._state).max() < _SETTLED:
                self._state[:] = 0.0
                self.add_silence(end - position)
                position = end
        if position < len(block):
            self._filter(block[position:])

    def add_silence(self, count: int) -> None:
        """Measure ``count`` samples of digital silence."""
        if count <= 0:
            return
        if np.abs(self._state).max() >= _SETTLED:
            settle = min(count, self._settle)
            self._filter(np.zeros(settle))
            count -= settle
            if np.abs(self._state).max() >= _SETTLED:
                self._filter(np.zeros(count))
                return
        self._state[:] = 0.0
        total = len(self._partial) + count
        whole = total - total % self._cell
        if not whole:
            self._partial = np.concatenate((self._partial, np.zeros(count)))
            return
        cells = np.zeros(whole // self._cell, dtype=self._dtype)
        cells[0] = np.square(self._partial).sum()  # the cell that was under way
        self._cells.append(cells)
        self._partial = np.zeros(total - whole)

    def _filter(self, samples: np.ndarray) -> None:
        if len(samples) == 0:
            return
        if np.abs(self._state).max() < _SETTLED and not np.any(samples):
            self.add_silence(len(samples))  # silence into a filter at rest stays silence
            return
        from scipy.signal import sosfilt  # slow to import; only measuring needs it

        piece = np.asarray(samples, dtype=np.float64)
        weighted, self._state = sosfilt(self._sos, piece, zi=self._state)
        if len(self._partial):
            weighted = np.concatenate((self._partial, weighted))
        whole = len(weighted) - len(weighted) % self._cell
        if whole:
            cells = np.square(weighted[:whole]).reshape(-1, self._cell).sum(axis=1)
            self._cells.append(cells.astype(self._dtype, copy=False))
        self._partial = weighted[whole:].copy()

    def cell_energies(self, count: int | None = None) -> np.ndarray:
        """The K-weighted energy of each whole cell so far; with ``count``, exactly that
        many (the part-filled last cell included, or zeros added)."""
        whole = sum(len(cells) for cells in self._cells)
        total = whole if count is None else count
        out = np.zeros(total, dtype=self._dtype)
        position = 0
        for cells in self._cells:
            used = min(len(cells), total - position)
            out[position : position + used] = cells[:used]
            position += used
        if position < total and len(self._partial):
            out[position] = np.square(self._partial).sum()
        return out

    def integrated(self) -> float:
        """Integrated loudness in LUFS of everything added so far (-inf when all is gated);
        a last hop shorter than 100 ms is left out."""
        return gated_lufs(self.cell_energies(), self._cell, self.sample_rate)


def gated_lufs(cell_energies: np.ndarray, cell: int, sr: int) -> float:
    """Integrated loudness (BS.1770-4 gating) from the K-weighted energies of consecutive
    cells of ``cell`` samples (a divisor of the 100 ms hop); a last hop that is not whole
    is left out."""
    hop = round(0.1 * sr)
    per_hop = hop // cell
    usable = len(cell_energies) - len(cell_energies) % per_hop
    hops = np.asarray(cell_energies[:usable]).reshape(-1, per_hop).sum(axis=1)
    if len(hops) < 4:
        return -math.inf
    blocks = (hops[:-3] + hops[1:-2] + hops[2:-1] + hops[3:]) / (4 * hop)
    with np.errstate(divide="ignore"):
        block_lufs = -0.691 + 10 * np.log10(blocks)
    gated = blocks[block_lufs > _ABSOLUTE_GATE_LUFS]
    if len(gated) == 0:
        return -math.inf
    relative_gate = -0.691 + 10 * math.log10(gated.mean()) + _RELATIVE_GATE_LU
    gated = blocks[(block_lufs > _ABSOLUTE_GATE_LUFS) & (block_lufs > relative_gate)]
    return float(-0.691 + 10 * math.log10(gated.mean()))


def _long_zero_runs(block: np.ndarray, shortest: int) -> list[tuple[int, int]]:
    """``(start, end)`` of runs of exact zeros in ``block`` longer than ``shortest``, each
    cut to whole chunks of :data:`_ZERO_CHUNK` samples (looked at a chunk at a time, which
    is several times faster than finding every zero)."""
    whole = len(block) - len(block) % _ZERO_CHUNK
    if whole == 0:
        return []
    quiet = ~np.asarray(block[:whole]).reshape(-1, _ZERO_CHUNK).any(axis=1)
    if not quiet.any():
        return []
    edges = np.diff(quiet.astype(np.int8), prepend=0, append=0)
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    long_enough = (ends - starts) * _ZERO_CHUNK > shortest
    return [
        (int(a) * _ZERO_CHUNK, int(b) * _ZERO_CHUNK)
        for a, b in zip(starts[long_enough], ends[long_enough], strict=True)
    ]


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
        # Copies, not views: a view would keep the whole of ``data`` alive.
        self._history = data[done - _HALF_WINDOW : done].copy()
        self._pending = data[done:].copy()

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
    from scipy.signal import firwin

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

    def __init__(
        self,
        track: TrackAudio,
        gain_db: float,
        ceiling_db: float,
        analysis: TrackAnalysis | None = None,
    ) -> None:
        self.track = track
        self.gain_db = gain_db
        self.ceiling_db = ceiling_db
        # The cells' true peaks say where reduction may be needed, so the limiter looks
        # for it only there: valid when the analysis's peaks are exact down to where this
        # gain could take them over the ceiling.
        quiet = 10 ** ((ceiling_db - INTERSAMPLE_HEADROOM_DB - gain_db) / 20)
        self.analysis = analysis if analysis is not None and analysis.floor <= quiet else None
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
            needed = self._needed(a, ahead, samples, gain, ceiling, quiet)
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
            released_block = _held_and_released(needed, virtual + b - a, released, lookahead, decay)
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

    def _needed(
        self, a: int, ahead: int, samples: np.ndarray, gain: float, ceiling: float, quiet: float
    ) -> np.ndarray | None:
        """The reduction (dB) each sample of ``a``..``ahead`` needs, or None for none.

        Only a stretch that could go over the ceiling is oversampled: one whose samples
        reach ``quiet``, or, with the analysis, the cells whose true peak goes over."""
        headroom = 10 ** (INTERSAMPLE_HEADROOM_DB / 20)
        if self.analysis is None:
            if np.max(np.abs(samples), initial=0.0) < quiet:
                return None
            stretches = [(a, ahead)]
        else:
            cell = self.analysis.cell
            first = a // cell
            over = self.analysis.peak[first : -(-ahead // cell)] * gain > ceiling
            stretches = [
                (max((first + lo) * cell, a), min((first + hi) * cell, ahead))
                for lo, hi in _runs_of(over, gap=256)
            ]
        needed = None
        for start, end in stretches:
            envelope = _peak_envelope(self.track, start, end, gain, floor=ceiling / headroom)
            over_at = np.flatnonzero(envelope > ceiling)
            if len(over_at):
                if needed is None:
                    needed = np.zeros(ahead - a)
                needed[start - a + over_at] = 20 * np.log10(envelope[over_at] / ceiling)
        return needed


def _held_and_released(
    needed: np.ndarray, count: int, previous: float, lookahead: int, decay: float
) -> np.ndarray:
    """The first ``count`` values of the held reduction (the largest ``needed`` from each
    sample to a look-ahead later), released (:func:`_release`) from ``previous``.

    Reduction is needed at few samples, so both are worked out only around them: from a
    look-ahead before each until its release has faded below a negligible reduction, where
    the release reads zero (as :func:`_release` makes it), and from the start while
    ``previous`` fades. Elsewhere the result is zero, as it would be if worked out."""
    from scipy.ndimage import maximum_filter1d

    released = np.zeros(count)
    over = np.flatnonzero(needed[: count + lookahead - 1] > 0)
    if len(over) == 0 and previous <= 0.0:
        return released
    deepest = max(float(needed.max(initial=0.0)), previous, _NEGLIGIBLE_DB)
    fade = math.ceil(math.log(deepest / _NEGLIGIBLE_DB) / decay) + 2
    # Each sample over needs from a look-ahead before it to a fade after it; samples
    # nearer than that share one window.
    windows = []
    if len(over):
        breaks = np.flatnonzero(np.diff(over) > lookahead + fade)
        firsts = np.concatenate(([over[0]], over[breaks + 1]))
        lasts = np.concatenate((over[breaks], [over[-1]]))
        windows = [
            (max(int(f) - lookahead + 1, 0), min(int(e) + fade, count))
            for f, e in zip(firsts, lasts, strict=True)
        ]
    if previous > 0.0:
        if windows and windows[0][0] <= fade:
            windows[0] = (0, max(windows[0][1], min(fade, count)))
        else:
            windows.insert(0, (0, min(fade, count)))
    for start, end in windows:
        if end <= start:
            continue
        window = needed[start : end + lookahead - 1]
        held = maximum_filter1d(window, size=lookahead, origin=-(lookahead // 2), mode="constant")
        released[start:end] = _release(held[: end - start], previous if start == 0 else 0.0, decay)
    return released


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


@dataclass(frozen=True)
class StretchLoudness:
    """A stretch of a track, measured alone, with silence on either side: the K-weighted
    energy of each 100 ms hop of the track it reaches (its filter's tail included), and its
    true peak. Stretches add up to the whole track (:func:`track_loudness`)."""

    first_hop: int
    hops: tuple[float, ...]
    peak: float  # linear


class StretchMeter:
    """Measures a stretch of a track, fed a block at a time, that starts at track sample
    ``start`` (before the track, if negative: that part is not measured)."""

    def __init__(self, start: int, sr: int) -> None:
        self.sample_rate = sr
        self._hop = round(0.1 * sr)
        self._skip = max(-start, 0)  # samples before the track's first
        start = max(start, 0)
        self._first_hop = start // self._hop
        self._loudness = LoudnessMeter(sr)
        self._samples = start % self._hop  # fed to the loudness meter from its first hop
        self._loudness.add_silence(self._samples)
        self._peak = TruePeakMeter()

    def add(self, block: np.ndarray) -> None:
        if self._skip:
            skipped = min(self._skip, len(block))
            block, self._skip = block[skipped:], self._skip - skipped
        self._loudness.add(block)
        self._peak.add(block)
        self._samples += len(block)

    def result(self) -> StretchLoudness:
        # The filter rings on after the stretch: its tail is the stretch's too.
        settle = round(SETTLE_S * self.sample_rate)
        self._loudness.add(np.zeros(settle))
        hops = self._loudness.cell_energies(-(-(self._samples + settle) // self._hop))
        # Energies this far below the gate's are the filter's tail dying away: not kept.
        audible = np.flatnonzero(hops > _NEGLIGIBLE_ENERGY)
        last = int(audible[-1]) + 1 if len(audible) else 0
        best = self._peak.dbtp()
        peak = 10 ** (best / 20) if math.isfinite(best) else 0.0
        return StretchLoudness(self._first_hop, tuple(hops[:last].tolist()), peak)


def track_loudness(length: int, stretches: Iterable[StretchLoudness], sr: int) -> Loudness:
    """The loudness of a track ``length`` samples long that is silent but for
    ``stretches``, as :func:`measure_file` measures a whole file."""
    hop = round(0.1 * sr)
    hops = np.zeros(length // hop)
    peak = 0.0
    for stretch in stretches:
        first = stretch.first_hop
        energies = np.asarray(stretch.hops[: max(len(hops) - first, 0)])
        hops[first : first + len(energies)] += energies
        peak = max(peak, stretch.peak)
    return Loudness(
        integrated_lufs=round(gated_lufs(hops, hop, sr), 2),
        true_peak_dbtp=round(20 * math.log10(peak), 2) if peak > 0 else -math.inf,
    )
