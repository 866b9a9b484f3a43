"""Test audio and measurements: synthetic speech-like signals, hand-built plans, and tools
that measure what a rendered file really contains (decoded samples, silences, loudness).

Nothing here is a copy of pipeline code: measurements use independent means (ffmpeg's
decoder, pyloudnorm) so a test can catch the pipeline being wrong.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pyloudnorm
from scipy.signal import butter, sosfilt

from pipeline.ffmpeg import ffmpeg_exe
from pipeline.model import (
    SAMPLE_RATE,
    FrontMatter,
    LocalePlan,
    RenderedSegment,
    Script,
    SectionInfo,
    Sentence,
    Silence,
    SilenceSource,
    SpeechSegment,
    Text,
)
from pipeline.sentences import join_sentences

# --------------------------------------------------------------------------- signals


def db_to_gain(db: float) -> float:
    return float(10 ** (db / 20))


def peak_dbfs(samples: np.ndarray) -> float:
    peak = float(np.max(np.abs(samples), initial=0.0))
    return 20 * np.log10(peak) if peak > 0 else -np.inf


def tone(seconds: float, freq: float = 440.0, amplitude: float = 0.5, sr: int = SAMPLE_RATE):
    t = np.arange(round(seconds * sr)) / sr
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def speech_like(
    seconds: float, sr: int = SAMPLE_RATE, seed: int = 0, level_dbfs: float = -20.0
) -> np.ndarray:
    """Something with the shape of speech, for loudness and limiter tests: syllables of
    voiced harmonics with a gliding pitch, fricative noise bursts, sharp plosive onsets, and
    short gaps between words. The whole is scaled so its RMS (gaps included) is
    ``level_dbfs``; its crest factor is speech-like (peaks 15-20 dB above the RMS), and,
    like most TTS output, it has no content above about 11 kHz."""
    rng = np.random.default_rng(seed)
    n = round(seconds * sr)
    out = np.zeros(n, dtype=np.float64)
    position = 0
    while position < n:
        length = int(rng.uniform(0.12, 0.32) * sr)
        end = min(position + length, n)
        t = np.arange(end - position) / sr
        f0 = rng.uniform(95, 220) * (1 + rng.uniform(-0.15, 0.15) * t / max(t[-1], 1e-3))
        phase = 2 * np.pi * np.cumsum(f0) / sr
        voiced = sum(np.sin(k * phase + rng.uniform(0, 6.3)) / k for k in range(1, 24))
        envelope = np.sin(np.pi * np.arange(end - position) / (end - position)) ** 0.7
        syllable = voiced * envelope
        if rng.random() < 0.35:  # a fricative: high-passed noise at the syllable's start
            burst = min(int(rng.uniform(0.05, 0.1) * sr), end - position)
            noise = np.diff(rng.standard_normal(burst + 1)) * 0.5
            syllable[:burst] += noise * np.hanning(burst)
        if rng.random() < 0.3:  # a plosive: a short, sharp burst at the onset
            burst = min(int(0.01 * sr), end - position)
            decay = np.exp(-np.arange(burst) / (0.002 * sr))
            syllable[:burst] += rng.standard_normal(burst) * decay * 1.5
        out[position:end] = syllable
        gap = rng.uniform(0.02, 0.07) if rng.random() < 0.7 else rng.uniform(0.12, 0.25)
        position = end + int(gap * sr)
    # TTS voices mostly sing at 22.05-24 kHz: nothing above about 11 kHz.
    out = sosfilt(butter(8, 10_500, fs=sr, output="sos"), out)
    rms = np.sqrt(np.mean(out**2))
    return (out * db_to_gain(level_dbfs) / rms).astype(np.float32)


# --------------------------------------------------------------------------- plans


def speech(segment_id: str, *sentences: str, line: int = 1, paragraph: int = 0) -> SpeechSegment:
    """A speech segment with the given sentences; the section comes from the id."""
    section = int(segment_id[1:].split("-")[0])
    text = " ".join(sentences)
    return SpeechSegment(
        id=segment_id,
        section=section,
        paragraph=paragraph,
        line=line,
        col=1,
        inlines=(Text(text),),
        printed=text,
        spoken=text,
        sentences=tuple(Sentence(printed=s, spoken=s) for s in sentences),
    )


def silence(source: SilenceSource, seconds: float, line: int | None = None) -> Silence:
    return Silence(source=source, seconds=seconds, line=line)


def make_plan(
    items: Sequence[SpeechSegment | Silence],
    *,
    title: str = "Test Track",
    section_titles: Mapping[int, str] | None = None,
    locale: str = "en-GB",
    slug: str = "test-track",
    **meta: object,
) -> LocalePlan:
    """A locale plan built by hand. Every section number used by a speech segment gets a
    SectionInfo; its title is taken from ``section_titles``, else the track title for
    section 0 and "Section <n>" for the others."""
    titles = dict(section_titles or {})
    numbers = sorted({i.section for i in items if isinstance(i, SpeechSegment)} | set(titles))
    sections = tuple(
        SectionInfo(
            number=n,
            title=titles.get(n, title if n == 0 else f"Section {n}"),
            heading=None,
            line=1,
        )
        for n in numbers
    )
    front = FrontMatter(title=title, locales=(locale,), **meta)  # type: ignore[arg-type]
    script = Script(path=f"scripts_src/{slug}.md", slug=slug, meta=front, sections=())
    return LocalePlan(script=script, locale=locale, sections=sections, items=tuple(items))


def render_plan(
    plan: LocalePlan,
    sentence_seconds: float = 1.0,
    sentence_pause: float | None = None,
    seed: int = 0,
) -> dict[str, RenderedSegment]:
    """Rendered segments for every speech segment of ``plan``: each sentence is a
    speech-like sound of ``sentence_seconds`` (ending in sound, as a trimmed sentence does)."""
    pause = plan.meta.sentence_pause if sentence_pause is None else sentence_pause
    rng = np.random.default_rng(seed)
    rendered = {}
    for segment in plan.speech:
        parts = [_voiced(sentence_seconds, int(rng.integers(1 << 30))) for _ in segment.sentences]
        rendered[segment.id] = join_sentences(segment.id, parts, pause)
    return rendered


def _voiced(seconds: float, seed: int) -> np.ndarray:
    """Speech-like audio that is loud at both ends (no gap the trimmer would remove)."""
    n = round(seconds * SAMPLE_RATE)
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SAMPLE_RATE
    f0 = rng.uniform(100, 200)
    voiced = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 12))
    syllables = 0.6 + 0.4 * np.sin(2 * np.pi * 4.0 * t + rng.uniform(0, 6.3))
    return (0.2 * voiced * syllables).astype(np.float32)


# --------------------------------------------------------------------------- files


def decode(path: Path | str, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Decode an audio file to mono float32 samples with ffmpeg (gapless: ffmpeg honours
    the MP3's LAME header)."""
    command = [ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "f32le", "-ac", "1"]
    result = subprocess.run(
        [*command, "-ar", str(sr), "-"], capture_output=True, check=True, timeout=600
    )
    return np.frombuffer(result.stdout, dtype=np.float32)


def find_silences(
    samples: np.ndarray,
    sr: int = SAMPLE_RATE,
    threshold_db: float = -50.0,
    min_seconds: float = 0.2,
    window_s: float = 0.005,
) -> list[tuple[float, float]]:
    """``(start, end)`` seconds of every stretch at least ``min_seconds`` long whose
    short-term RMS stays below ``threshold_db``."""
    window = max(round(window_s * sr), 1)
    energy = np.concatenate(([0.0], np.cumsum(np.square(samples, dtype=np.float64))))
    index = np.arange(len(samples))
    upper = np.minimum(index + window - window // 2, len(samples))
    lower = np.maximum(index - window // 2, 0)
    rms = np.sqrt(np.maximum(energy[upper] - energy[lower], 0) / window)
    quiet = rms < db_to_gain(threshold_db)
    edges = np.diff(quiet.astype(np.int8), prepend=0, append=0)
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    return [
        (s / sr, e / sr) for s, e in zip(starts, ends, strict=True) if e - s >= min_seconds * sr
    ]


def ffmpeg_silencedetect(
    path: Path | str, noise_db: float = -50.0, min_seconds: float = 0.2
) -> list[tuple[float, float]]:
    """Silences as ffmpeg's ``silencedetect`` filter reports them, in seconds."""
    command = [ffmpeg_exe(), "-hide_banner", "-nostats", "-i", str(path), "-af"]
    detect = f"silencedetect=noise={noise_db}dB:d={min_seconds}"
    result = subprocess.run(
        [*command, detect, "-f", "null", "-"], capture_output=True, text=True, check=True
    )
    starts = [float(v) for v in re.findall(r"silence_start: (-?[\d.]+)", result.stderr)]
    ends = [float(v) for v in re.findall(r"silence_end: (-?[\d.]+)", result.stderr)]
    return list(zip(starts, ends, strict=False))


def lufs(samples: np.ndarray, sr: int = SAMPLE_RATE) -> float:
    """Integrated loudness by pyloudnorm: an independent reference for the master stage."""
    return float(pyloudnorm.Meter(sr).integrated_loudness(np.asarray(samples, dtype=np.float64)))
