"""Synth stage: a locale plan's speech segments -> rendered segment audio.

This is the only stage that calls engines. Each sentence is looked up in the cache by its
content key first; only misses reach the engine. Sentences are prepared (resampled,
trimmed, faded) and joined with the script's sentence pause.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from pipeline.assemble import join_sentences, prepare_sentence
from pipeline.cache import SentenceCache, sentence_key
from pipeline.engines.base import Engine
from pipeline.model import LocalePlan, RenderedSegment
from pipeline.spool import Spool, Spooled

log = logging.getLogger(__name__)

#: Called once per sentence with True when it came from the cache.
SentenceDone = Callable[[bool], None]


@dataclass(frozen=True)
class SynthStats:
    synthesised: int
    cached: int
    engine_seconds: float  # wall time spent inside the engine


def sentence_count(plan: LocalePlan) -> int:
    return sum(len(segment.sentences) for segment in plan.speech)


def render_segments(
    plan: LocalePlan,
    engine: Engine,
    cache: SentenceCache,
    on_sentence: SentenceDone | None = None,
    spool: Spool | None = None,
) -> tuple[dict[str, RenderedSegment], SynthStats]:
    """Render every speech segment of ``plan`` with ``engine``, through ``cache``.

    With a ``spool``, each segment's audio goes to disk as soon as it is joined, so the
    memory a track needs does not grow with the amount of speech in it.
    """
    speed = engine.spec.speed * plan.meta.rate
    if speed != 1.0 and not engine.supports_speed:
        log.warning("engine %s has no speed control; speaking at its own pace", engine.name)
    identity = engine.identity()
    prepared: dict[str, np.ndarray | Spooled] = {}  # a sentence said twice is made once
    synthesised = cached = 0
    engine_seconds = 0.0
    rendered: dict[str, RenderedSegment] = {}
    for segment in plan.speech:
        parts = []
        keys = []
        for sentence in segment.sentences:
            key = sentence_key(engine.name, identity, speed, sentence.spoken)
            keys.append(key)
            from_cache = True
            if key not in prepared:
                audio = cache.get(key)
                if audio is None:
                    from_cache = False
                    started = time.perf_counter()
                    audio = engine.synthesize(sentence.spoken, speed)
                    engine_seconds += time.perf_counter() - started
                    audio = cache.put(key, audio)
                prepared[key] = prepare_sentence(audio, engine.spec.gain_db)
            if from_cache:
                cached += 1
            else:
                synthesised += 1
            parts.append(np.asarray(prepared[key]))
            if on_sentence is not None:
                on_sentence(from_cache)
        joined = join_sentences(segment.id, parts, plan.meta.sentence_pause)
        if spool is not None:
            joined = replace(joined, audio=spool.put(np.asarray(joined.audio)))
        rendered[segment.id] = joined
        # Keep a repeated sentence as a view of the joined audio, not a second copy: for a
        # long track the prepared sentences would otherwise double the memory for speech.
        for key, (start, end) in zip(keys, joined.sentence_spans, strict=True):
            prepared[key] = _stretch(joined.audio, start, end)
    return rendered, SynthStats(synthesised, cached, engine_seconds)


def _stretch(audio: np.ndarray | Spooled, start: int, end: int) -> np.ndarray | Spooled:
    """Samples ``start`` to ``end`` of ``audio`` without copying them."""
    return audio.part(start, end) if isinstance(audio, Spooled) else audio[start:end]
