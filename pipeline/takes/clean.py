"""Clean-up of one take before assembly: raw recording -> speech at the master rate.

A take recorded at home has a long silence before and after, a DC offset or rumble from the
microphone, maybe hum or hiss, and its own level. Assembled as it is, each segment would
start with a thud and sound nearer or farther than the last. So each take is:

1. checked for clipping (reported: it cannot be undone, only re-recorded);
2. resampled to the master rate, DC and rumble removed (zero-phase high-pass, ~75 Hz);
3. optionally de-noised (spectral gating with ``noisereduce``, its noise profile taken from
   the take's own pauses);
4. trimmed to its speech with a short natural margin;
5. brought to a common speech level (RMS of the speech only, so pauses and a long tail do
   not make a take louder), without its peaks going over a ceiling;
6. faded in over its lead margin and out over its tail margin, so there is no edge click
   and the room tone rises out of (and falls back into) the digital silence around it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from pipeline.dsp import resample
from pipeline.model import SAMPLE_RATE, Audio
from pipeline.takes.detect import DetectOptions, Region, detect_speech, highpass
from pipeline.takes.store import TakeError

log = logging.getLogger(__name__)

#: Bump when cleaning changes how a take sounds: part of the takes engine's identity.
CLEAN_FORMAT = 1


@dataclass(frozen=True)
class CleanOptions:
    highpass_hz: float = 75.0
    denoise: bool = False
    denoise_strength: float = 0.8  # 0..1: how much of the noise estimate is removed
    # RMS of the speech, dBFS, where every take is brought: speech peaks run 15-20 dB above
    # it, so this leaves room below the ceiling for all but the most percussive readings.
    speech_level_db: float = -23.0
    peak_ceiling_db: float = -1.0  # no sample above this after the gain
    lead: float = 0.06  # seconds kept before the first sound
    tail: float = 0.12  # ...and after the last (a voice decays; a hard stop sounds cut)
    fade: float = 0.01  # shortest fade, when a margin is shorter than this
    clip_level: float = 0.999  # |sample| at or above this counts as clipped
    detect: DetectOptions = DetectOptions()


@dataclass(frozen=True, eq=False)
class CleanTake:
    """A take ready for assembly."""

    samples: np.ndarray  # float32, mono
    sample_rate: int
    regions: tuple[Region, ...]  # speech inside ``samples``, seconds
    gain_db: float  # applied to reach the common speech level
    warnings: tuple[str, ...]

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sample_rate


class NoSpeech(TakeError):
    """A take holds no speech at all (wrong file, or the microphone was muted)."""


def clean_take(
    audio: Audio,
    options: CleanOptions | None = None,
    *,
    sample_rate: int = SAMPLE_RATE,
    label: str = "take",
) -> CleanTake:
    """Clean one take (see the module docstring). ``label`` names it in warnings.

    Raises :class:`NoSpeech` when no speech is found in it.
    """
    options = options or CleanOptions()
    warnings: list[str] = []
    raw = np.asarray(audio.samples, dtype=np.float64)
    clipped = clipped_runs(raw, options.clip_level)
    if clipped:
        where = ", ".join(f"{start / audio.sample_rate:.2f}s" for start, _ in clipped[:5])
        warnings.append(
            f"{label}: clipped in {len(clipped)} place(s) (at {where}); "
            "re-record it a little quieter"
        )

    x = raw - (float(np.mean(raw)) if len(raw) else 0.0)
    x = resample(x, audio.sample_rate, sample_rate, dtype=np.float64)
    x = highpass(x, sample_rate, options.highpass_hz)

    detection = detect_speech(x, sample_rate, options.detect)
    regions = _drop_stray_edges(list(detection.regions))
    if not regions:
        raise NoSpeech(f"{label}: no speech found")
    if options.denoise:
        x = _denoise(x, sample_rate, regions, options.denoise_strength)

    first = max(int((regions[0].start - options.lead) * sample_rate), 0)
    last = min(int(np.ceil((regions[-1].end + options.tail) * sample_rate)), len(x))
    x = x[first:last]
    offset = first / sample_rate
    regions = [Region(r.start - offset, min(r.end - offset, len(x) / sample_rate)) for r in regions]

    gain_db, note = _level_gain(x, sample_rate, regions, options)
    if note:
        warnings.append(f"{label}: {note}")
    x = x * 10 ** (gain_db / 20)
    fade = int(options.fade * sample_rate)
    fade_in = max(int(regions[0].start * sample_rate), fade)
    fade_out = max(len(x) - int(np.ceil(regions[-1].end * sample_rate)), fade)
    x = _fade_edges(x, fade_in, fade_out)
    for warning in warnings:
        log.warning("%s", warning)
    return CleanTake(x.astype(np.float32), sample_rate, tuple(regions), gain_db, tuple(warnings))


def clipped_runs(samples: np.ndarray, level: float, min_run: int = 3) -> list[tuple[int, int]]:
    """Runs of at least ``min_run`` consecutive samples at full scale: the sign of a
    recording driven into its limit (one full-scale sample can be a legitimate peak)."""
    hot = np.abs(samples) >= level
    if not hot.any():
        return []
    padded = np.concatenate(([0], hot.astype(np.int8), [0]))
    edges = np.flatnonzero(np.diff(padded))
    return [
        (int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True) if b - a >= min_run
    ]


def _drop_stray_edges(regions: list[Region]) -> list[Region]:
    """Leave out a short isolated sound at either end: the click of a record button or a
    breath long before the first word should not set where the take starts."""
    while (
        len(regions) > 1 and regions[0].duration < 0.15 and regions[1].start - regions[0].end > 0.6
    ):
        regions.pop(0)
    while (
        len(regions) > 1
        and regions[-1].duration < 0.15
        and regions[-1].start - regions[-2].end > 0.6
    ):
        regions.pop()
    return regions


def speech_mask(length: int, rate: int, regions: list[Region]) -> np.ndarray:
    mask = np.zeros(length, dtype=bool)
    for r in regions:
        mask[max(int(r.start * rate), 0) : min(int(np.ceil(r.end * rate)), length)] = True
    return mask


def _denoise(x: np.ndarray, rate: int, regions: list[Region], strength: float) -> np.ndarray:
    import noisereduce

    quiet = x[~speech_mask(len(x), rate, regions)]
    # A noise profile needs a few FFT frames; without enough pause, let noisereduce
    # estimate the noise from the take itself.
    noise = quiet if len(quiet) >= int(0.25 * rate) else None
    reduced = noisereduce.reduce_noise(
        y=x, sr=rate, y_noise=noise, stationary=True, prop_decrease=strength
    )
    return np.asarray(reduced, dtype=np.float64)


def speech_level_db(x: np.ndarray, rate: int, regions: list[Region]) -> float:
    """RMS level of the speech of ``x`` only, dBFS."""
    speech = x[speech_mask(len(x), rate, regions)]
    if len(speech) == 0:
        speech = x
    return float(10 * np.log10(np.mean(speech**2) + 1e-12))


def _level_gain(
    x: np.ndarray, rate: int, regions: list[Region], options: CleanOptions
) -> tuple[float, str | None]:
    """Gain (dB) to the common speech level, limited by the peak ceiling."""
    wanted = options.speech_level_db - speech_level_db(x, rate, regions)
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    headroom = options.peak_ceiling_db - 20 * np.log10(peak + 1e-12)
    if wanted <= headroom:
        return wanted, None
    short = wanted - headroom
    note = None
    if short > 3.0:
        note = f"{short:.1f} dB quieter than the other takes: a peak (a pop? a click?) limits it"
    return float(headroom), note


def _fade_edges(x: np.ndarray, fade_in: int, fade_out: int) -> np.ndarray:
    """Raised-cosine fades of ``fade_in`` and ``fade_out`` samples (each at most half)."""
    x = x.copy()
    n = min(fade_in, len(x) // 2)
    if n > 0:
        x[:n] *= _ramp(n)
    n = min(fade_out, len(x) // 2)
    if n > 0:
        x[-n:] *= _ramp(n)[::-1]
    return x


def _ramp(n: int) -> np.ndarray:
    return 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, n))
