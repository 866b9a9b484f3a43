"""Shared builders for the takes tests: hand-built plans and synthetic "therapist sessions".

A session is a script read aloud by a real engine voice that the pipeline does not use for
the script's locale (piper's American joe, or an eSpeak NG American variant, reading a
British script), laid out like a person reading: pauses stretched or shortened at random
(long ones cut to about a third), hesitations inside some sentences, uneven gaps between
sentences, a noise floor and mains hum. The ground truth is where each segment's speech was
placed, measured with the pipeline's trim threshold (-50 dBFS) on the clean speech.

This module holds no tests itself.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal

from pipeline.engines.base import load_engine
from pipeline.model import (
    Audio,
    FrontMatter,
    LocalePlan,
    Say,
    Script,
    SectionInfo,
    Sentence,
    Silence,
    SpeechSegment,
    Text,
    VoiceSpec,
)

TRIM_DB = -50.0

# (segment id, sentences, silence after it: (source, seconds))
SCRIPT: tuple[tuple[str, tuple[str, ...], tuple[str, float]], ...] = (
    ("S1-01", ("Welcome to this short practice.",), ("pause", 3.0)),
    (
        "S1-02",
        ("Find a comfortable position, and let your eyes close if that feels right.",),
        ("paragraph", 1.2),
    ),
    (
        "S1-03",
        ("Notice the weight of your body on the chair.", "Let it be supported."),
        ("pause", 5.0),
    ),
    ("S1-04", ("Breathe in.",), ("pause", 2.0)),
    ("S1-05", ("And breathe out.",), ("section", 2.5)),
    ("S2-01", ("Now bring to mind a moment when you felt at ease.",), ("pause", 20.0)),
    (
        "S2-02",
        ("Stay with that feeling for a little while.", "There is nothing you need to do."),
        ("paragraph", 1.2),
    ),
    ("S2-03", ("When you are ready, gently open your eyes.",), ("tail", 3.0)),
)


def segment(segment_id: str, *sentences: str, line: int = 1) -> SpeechSegment:
    text = " ".join(sentences)
    return SpeechSegment(
        id=segment_id,
        section=int(segment_id[1:].split("-")[0]),
        paragraph=0,
        line=line,
        col=1,
        inlines=(Text(text),),
        printed=text,
        spoken=text,
        sentences=tuple(Sentence(s, s) for s in sentences),
    )


def plan_from(
    script: tuple[tuple[str, tuple[str, ...], tuple[str, float]], ...] = SCRIPT,
    *,
    slug: str = "settling",
    locale: str = "en-GB",
    lead_in: float = 1.0,
) -> LocalePlan:
    """A locale plan built by hand from (id, sentences, silence after) rows."""
    items: list[SpeechSegment | Silence] = [Silence("lead_in", lead_in)]
    for line, (sid, sentences, (source, seconds)) in enumerate(script, start=1):
        items.append(segment(sid, *sentences, line=line))
        items.append(Silence(source, seconds))  # type: ignore[arg-type]
    sections = tuple(
        SectionInfo(n, f"Part {n}", None, 1)
        for n in sorted({int(r[0][1:].split("-")[0]) for r in script})
    )
    meta = FrontMatter(title="Settling", locales=(locale,), lead_in=lead_in)
    return LocalePlan(
        Script(f"scripts_src/{slug}.md", slug, meta, ()), locale, sections, tuple(items)
    )


def with_say(plan: LocalePlan, segment_id: str, printed: str, spoken: str) -> LocalePlan:
    """``plan`` with one segment's text replaced by a say-substitution."""
    items = []
    for item in plan.items:
        if isinstance(item, SpeechSegment) and item.id == segment_id:
            item = SpeechSegment(
                id=item.id,
                section=item.section,
                paragraph=item.paragraph,
                line=item.line,
                col=1,
                inlines=(Say(printed, spoken),),
                printed=printed,
                spoken=spoken,
                sentences=(Sentence(printed, spoken),),
            )
        items.append(item)
    return LocalePlan(plan.script, plan.locale, plan.sections, tuple(items))


# --------------------------------------------------------------------------- real voices

VOICES = {
    "joe": VoiceSpec(engine="piper", model="en_US-joe-medium"),
    "espeak-us": VoiceSpec(engine="espeak-ng", model="en-us+f3"),
}


@functools.cache
def spoken(voice: str, text: str) -> tuple[np.ndarray, int]:
    """``text`` read by ``voice``, trimmed to its sound, at 48 kHz like a field recorder:
    made once per test session."""
    engine = _engine(voice)
    piper = VOICES[voice].engine == "piper"
    audio = _repeatable(engine, text) if piper else engine.synthesize(text)
    x = signal.resample_poly(
        audio.samples.astype(np.float64), 48000 // 150, audio.sample_rate // 150
    )
    x = x / np.max(np.abs(x))
    # Engines pad sentences with silence of their own; a reader's timing is laid out here.
    loud = np.flatnonzero(np.abs(x) > 1e-3)
    return x[max(loud[0] - 480, 0) : loud[-1] + 480], 48000


def _repeatable(engine, text: str) -> Audio:
    """Piper draws fresh noise on every call; without it a reading is the same in every test
    run, so a measured tolerance means the same thing each time."""
    from piper import SynthesisConfig

    voice = engine._load()
    config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0, normalize_audio=False)
    samples = np.concatenate([c.audio_float_array for c in voice.synthesize(text, config)])
    return Audio(samples.astype(np.float32), engine.sample_rate)


@functools.cache
def _engine(voice: str):
    return load_engine(VOICES[voice], Path.cwd())


# --------------------------------------------------------------------------- sessions


@dataclass(frozen=True)
class Session:
    samples: np.ndarray
    rate: int
    truth: dict[str, tuple[float, float]]  # segment id -> (speech start, end), seconds
    hesitations: dict[str, float]  # segment id -> length of the gap inserted inside it


def speech_bounds(x: np.ndarray, threshold_db: float = TRIM_DB) -> tuple[int, int]:
    loud = np.flatnonzero(np.abs(x) > 10 ** (threshold_db / 20))
    return int(loud[0]), int(loud[-1]) + 1


def _with_hesitation(x: np.ndarray, rate: int, gap: float) -> np.ndarray:
    """Insert ``gap`` seconds of silence at the quietest moment of the middle of ``x``
    (between two words), as a reader who loses their place for a moment."""
    window = int(0.03 * rate)
    power = np.convolve(x**2, np.ones(window) / window, mode="same")
    lo, hi = int(0.35 * len(x)), int(0.7 * len(x))
    cut = lo + int(np.argmin(power[lo:hi]))
    return np.concatenate([x[:cut], np.zeros(int(gap * rate)), x[cut:]])


def read_session(
    plan: LocalePlan,
    seed: int,
    *,
    voice: str = "joe",
    noise_db: float = -55.0,
    hum_db: float = -45.0,
    hesitations: int = 2,
) -> Session:
    """``plan`` read aloud by ``voice`` with a reader's timing (see the module docstring)."""
    rng = np.random.default_rng(seed)
    rate = 48000
    segments = plan.speech
    long_enough = [s.id for s in segments if len(s.spoken.split()) >= 6]
    hesitant = set(rng.choice(long_enough, size=min(hesitations, len(long_enough)), replace=False))
    parts: list[np.ndarray] = [np.zeros(int(rng.uniform(0.8, 1.5) * rate))]
    position = len(parts[0])
    truth: dict[str, tuple[float, float]] = {}
    inserted: dict[str, float] = {}
    pending = 0.0
    level = 10 ** (rng.uniform(-9.0, -4.0) / 20)  # the reader's overall peak level
    for item in plan.items:
        if isinstance(item, Silence):
            pending += item.seconds
            continue
        if position > len(parts[0]):  # a pause before every segment but the first
            pause = (
                pending / 3 * rng.uniform(0.9, 1.1)
                if pending >= 8
                else pending * rng.uniform(0.6, 1.4)
            )
            parts.append(np.zeros(int(pause * rate)))
            position += len(parts[-1])
        pending = 0.0
        pieces = []
        for k, sentence in enumerate(item.sentences):
            x, _ = spoken(voice, sentence.spoken)
            if k == 0 and item.id in hesitant:
                inserted[item.id] = float(rng.uniform(0.3, 0.5))
                x = _with_hesitation(x, rate, inserted[item.id])
            if k:
                pieces.append(np.zeros(int(rng.uniform(0.35, 0.8) * rate)))
            pieces.append(x)
        speech = np.concatenate(pieces) * level * 10 ** (rng.uniform(-2.0, 2.0) / 20)
        first, last = speech_bounds(speech)
        truth[item.id] = ((position + first) / rate, (position + last) / rate)
        parts.append(speech)
        position += len(speech)
    parts.append(np.zeros(int(rng.uniform(1.0, 2.0) * rate)))
    clean = np.concatenate(parts)
    t = np.arange(len(clean)) / rate
    noise = rng.normal(0.0, 10 ** (noise_db / 20), len(clean))
    phase = rng.uniform(0, 2 * np.pi)
    hum = 10 ** (hum_db / 20) * (
        np.sin(2 * np.pi * 50 * t + phase) + 0.3 * np.sin(2 * np.pi * 150 * t)
    )
    return Session((clean + noise + hum).astype(np.float32), rate, truth, inserted)


def write_session(session: Session, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, session.samples, session.rate, subtype="PCM_24")
    return path
