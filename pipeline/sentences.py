"""Sentence preparation, shared by synth and assemble: a sentence from an engine -> samples
at the master rate, trimmed of the engine's own silence and faded at its edges
(:func:`prepare_sentence`); a segment's sentences joined with the script's sentence pause
(:func:`join_sentences`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from pipeline.dsp import resample, seconds_to_samples
from pipeline.model import SAMPLE_RATE, Audio, RenderedSegment

log = logging.getLogger(__name__)

#: Bump when :func:`prepare_sentence` changes what it makes: cached sentences (which are
#: stored prepared) are then made again.
PREPARE_FORMAT = 1

#: Audio whose short-term level stays below this is silence, at a sentence's edges.
TRIM_THRESHOLD_DBFS = -50.0
#: Length of the RMS window that follows the level; long enough to ignore single samples.
ENVELOPE_WINDOW_S = 0.010
#: Sound shorter than this, standing apart from the rest, is a click, not speech.
MIN_SOUND_S = 0.030
#: Quiet gaps shorter than this (a stop consonant's closure) do not split sound apart.
BRIDGE_S = 0.120
#: Kept beyond the detected sound, so soft onsets and releases are not clipped.
TRIM_MARGIN_S = 0.008
#: Raised-cosine fade at each edge of a sentence, so a trimmed edge never clicks.
FADE_S = 0.006


def sound_bounds(samples: np.ndarray, sample_rate: int) -> tuple[int, int] | None:
    """``(start, end)`` of the audible part of ``samples``, margins included, or None when
    nothing in it rises above the trim threshold for long enough to be sound."""
    n = len(samples)
    if n == 0:
        return None
    loud = _short_term_rms(samples, sample_rate) > 10 ** (TRIM_THRESHOLD_DBFS / 20)
    runs = _runs(loud)
    if not runs:
        return None
    runs = _bridge(runs, round(BRIDGE_S * sample_rate))
    # The RMS window widens every run by about a window length; a click yields a run of
    # about that width, so the minimum applies to the width less the window.
    window = round(ENVELOPE_WINDOW_S * sample_rate)
    shortest = round(MIN_SOUND_S * sample_rate) + window
    kept = [(a, b) for a, b in runs if b - a >= shortest]
    if not kept:
        return None
    margin = round(TRIM_MARGIN_S * sample_rate)
    return max(kept[0][0] - margin, 0), min(kept[-1][1] + margin, n)


def prepare_sentence(audio: Audio, gain_db: float = 0.0) -> np.ndarray:
    """One sentence from an engine -> float32 samples at the master rate, ready to join.

    Resamples to 44.1 kHz, removes any DC offset, applies the voice's gain, trims leading and
    trailing audio below -50 dBFS (a short click is not taken for speech), and fades both
    edges. A sentence with no audible sound gives an empty array.

    An offset is inaudible but not harmless: it fills the headroom the master needs, so a
    voice whose output sits off zero could not be brought to its loudness under the peak
    ceiling, and it would count as sound when trimming.
    """
    samples = resample(np.asarray(audio.samples).reshape(-1), audio.sample_rate, SAMPLE_RATE)
    if len(samples):
        samples = samples - np.float32(samples.mean(dtype=np.float64))
    if gain_db:
        samples = samples * np.float32(10 ** (gain_db / 20))
    bounds = sound_bounds(samples, SAMPLE_RATE)
    if bounds is None:
        log.warning("a sentence rendered as silence (%.2f s of audio)", audio.seconds)
        return np.zeros(0, dtype=np.float32)
    start, end = bounds
    trimmed = np.array(samples[start:end], dtype=np.float32)  # own copy: faded in place
    _fade_edges(trimmed, round(FADE_S * SAMPLE_RATE))
    return trimmed


def join_sentences(
    segment_id: str,
    parts: Sequence[np.ndarray],
    sentence_pause_s: float,
    sample_rate: int = SAMPLE_RATE,
) -> RenderedSegment:
    """Prepared sentences of one segment -> the segment's audio, with exactly
    ``sentence_pause_s`` (rounded to the sample) between two sentences."""
    pause = seconds_to_samples(sentence_pause_s, sample_rate)
    total = sum(len(p) for p in parts) + pause * max(len(parts) - 1, 0)
    audio = np.zeros(total, dtype=np.float32)
    spans = []
    position = 0
    for index, part in enumerate(parts):
        if index:
            position += pause
        audio[position : position + len(part)] = part
        spans.append((position, position + len(part)))
        position += len(part)
    return RenderedSegment(segment_id=segment_id, audio=audio, sentence_spans=tuple(spans))


# --------------------------------------------------------------------------- internals


def _short_term_rms(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """RMS over a centred window at every sample (edges treated as silence)."""
    window = max(round(ENVELOPE_WINDOW_S * sample_rate), 1)
    energy = np.concatenate(([0.0], np.cumsum(np.square(samples, dtype=np.float64))))
    n = len(samples)
    index = np.arange(n)
    half = window // 2
    upper = np.minimum(index + (window - half), n)
    lower = np.maximum(index - half, 0)
    return np.sqrt(np.maximum(energy[upper] - energy[lower], 0.0) / window)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Half-open ``(start, end)`` index ranges where ``mask`` is True."""
    edges = np.diff(mask.astype(np.int8), prepend=0, append=0)
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def _bridge(runs: list[tuple[int, int]], gap: int) -> list[tuple[int, int]]:
    """Merge runs separated by fewer than ``gap`` samples."""
    merged = [runs[0]]
    for start, end in runs[1:]:
        if start - merged[-1][1] < gap:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _fade_edges(samples: np.ndarray, fade: int) -> None:
    fade = min(fade, len(samples) // 2)
    if fade <= 0:
        return
    ramp = (0.5 - 0.5 * np.cos(np.pi * np.arange(fade) / fade)).astype(np.float32)
    samples[:fade] *= ramp
    samples[-fade:] *= ramp[::-1]
