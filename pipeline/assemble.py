"""Assemble stage: rendered speech segments + a locale plan -> a track and its timeline.

The segments (sentences prepared and joined by the synth stage, see
:mod:`pipeline.sentences`) are laid out with the plan's silences into a lazy
:class:`~pipeline.model.TrackAudio` that makes silence only when read. Every position is an
integer sample count accumulated from exact lengths, so a silence in the timeline is
exactly the plan's length rounded to the sample, however long the track.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np

from pipeline.dsp import seconds_to_samples
from pipeline.model import (
    SAMPLE_RATE,
    Bell,
    Chapter,
    LocalePlan,
    PlanItem,
    RenderedSegment,
    Silence,
    SpeechSegment,
    TimedItem,
    TimedSentence,
    Timeline,
    TrackAudio,
)
from pipeline.sound import ring_samples
from pipeline.spool import Spooled

log = logging.getLogger(__name__)


def assemble(
    plan: LocalePlan,
    rendered: Mapping[str, RenderedSegment],
    bell: np.ndarray | None = None,
) -> tuple[TrackAudio, Timeline]:
    """Lay out a plan's speech, bells and silences in order -> (track, timeline).

    Each bell's ring (``bell``, at the master rate) strikes at the start of its pause; the
    ring of a ``[bell 10s]`` is cut to the pause, with a fade, when it is longer. The track
    is lazy (:class:`TrackAudio`): it holds the rendered segments and rings at their
    positions and makes the silences only when a stretch is read, so an hour-long track
    costs no more memory than its speech. Runs in time linear in the number of items.
    """
    sample_rate = SAMPLE_RATE
    items: list[TimedItem] = []
    sentences: list[TimedSentence] = []
    placed: list[tuple[int, np.ndarray | Spooled]] = []
    position = 0
    for item in plan.items:
        length = _item_length(item, rendered, sample_rate)
        start, end = position, position + length
        if isinstance(item, SpeechSegment):
            segment = rendered[item.id]
            placed.append((start, segment.audio))
            sentences.extend(_timed_sentences(item, segment, start))
        elif isinstance(item, Bell):
            if bell is None:
                raise ValueError(f"the plan strikes a bell (line {item.line}) but has no sound")
            placed.append(
                (start, ring_samples(bell, item.seconds if item.explicit else None)[:length])
            )
        items.append(TimedItem(item=item, start=start, end=end))
        position = end

    chapters = _chapters(plan, items, position)
    track = TrackAudio(position, sample_rate, placed)
    return track, Timeline(
        sample_rate=sample_rate,
        items=tuple(items),
        sentences=tuple(sentences),
        chapters=chapters,
    )


# --------------------------------------------------------------------------- internals


def _item_length(item: PlanItem, rendered: Mapping[str, RenderedSegment], sample_rate: int) -> int:
    if isinstance(item, Silence | Bell):
        return seconds_to_samples(item.seconds, sample_rate)
    segment = rendered.get(item.id)
    if segment is None:
        raise ValueError(f"no rendered audio for speech segment {item.id}")
    if segment.audio.ndim != 1:
        raise ValueError(f"audio of segment {item.id} is not mono")
    return len(segment.audio)


def _timed_sentences(
    item: SpeechSegment, segment: RenderedSegment, offset: int
) -> list[TimedSentence]:
    if len(segment.sentence_spans) != len(item.sentences):
        raise ValueError(
            f"segment {item.id} has {len(item.sentences)} sentences "
            f"but {len(segment.sentence_spans)} rendered spans"
        )
    return [
        TimedSentence(item.id, sentence.printed, offset + start, offset + end)
        for sentence, (start, end) in zip(item.sentences, segment.sentence_spans, strict=True)
    ]


def _chapters(plan: LocalePlan, items: Sequence[TimedItem], length: int) -> tuple[Chapter, ...]:
    """One chapter per section that has speech, from its first speech to the next chapter."""
    titles = {section.number: section.title for section in plan.sections}
    starts: dict[int, int] = {}
    for timed in items:
        if isinstance(timed.item, SpeechSegment):
            starts.setdefault(timed.item.section, timed.start)
    numbers = list(starts)
    missing = [n for n in numbers if n not in titles]
    if missing:
        raise ValueError(f"plan has speech in section {missing[0]} but no such section")
    bounds = [0, *(starts[n] for n in numbers[1:]), length]
    return tuple(
        Chapter(title=titles[n], start=bounds[i], end=bounds[i + 1]) for i, n in enumerate(numbers)
    )
