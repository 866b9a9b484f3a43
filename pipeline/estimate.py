"""Estimated durations, for summaries and for PDFs written without synthesis.

Speech length is estimated from the word count at an unhurried narration pace; silences
and bells (each a pause of known length) come from the plan itself, so only the speech part
of an estimate is approximate.
"""

from __future__ import annotations

from pipeline.model import Bell, LocalePlan, Silence, SpeechSegment, TrackTimes

#: Words per second of calm guided-meditation narration at rate 1.0 (about 140 wpm).
WORDS_PER_SECOND = 2.33


def word_count(text: str) -> int:
    return len(text.split())


def speech_seconds(segment: SpeechSegment, rate: float, sentence_pause: float) -> float:
    """Estimated length of one speech segment, sentence pauses included."""
    words = sum(word_count(s.spoken) for s in segment.sentences)
    gaps = max(len(segment.sentences) - 1, 0) * sentence_pause
    return words / (WORDS_PER_SECOND * rate) + gaps


def estimate_times(plan: LocalePlan) -> TrackTimes:
    """Walk the plan, adding estimated speech and exact silences and bells."""
    meta = plan.meta
    t = 0.0
    section_starts: dict[int, float] = {}
    segment_starts: list[tuple[str, float]] = []
    for item in plan.items:
        if isinstance(item, SpeechSegment):
            section_starts.setdefault(item.section, t)
            segment_starts.append((item.id, t))
            t += speech_seconds(item, meta.rate, meta.sentence_pause)
        elif isinstance(item, Silence | Bell):
            t += item.seconds
    return TrackTimes(
        duration=t,
        section_starts=tuple(sorted(section_starts.items())),
        segment_starts=tuple(segment_starts),
        approximate=True,
    )
