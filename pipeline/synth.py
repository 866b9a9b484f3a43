"""Synth stage: a locale plan's speech segments -> rendered segment audio.

This is the only stage that calls engines (:func:`render_speech`). Each sentence is looked
up in the cache by its content key first; only misses reach the engine. Sentences are
prepared (resampled, trimmed, faded: :mod:`pipeline.sentences`) and joined with the script's
sentence pause. A sentence longer than the engine takes in one call is spoken in pieces, cut
after clauses, each cached on its own and joined with a clause break's silence. An engine
that plays recorded segments (a person's takes) gives whole segments instead.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from pipeline.cache import SentenceCache, sentence_key
from pipeline.dsp import seconds_to_samples
from pipeline.engines.base import Engine
from pipeline.model import SAMPLE_RATE, Audio, LocalePlan, RenderedSegment, SpeechSegment
from pipeline.sentences import prepare_sentence
from pipeline.spool import Spool, Spooled

log = logging.getLogger(__name__)

#: Called once per sentence with True when it came from the cache.
SentenceDone = Callable[[bool], None]
#: Silence between the pieces of a sentence spoken in several (a clause break's length).
PIECE_GAP_S = 0.12
#: Samples read back from the spool at a time when a sentence is said again (10 s).
SPOOL_COPY = 441_000


@dataclass(frozen=True)
class SynthStats:
    synthesised: int
    cached: int
    engine_seconds: float  # wall time spent inside the engine


@dataclass(frozen=True)
class Speech:
    """The synth stage's result: every speech segment of a plan, rendered."""

    segments: dict[str, RenderedSegment]
    stats: SynthStats
    filled: tuple[str, ...] = ()  # segments a recording voice lacked, spoken by the fill voice


def sentence_count(plan: LocalePlan) -> int:
    return sum(len(segment.sentences) for segment in plan.speech)


def render_speech(
    plan: LocalePlan,
    engine: Engine,
    cache: SentenceCache,
    on_sentence: SentenceDone | None = None,
    spool: Spool | None = None,
    *,
    role: str = "",
    fill: Engine | None = None,
) -> Speech:
    """Render ``plan``'s speech with ``engine``: sentence by sentence through ``cache``
    (:func:`render_segments`), or, for an engine that
    :attr:`~pipeline.engines.base.Engine.records_segments` (``role``'s takes), segment by
    segment from what was recorded, with ``fill`` speaking the segments it lacks (without
    ``fill``, a missing segment is an error)."""
    if not engine.records_segments:
        segments, stats = render_segments(plan, engine, cache, on_sentence, spool)
        return Speech(segments, stats)
    recorded = engine.recorded_segments(plan, role, allow_missing=fill is not None, spool=spool)
    for warning in recorded.warnings:
        log.warning("%s", warning)
    rendered = dict(recorded.segments)
    stats = SynthStats(0, 0, 0.0)
    missing = set(recorded.unrendered)
    if missing and fill is not None:
        items = tuple(i for i in plan.items if not isinstance(i, SpeechSegment) or i.id in missing)
        more, stats = render_segments(replace(plan, items=items), fill, cache, on_sentence, spool)
        rendered.update(more)
    if on_sentence is not None:
        for segment in plan.speech:
            if segment.id not in missing:
                for _ in segment.sentences:
                    on_sentence(True)  # played from a take, as if from the cache
    return Speech(rendered, stats, recorded.unrendered)


def render_segments(
    plan: LocalePlan,
    engine: Engine,
    cache: SentenceCache,
    on_sentence: SentenceDone | None = None,
    spool: Spool | None = None,
) -> tuple[dict[str, RenderedSegment], SynthStats]:
    """Render every speech segment of ``plan`` with ``engine``, through ``cache``.

    With a ``spool``, each sentence's audio goes to disk as soon as it is prepared, so the
    memory a track needs grows neither with the amount of speech in it nor with the length
    of a sentence: one longer than the engine takes (:attr:`Engine.max_input_chars`) is
    spoken, cached and written a piece at a time (:func:`split_for_engine`).
    """
    speed = engine.spec.speed * plan.meta.rate
    if speed != 1.0 and not engine.supports_speed:
        log.warning("engine %s has no speed control; speaking at its own pace", engine.name)
    identity = engine.identity()
    limit = engine.max_input_chars
    prepared: dict[str, np.ndarray | Spooled] = {}  # a sentence said twice is made once
    counts = {"synthesised": 0, "cached": 0}
    engine_seconds = 0.0
    rendered: dict[str, RenderedSegment] = {}

    gain_db = engine.spec.gain_db

    def speak(text: str) -> tuple[np.ndarray, bool]:
        """One piece of text, prepared -> (samples, whether it came from the cache).

        The cache holds sentences prepared (at the master rate, trimmed and faded), so a
        rebuild reads them as they are joined, with nothing to resample."""
        nonlocal engine_seconds
        key = sentence_key(engine.name, identity, speed, text, gain_db)
        audio = cache.get(key)
        from_cache = audio is not None
        if audio is None:
            started = time.perf_counter()
            spoken = engine.synthesize(text, speed)
            engine_seconds += time.perf_counter() - started
            audio = cache.put(key, Audio(_storable(prepare_sentence(spoken, gain_db)), SAMPLE_RATE))
        return _as_prepared(audio.samples), from_cache

    pause = seconds_to_samples(plan.meta.sentence_pause)
    gap = seconds_to_samples(PIECE_GAP_S)
    for segment in plan.speech:
        writer = _SegmentWriter(segment.id, spool)
        keys = []
        for index, sentence in enumerate(segment.sentences):
            key = sentence_key(engine.name, identity, speed, sentence.spoken, gain_db)
            keys.append(key)
            if index:
                writer.silence(pause)
            writer.begin_sentence()
            if key in prepared:
                writer.write(prepared[key])
                from_cache = True
            else:
                from_cache = True
                for number, piece in enumerate(split_for_engine(sentence.spoken, limit)):
                    if number:
                        writer.silence(gap)
                    samples, piece_cached = speak(piece)
                    writer.write(samples)
                    from_cache = from_cache and piece_cached
            prepared.setdefault(key, writer.end_sentence())
            counts["cached" if from_cache else "synthesised"] += 1
            if on_sentence is not None:
                on_sentence(from_cache)
        joined = writer.finish()
        rendered[segment.id] = joined
        # Keep a repeated sentence as a view of the joined audio, not a second copy: for a
        # long track the prepared sentences would otherwise double the memory for speech.
        for key, (start, end) in zip(keys, joined.sentence_spans, strict=True):
            prepared[key] = _stretch(joined.audio, start, end)
    return rendered, SynthStats(counts["synthesised"], counts["cached"], engine_seconds)


def _storable(prepared: np.ndarray) -> np.ndarray:
    """A prepared sentence as the cache can hold it: a sentence with no sound (an empty
    array) is kept as one zero sample, since an audio file cannot be empty."""
    return prepared if len(prepared) else np.zeros(1, dtype=np.float32)


def _as_prepared(stored: np.ndarray) -> np.ndarray:
    """The prepared sentence a cache entry holds (see :func:`_storable`)."""
    return stored[:0] if len(stored) == 1 and not stored.any() else stored


def split_for_engine(text: str, limit: int | None) -> list[str]:
    """``text`` in pieces of at most ``limit`` characters (all of it, when it fits or there
    is no limit): whole clauses where they fit, cut between words where one does not, and
    through a word only when a single word is longer than ``limit``."""
    if limit is None or len(text) <= limit:
        return [text]
    pieces: list[str] = []
    current = ""
    for clause in _CLAUSE_END.split(text.strip()):
        for part in _within(clause, limit):
            joined = f"{current} {part}" if current else part
            if len(joined) <= limit:
                current = joined
            else:
                pieces.append(current)
                current = part
    if current:
        pieces.append(current)
    return pieces


#: Where a clause ends inside a sentence: after a comma, semicolon, colon, dash or closing
#: bracket, before the space that follows (the mark stays with its clause).
_CLAUSE_END = re.compile(r"(?<=[,;:\u2013\u2014)\]])\s+")


def _within(clause: str, limit: int) -> list[str]:
    """``clause`` as runs of whole words of at most ``limit`` characters."""
    if len(clause) <= limit:
        return [clause]
    runs: list[str] = []
    current = ""
    for word in clause.split():
        while len(word) > limit:  # no space to cut at
            if current:
                runs.append(current)
                current = ""
            runs.append(word[:limit])
            word = word[limit:]
        joined = f"{current} {word}" if current else word
        if len(joined) <= limit:
            current = joined
        else:
            runs.append(current)
            current = word
    if current:
        runs.append(current)
    return runs


class _SegmentWriter:
    """A segment's audio as its sentences are made: appended to the spool as they come
    (consecutive puts lie end to end, so the segment is one stretch of it), or kept in
    memory and joined at the end when there is no spool."""

    def __init__(self, segment_id: str, spool: Spool | None) -> None:
        self.segment_id = segment_id
        self.spool = spool
        self.first = spool.end if spool is not None else 0
        self.parts: list[np.ndarray] = []
        self.position = 0
        self.spans: list[tuple[int, int]] = []
        self.started = 0
        self.started_part = 0

    def write(self, samples: np.ndarray | Spooled) -> None:
        if isinstance(samples, Spooled):  # a repeated sentence: copied a stretch at a time
            for start in range(0, len(samples), SPOOL_COPY):
                self._add(samples[start : start + SPOOL_COPY])
        else:
            self._add(np.asarray(samples, dtype=np.float32))

    def silence(self, count: int) -> None:
        if count > 0:
            self._add(np.zeros(count, dtype=np.float32))

    def begin_sentence(self) -> None:
        self.started = self.position
        self.started_part = len(self.parts)

    def end_sentence(self) -> np.ndarray | Spooled:
        """Close the sentence begun last -> its audio (a handle on it, when spooled)."""
        self.spans.append((self.started, self.position))
        if self.spool is not None:
            return self.spool.since(self.first + self.started)
        parts = self.parts[self.started_part :]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)

    def finish(self) -> RenderedSegment:
        audio: np.ndarray | Spooled
        if self.spool is not None:
            audio = self.spool.since(self.first)
        elif self.parts:
            audio = np.concatenate(self.parts)
        else:
            audio = np.zeros(0, dtype=np.float32)
        return RenderedSegment(self.segment_id, audio, tuple(self.spans))

    def _add(self, samples: np.ndarray) -> None:
        if self.spool is not None:
            self.spool.put(samples)
        else:
            self.parts.append(samples)
        self.position += len(samples)


def _stretch(audio: np.ndarray | Spooled, start: int, end: int) -> np.ndarray | Spooled:
    """Samples ``start`` to ``end`` of ``audio`` without copying them."""
    return audio.part(start, end) if isinstance(audio, Spooled) else audio[start:end]
