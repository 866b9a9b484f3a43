"""Master stage: an assembled track -> the same track at the target loudness, peaks limited.

Integrated loudness is measured per ITU-R BS.1770-4 / EBU R128 (K-weighting, 400 ms blocks,
absolute and relative gates), the track is brought to the target, and a look-ahead
true-peak limiter keeps the 4x oversampled peak below the ceiling. The ceiling sits a little
below the requested true-peak limit because MP3 encoding adds overshoot of its own. Limiting
takes a little loudness away, so gain and limiting are repeated until the result lands on
the target.

Everything runs block by block over the track (hour-long tracks are normal here) with
numpy/scipy doing the per-sample work; only gain changes, so digital silence stays exactly
zero.

:func:`measure_file` decodes an encoded file with ffmpeg and measures what came out, which
is what the manifest reports: the loudness of the file a listener gets. (Decoding and
measuring here is about twice as fast as ffmpeg's ``ebur128`` filter with true peak on, and
agrees with it to the tenth of a unit it prints.)
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.ndimage import maximum_filter1d
from scipy.signal import firwin, sosfilt

from pipeline.ffmpeg import run_ffmpeg
from pipeline.model import Loudness

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
#: Intersample peaks of real audio stay well within this of the sample peak, so a stretch
#: whose sample peak is this far below the ceiling needs no oversampling.
INTERSAMPLE_HEADROOM_DB = 6.0
_HALF_WINDOW = 6  # input samples each side of the interpolator's centre

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


def master(
    samples: np.ndarray,
    sr: int,
    target_lufs: float = -16.0,
    true_peak_limit: float = -1.0,
) -> tuple[np.ndarray, MasterReport]:
    """Normalise ``samples`` to ``target_lufs`` with the true peak under ``true_peak_limit``
    less :data:`MP3_MARGIN_DB`. Returns float32 samples and what was done."""
    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    ceiling_db = true_peak_limit - MP3_MARGIN_DB
    input_lufs = integrated_loudness(samples, sr)
    if not math.isfinite(input_lufs):
        log.warning("track is silent; mastering leaves it as it is")
        peak = true_peak_dbtp(samples, sr)
        return samples.copy(), MasterReport(input_lufs, input_lufs, 0.0, peak, 0.0, 0.0, 0)

    gain_db = plain_gain_db = target_lufs - input_lufs
    previous: tuple[float, float] | None = None  # (gain, loudness) of the last pass
    passes = 0
    while True:
        passes += 1
        output, reduction = limit(samples, sr, gain_db, ceiling_db)
        output_lufs = integrated_loudness(output, sr)
        error = target_lufs - output_lufs
        if abs(error) <= LOUDNESS_TOLERANCE_LU or passes == MAX_PASSES:
            break
        # Under heavy limiting 1 dB of gain adds less than 1 LU: step by the slope seen
        # between the last two passes (a secant step), within sane bounds.
        slope = 1.0
        if previous is not None and gain_db != previous[0]:
            slope = (output_lufs - previous[1]) / (gain_db - previous[0])
            slope = min(max(slope, 0.2), 1.0)
        next_gain_db = min(gain_db + error / slope, plain_gain_db + MAX_MAKEUP_DB)
        if next_gain_db == gain_db:
            break  # at the makeup limit already
        previous = (gain_db, output_lufs)
        gain_db = next_gain_db
        del output  # before the next pass allocates its own: one hour is 600 MB
    if abs(error) > 0.5:
        log.warning(
            "master ends %.2f LU off target %.1f LUFS: the track is too peaky to reach it "
            "under a %.1f dBTP ceiling",
            -error,
            target_lufs,
            ceiling_db,
        )
    report = MasterReport(
        input_lufs=input_lufs,
        output_lufs=output_lufs,
        gain_db=gain_db,
        true_peak_dbtp=true_peak_dbtp(output, sr),
        max_reduction_db=reduction.max_db,
        limited_seconds=reduction.samples / sr,
        passes=passes,
    )
    log.debug("master: %s", report)
    return output, report


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


def integrated_loudness(samples: np.ndarray, sr: int) -> float:
    """Gated integrated loudness of mono ``samples`` in LUFS (-inf when all is gated)."""
    sos = k_weighting(sr)
    state = np.zeros((sos.shape[0], 2))
    hop = round(0.1 * sr)  # blocks are 400 ms, overlapping by 75 %: built from 100 ms hops
    chunk = hop * 600
    usable = len(samples) - len(samples) % hop
    energies = []
    for start in range(0, usable, chunk):
        piece = np.asarray(samples[start : min(start + chunk, usable)], dtype=np.float64)
        weighted, state = sosfilt(sos, piece, zi=state)
        energies.append(np.square(weighted).reshape(-1, hop).sum(axis=1))
    if not energies:
        return -math.inf
    hops = np.concatenate(energies)
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


# --------------------------------------------------------------------------- true peak


def true_peak_dbtp(samples: np.ndarray, sr: int) -> float:
    """Largest 4x-oversampled absolute value of ``samples`` in dBTP.

    Blocks are examined loudest first, and the search stops once a block's sample peak is
    too far below the best true peak found to beat it.
    """
    n = len(samples)
    headroom = 10 ** (INTERSAMPLE_HEADROOM_DB / 20)
    sample_peaks = [
        float(np.max(np.abs(samples[a : a + BLOCK]), initial=0.0)) for a in range(0, n, BLOCK)
    ]
    best = 0.0
    for index in np.argsort(sample_peaks)[::-1]:
        if sample_peaks[index] * headroom <= best:
            break
        a = index * BLOCK
        floor = sample_peaks[index] / headroom
        envelope = _peak_envelope(samples, a, min(a + BLOCK, n), floor=floor)
        best = max(best, float(envelope.max(initial=0.0)))
    return 20 * math.log10(best) if best > 0 else -math.inf


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
    samples: np.ndarray, start: int, end: int, gain: float = 1.0, floor: float = 0.0
) -> np.ndarray:
    """Per input sample in [start, end) (scaled by ``gain``): the largest absolute value
    of the 4x oversampled signal from that sample to the next.

    Oversampling is only done where the sample or the next one reaches ``floor``; elsewhere
    the sample's own magnitude is returned (a stretch that stays below the floor cannot
    have intersample peaks much above it).
    """
    half = _HALF_WINDOW
    lo, hi = max(start - half, 0), min(end + half + 1, len(samples))
    piece = np.asarray(samples[lo:hi], dtype=np.float32)
    if gain != 1.0:
        piece = piece * np.float32(gain)
    # Outside the track is silence; padded[k] is the sample at start - half + k.
    padded = np.pad(piece, (half - (start - lo), half + 1 - (hi - end)))
    magnitude = np.abs(padded)
    count = end - start
    envelope = magnitude[half : half + count].copy()
    reaches = magnitude >= floor
    candidates = np.flatnonzero(reaches[half : half + count] | reaches[half + 1 : half + 1 + count])
    if candidates.size:
        windows = padded[candidates[:, None] + np.arange(2 * half + 1)]
        phases = np.abs(windows @ _interpolator())
        interpolated = np.maximum(
            np.maximum(phases[:, 0], phases[:, 1]), np.maximum(phases[:, 2], phases[:, 3])
        )
        envelope[candidates] = np.maximum(envelope[candidates], interpolated)
    return envelope


# --------------------------------------------------------------------------- limiter


@dataclass(frozen=True)
class Reduction:
    max_db: float
    samples: int  # samples with more than 0.1 dB of gain reduction


def limit(
    samples: np.ndarray, sr: int, gain_db: float, ceiling_db: float
) -> tuple[np.ndarray, Reduction]:
    """Apply ``gain_db``, then keep the true peak at or below ``ceiling_db``.

    Gain reduction ``r`` (dB) needed at each sample is held over the look-ahead window,
    released with time constant :data:`RELEASE_S`, then averaged over the look-ahead window. The
    average at a peak covers only held values that already include that peak, so the
    reduction there is never less than needed, while its onset becomes a smooth ramp.
    The same recurrences run block by block with their state carried across.
    """
    n = len(samples)
    gain = 10 ** (gain_db / 20)
    ceiling = 10 ** (ceiling_db / 20)
    lookahead = max(round(LOOKAHEAD_S * sr), 1)
    decay = 1 / (RELEASE_S * sr)  # per sample, in the log of the reduction
    headroom = 10 ** (INTERSAMPLE_HEADROOM_DB / 20)
    quiet = ceiling / headroom / gain  # input level that cannot need limiting

    output = np.empty(n, dtype=np.float32)
    held_tail = np.zeros(lookahead - 1)  # the last look-ahead-1 released values
    released = 0.0  # release state at the previous sample
    max_db = 0.0
    reduced = 0
    for a in range(0, n, BLOCK):
        b = min(a + BLOCK, n)
        ahead = min(b + lookahead, n)  # peaks just after the block pull its end down
        needed = None
        if np.max(np.abs(samples[a:ahead]), initial=0.0) >= quiet:
            envelope = _peak_envelope(samples, a, ahead, gain, floor=ceiling / headroom)
            over = envelope > ceiling
            if over.any():
                needed = np.zeros(ahead - a)
                needed[over] = 20 * np.log10(envelope[over] / ceiling)
        if needed is None:
            if released <= 0.0 and not held_tail.any():  # no reduction here nor pending
                output[a:b] = samples[a:b] * np.float32(gain)
                continue
            needed = np.zeros(ahead - a)
        # Before the first sample, the ramp needs look-ahead-1 virtual samples of silence,
        # so that a peak right at the start is reduced in full too.
        virtual = lookahead - 1 if a == 0 else 0
        if virtual:
            needed = np.concatenate((np.zeros(virtual), needed))
        # Forward hold: the largest reduction needed from here to a look-ahead later.
        held = maximum_filter1d(needed, size=lookahead, origin=-(lookahead // 2), mode="constant")
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
        output[a:b] = samples[a:b] * scale
        max_db = max(max_db, float(smoothed.max(initial=0.0)))
        reduced += int(np.count_nonzero(smoothed > 0.1))
    return output, Reduction(max_db=max_db, samples=reduced)


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
    decoded by ffmpeg at ``sr``."""
    samples = decode_file(path, sr)
    return Loudness(
        integrated_lufs=round(integrated_loudness(samples, sr), 2),
        true_peak_dbtp=round(true_peak_dbtp(samples, sr), 2),
    )


def decode_file(path: Path | str, sr: int = 44100) -> np.ndarray:
    """Mono float32 samples of an audio file, decoded by ffmpeg (gapless for our MP3s)."""
    command = ["-v", "error", "-i", str(path), "-map", "0:a:0", "-ac", "1", "-ar", str(sr)]
    result = run_ffmpeg([*command, "-f", "f32le", "-"])
    return np.frombuffer(result.stdout, dtype=np.float32)
