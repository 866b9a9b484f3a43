"""Speech detection: mono samples -> the regions where someone is speaking.

A frame counts as speech when the WebRTC voice-activity detector says so *and* its level is
clearly above the recording's own noise floor. The detector alone fires on hum, breaths and
room noise in quiet passages; the energy floor alone cannot tell a fan from a voice. Both
together are robust, and the floor adapts to each recording, so a phone memo and a studio
take are treated alike.

Everything here works at 16 kHz (what the detector accepts) on a high-passed copy of the
signal, in 10 ms frames; region boundaries are then refined on the level curve so that a
soft onset the detector missed is not cut off.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

from pipeline.dsp import resample

#: Rate of the analysis copy: one the voice-activity detector accepts.
ANALYSIS_RATE = 16000
#: Analysis hop, seconds (the detector's shortest frame).
HOP = 0.01
#: High-pass of the analysis copy: above mains hum and its first harmonic, below speech.
ANALYSIS_HIGHPASS_HZ = 110.0
#: A quiet stretch this long (seconds) ends a region's edge; a shorter one is the closure of a
#: stop consonant, and the weak release after it ("drop", "sit") is still speech.
DIP = 0.12
#: Below this spread (dB) between the loud and the quiet frames there is no speech at all.
MIN_CONTRAST_DB = 12.0


@dataclass(frozen=True)
class Region:
    """One stretch of speech, in seconds from the start of the audio."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True, eq=False)
class Detection:
    """Speech regions of one recording and the levels they were judged by (dBFS)."""

    regions: tuple[Region, ...]
    noise_floor_db: float  # typical level of the quiet frames
    speech_level_db: float  # typical level of the loud frames
    threshold_db: float  # the energy floor a speech frame must exceed
    levels: np.ndarray  # level of each analysis frame, dBFS
    duration: float  # seconds of audio analysed


@dataclass(frozen=True)
class DetectOptions:
    """How speech is told from silence.

    ``min_gap`` closes the short gaps inside words (stop consonants) so that one word is one
    region; ``min_region`` drops clicks; ``floor_margin_db`` is how far above the noise floor
    a frame must be to count as speech, and ``edge_margin_db`` how far above it a region's
    edge may be extended when refining boundaries (by at most ``max_edge_extension``).
    """

    aggressiveness: int = 2
    min_gap: float = 0.15
    min_region: float = 0.05
    floor_margin_db: float = 10.0
    edge_margin_db: float = 5.0
    max_edge_extension: float = 0.25


def highpass(samples: np.ndarray, rate: int, cutoff_hz: float, order: int = 4) -> np.ndarray:
    """Zero-phase Butterworth high-pass (no shift of onsets, which matters for cut points)."""
    if len(samples) < 64:
        return (
            np.asarray(samples, dtype=np.float64) - float(np.mean(samples))
            if len(samples)
            else samples
        )
    sos = signal.butter(order, cutoff_hz, btype="highpass", fs=rate, output="sos")
    # padlen must stay below the signal length for very short takes.
    padlen = min(3 * (2 * len(sos) + 1), len(samples) - 1)
    return signal.sosfiltfilt(sos, np.asarray(samples, dtype=np.float64), padlen=padlen)


def frame_levels(
    samples: np.ndarray, rate: int, hop: float = HOP, window: float = 0.02
) -> np.ndarray:
    """RMS level in dBFS of a ``window``-long frame centred on each ``hop``."""
    hop_n = max(int(round(hop * rate)), 1)
    win_n = max(int(round(window * rate)), hop_n)
    count = int(np.ceil(len(samples) / hop_n)) if len(samples) else 0
    if count == 0:
        return np.zeros(0)
    power = np.asarray(samples, dtype=np.float64) ** 2
    csum = np.concatenate(([0.0], np.cumsum(power)))
    centres = np.arange(count) * hop_n + hop_n // 2
    lo = np.clip(centres - win_n // 2, 0, len(samples))
    hi = np.clip(centres + win_n // 2, 0, len(samples))
    mean = (csum[hi] - csum[lo]) / np.maximum(hi - lo, 1)
    return 10.0 * np.log10(mean + 1e-12)


def analysis_copy(samples: np.ndarray, rate: int) -> np.ndarray:
    """The 16 kHz, DC-free, hum-free copy that detection looks at."""
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim > 1:
        x = x.mean(axis=1)
    x = x - (float(np.mean(x)) if len(x) else 0.0)
    x = resample(x, rate, ANALYSIS_RATE, dtype=np.float64)
    return highpass(x, ANALYSIS_RATE, ANALYSIS_HIGHPASS_HZ)


def vad_flags(x16: np.ndarray, aggressiveness: int, gain: float) -> np.ndarray:
    """The WebRTC detector's verdict on each 10 ms frame of a 16 kHz signal."""
    import webrtcvad

    vad = webrtcvad.Vad(aggressiveness)
    n = int(ANALYSIS_RATE * HOP)
    count = len(x16) // n
    pcm = np.clip(np.round(x16[: count * n] * gain * 32767.0), -32768, 32767).astype("<i2")
    raw = pcm.tobytes()
    step = 2 * n
    return np.fromiter(
        (vad.is_speech(raw[i * step : (i + 1) * step], ANALYSIS_RATE) for i in range(count)),
        dtype=bool,
        count=count,
    )


def detect_speech(
    samples: np.ndarray, rate: int, options: DetectOptions | None = None
) -> Detection:
    """Find the speech regions of ``samples`` (mono, any rate)."""
    options = options or DetectOptions()
    x = analysis_copy(samples, rate)
    levels = frame_levels(x, ANALYSIS_RATE)
    duration = len(x) / ANALYSIS_RATE
    if len(levels) < 3:
        return Detection((), -120.0, -120.0, 0.0, levels, duration)

    floor_db, loud_db, threshold_db = _level_thresholds(levels, options.floor_margin_db)
    if loud_db - floor_db < MIN_CONTRAST_DB:
        # Speech comes and goes (syllables, words, breaths); a level that hardly moves is a
        # hum, a fan or an open channel, however loud.
        return Detection((), floor_db, loud_db, threshold_db, levels, duration)
    # The detector is level-sensitive: present it speech at a typical recording level, so a
    # quiet phone memo and a hot studio take get the same verdicts.
    gain = float(10 ** ((-20.0 - loud_db) / 20.0))
    flags = vad_flags(x, options.aggressiveness, gain)
    count = min(len(flags), len(levels))
    speech = flags[:count] & (levels[:count] > threshold_db)

    runs = _runs(speech)
    runs = _close_gaps(runs, int(round(options.min_gap / HOP)))
    runs = [(a, b) for a, b in runs if (b - a) * HOP >= options.min_region]
    runs = _refine_edges(
        runs, levels, floor_db + options.edge_margin_db, options.max_edge_extension
    )
    regions = tuple(Region(a * HOP, min(b * HOP, duration)) for a, b in runs)
    return Detection(regions, floor_db, loud_db, threshold_db, levels, duration)


def _level_thresholds(levels: np.ndarray, margin_db: float) -> tuple[float, float, float]:
    """Noise floor, speech level and the speech threshold of a level curve.

    The floor is a low percentile (pauses are the quietest frames), the speech level a high
    one. The threshold sits ``margin_db`` above the floor, but never so close to the speech
    level that quiet syllables drop out (a take with almost no silence has a high "floor"),
    nor absurdly far below it (digital silence has a floor of -120 dBFS).
    """
    audible = levels[levels > -100.0]
    if len(audible) == 0:
        return -120.0, -120.0, 0.0
    floor_db = float(np.percentile(audible, 10))
    loud_db = float(np.percentile(audible, 95))
    threshold = float(np.clip(floor_db + margin_db, loud_db - 45.0, loud_db - 15.0))
    return floor_db, loud_db, threshold


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """Half-open index ranges where ``flags`` is true."""
    if len(flags) == 0:
        return []
    padded = np.concatenate(([False], flags, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _close_gaps(runs: list[tuple[int, int]], max_gap: int) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for a, b in runs:
        if merged and a - merged[-1][1] <= max_gap:
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return merged


def _refine_edges(
    runs: list[tuple[int, int]], levels: np.ndarray, edge_db: float, max_extension: float
) -> list[tuple[int, int]]:
    """Extend each region outward to the last frame still clearly above the noise floor: the
    detector decides late on soft onsets (breathy "h", "f") and gives up early on a final
    "s" after a short dip. A dip of ``DIP`` or more ends the search: that is silence."""
    reach = int(round(max_extension / HOP))
    dip = int(round(DIP / HOP))
    out: list[tuple[int, int]] = []
    for i, (a, b) in enumerate(runs):
        low = max(out[-1][1] if out else 0, a - reach)
        high = min(runs[i + 1][0] if i + 1 < len(runs) else len(levels), b + reach)
        a = _reach(levels, a - 1, low - 1, -1, edge_db, dip)
        b = _reach(levels, b, high, 1, edge_db, dip) + 1
        out.append((a, b))
    return out


def _reach(levels: np.ndarray, begin: int, stop: int, step: int, edge_db: float, dip: int) -> int:
    """Scan from ``begin`` towards ``stop`` (exclusive); the last frame above ``edge_db``
    before ``dip`` frames in a row below it (``begin - step`` when there is none)."""
    last = begin - step
    quiet = 0
    for i in range(begin, stop, step):
        if levels[i] > edge_db:
            last, quiet = i, 0
        else:
            quiet += 1
            if quiet >= dip:
                break
    return last
