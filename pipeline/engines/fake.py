"""A deterministic engine that speaks in tones, for tests of timing, caching and assembly.

text, speed -> a tone whose length follows the text, framed by quiet noise

Every call gives the same samples for the same text, model and speed.  The tone lasts
``(ATTACK + SECONDS_PER_CHAR * len(text)) / speed`` seconds at -6 dBFS with short fades; before
and after it lies a "breath" of noise at -60 dBFS, below the -50 dBFS threshold the synth stage
trims at, so trimming is exercised and a trimmed sentence is the tone (to within a millisecond:
the first and last samples of the fades are below the threshold too).  The class counts
its calls so cache tests can assert how many sentences were really synthesised.
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import ClassVar

import numpy as np

from pipeline.engines.base import Engine
from pipeline.model import Audio, VoiceSpec

#: Bump when the generated audio changes, so cached renders are not reused.
FAKE_VERSION = 1


class FakeEngine(Engine):
    name = "fake"
    description = "Test tones whose length follows the text (for tests and dry runs)"
    options = frozenset({"model"})

    SAMPLE_RATE: ClassVar[int] = 22050
    ATTACK: ClassVar[float] = 0.1
    SECONDS_PER_CHAR: ClassVar[float] = 0.06
    BREATH: ClassVar[float] = 0.05
    BREATH_DBFS: ClassVar[float] = -60.0
    TONE_DBFS: ClassVar[float] = -6.0
    FADE: ClassVar[float] = 0.01

    #: Sentences synthesised by every FakeEngine since the last :meth:`reset_calls`.
    calls: ClassVar[int] = 0
    texts: ClassVar[list[str]] = []
    _count_lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def check(cls, spec: VoiceSpec, root: Path) -> None:
        """Always available: the tones need nothing installed."""

    @classmethod
    def licence(cls, spec: VoiceSpec) -> str:
        return "none (generated test tones)"

    @classmethod
    def reset_calls(cls) -> None:
        with cls._count_lock:
            cls.calls = 0
            cls.texts = []

    @classmethod
    def tone_seconds(cls, text: str, speed: float = 1.0) -> float:
        """Length of the tone for ``text``: what remains after trimming the breaths."""
        return (cls.ATTACK + cls.SECONDS_PER_CHAR * len(text)) / speed

    @classmethod
    def pitch(cls, text: str, model: str | None = None) -> float:
        """Frequency of the tone in Hz, from 200 to 400, derived from the text and model."""
        return 200.0 + _seed(text, model) % 20001 / 100.0

    @property
    def sample_rate(self) -> int:
        return self.SAMPLE_RATE

    def identity(self) -> str:
        return json.dumps(
            {"engine": self.name, "version": FAKE_VERSION, "model": self.spec.model},
            sort_keys=True,
        )

    def synthesize(self, text: str, speed: float = 1.0) -> Audio:
        if not speed > 0:
            raise ValueError(f"speed must be positive, got {speed!r}")
        with self._count_lock:
            FakeEngine.calls += 1
            FakeEngine.texts.append(text)
        sr = self.SAMPLE_RATE
        seed = _seed(text, self.spec.model)
        n_tone = round(self.tone_seconds(text, speed) * sr)
        t = np.arange(n_tone) / sr
        tone = 10 ** (self.TONE_DBFS / 20) * np.sin(
            2 * np.pi * self.pitch(text, self.spec.model) * t
        )
        n_fade = min(round(self.FADE * sr), n_tone // 2)
        ramp = np.linspace(0.0, 1.0, n_fade, endpoint=False)
        tone[:n_fade] *= ramp
        tone[n_tone - n_fade :] *= ramp[::-1]
        rng = np.random.default_rng(seed)
        n_breath = round(self.BREATH * sr)
        level = 10 ** (self.BREATH_DBFS / 20)
        before = rng.uniform(-level, level, n_breath)
        after = rng.uniform(-level, level, n_breath)
        samples = np.concatenate([before, tone, after]).astype(np.float32)
        return Audio(samples, sr)


def _seed(text: str, model: str | None) -> int:
    digest = hashlib.sha256(f"{model or ''}\0{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big")
