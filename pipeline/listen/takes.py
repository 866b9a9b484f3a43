"""Takes by their words: what a reader said -> which speech is which segment's reading.

words heard, speech regions, the script's segments -> for each segment its last complete
reading (regions first..last), or missing; earlier readings; misread words

Pauses and pace alone cannot tell a retake ("Notice the weight of your — sorry, let me say
that again. Notice the weight of your body…") from two segments, nor a skipped segment from
a long one. The words can:

1. The reader's words and the script's, both normalised (:mod:`.normalise`), are aligned as
   two whole sequences with jiwer; each segment's words found there mark roughly where it
   was read, and so how far the search for its reading may go.
2. Within that stretch (from the end of the previous segment's reading to the first word of
   the next segment's), each window of words that starts like the segment and ends like it
   is aligned with the segment's text. A window is a complete reading when it leaves out at
   most a fifth of the text and matches at least half of it word for word. The last
   complete reading wins; whatever was said before it in the stretch is an earlier reading
   (listed, not used). No complete reading: the segment is missing, and its stretch is left
   for the next segment.
3. Each detected speech region (voice activity and energy, :mod:`pipeline.takes.detect`) goes
   to the reading whose words overlap it most, so the cuts are placed on the audio as the
   split places them without words; the words only decide which regions make up a take.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pipeline.listen.normalise import normalise_words
from pipeline.listen.recognise import HeardWord, Recogniser, find_model, require_faster_whisper
from pipeline.model import LocalePlan
from pipeline.takes.align import Alignment, ExpectedSegment, Placement
from pipeline.takes.detect import Region
from pipeline.takes.store import reading_text

#: A complete reading leaves out at most this share of its segment's words...
MOST_LEFT_OUT = 0.2
#: ...and matches at least this share of them exactly.
LEAST_MATCHED = 0.5
#: Words at either end of a segment a reading may start or end with.
EDGE_WORDS = 3
#: Seconds a recogniser's word times may be off from the speech they name.
WORD_TIME_SLACK = 0.5


@dataclass(frozen=True)
class EarlierReading:
    """Speech before a segment's last complete reading that was not used."""

    segment_id: str
    start: float
    end: float
    heard: str

    def __str__(self) -> str:
        return (
            f"read more than once: the earlier reading at {self.start:.2f}-{self.end:.2f}s "
            f"({self.heard!r}) was left out; the take is the last complete reading"
        )


@dataclass(frozen=True)
class Misread:
    """Words of a segment's reading that differ from its text (normalised)."""

    segment_id: str
    read: str  # empty: words left out
    written: str  # empty: words added

    def __str__(self) -> str:
        if not self.written:
            return f"misread: added {self.read!r}, not in the script"
        if not self.read:
            return f"misread: left out {self.written!r}"
        return f"misread: read {self.read!r}, written {self.written!r}"


@dataclass(frozen=True)
class HeardTakes:
    alignment: Alignment  # placements of the segments that were read
    missing: tuple[str, ...]  # segments with no complete reading, in script order
    earlier: tuple[EarlierReading, ...]
    misreads: tuple[Misread, ...]
    stray: tuple[tuple[float, float, str], ...] = field(default=())  # words in no reading

    def flags(self, segment_id: str) -> tuple[str, ...]:
        found: list[Any] = [e for e in self.earlier if e.segment_id == segment_id]
        found += [m for m in self.misreads if m.segment_id == segment_id]
        return tuple(str(f) for f in found)


def hear_recording(recording: Path, model: str | None, root: Path, language: str) -> Any:
    """The words of a recording, heard with ``model`` (default tiny.en)."""
    require_faster_whisper()
    return Recogniser(find_model(model, root)).transcribe(Path(recording), language=language)


@dataclass(frozen=True)
class _Token:
    word: str
    heard: int  # index of the heard word it came from


@dataclass(frozen=True)
class _Reading:
    first: int  # token indices, inclusive
    last: int
    errors: int
    chunks: tuple[tuple[str, str, str], ...]  # (type, written, read) of each differing run


def align_by_words(
    words: Sequence[HeardWord],
    regions: Sequence[Region],
    plan: LocalePlan,
    expected: Sequence[ExpectedSegment],
) -> HeardTakes:
    """Assign ``regions`` to the ``expected`` segments by the ``words`` heard in them."""
    # What the reader should say: say-substitutions spoken, lexicon respellings not.
    texts = {segment.id: reading_text(segment) for segment in plan.speech}
    script = [normalise_words(texts[e.segment_id]) for e in expected]
    tokens = [_Token(w, k) for k, heard in enumerate(words) for w in normalise_words(heard.text)]
    anchors = _anchors(script, [t.word for t in tokens])

    readings: dict[int, _Reading] = {}
    earlier: list[EarlierReading] = []
    stray: list[tuple[float, float, str]] = []
    cursor = 0
    for j, written in enumerate(script):
        later = [a for k in range(j + 1, len(script)) for a in anchors[k] if a >= cursor]
        bound = min(later, default=len(tokens))
        reading = _last_complete_reading(written, tokens, cursor, bound)
        if reading is None:
            continue
        before = tokens[cursor : reading.first]
        if before:
            span = _span(words, before)
            if _sounds_like_a_start(written, [t.word for t in before]):
                earlier.append(EarlierReading(expected[j].segment_id, *span))
            else:
                stray.append(span)
        readings[j] = reading
        cursor = reading.last + 1
    if cursor < len(tokens):
        stray.append(_span(words, tokens[cursor:]))

    spans = {j: _span(words, tokens[r.first : r.last + 1]) for j, r in readings.items()}
    others = [(e.start, e.end) for e in earlier] + [(s[0], s[1]) for s in stray]
    owners = _region_owners(regions, spans, others)
    alignment = _alignment(regions, expected, owners, spans)
    earlier = [_on_the_audio(e, regions, owners, alignment) for e in earlier]
    misreads = tuple(
        Misread(expected[j].segment_id, read, written)
        for j, r in sorted(readings.items())
        for _, written, read in r.chunks
    )
    missing = tuple(e.segment_id for j, e in enumerate(expected) if j not in readings)
    return HeardTakes(alignment, missing, tuple(earlier), misreads, tuple(stray))


def _sounds_like_a_start(written: list[str], said: list[str]) -> bool:
    """Whether words said before a reading were an attempt at the same segment: they hold
    one of its first words and match at least two of its words (or its only word)."""
    import jiwer

    if not set(said) & set(written[:EDGE_WORDS]):
        return False
    out = jiwer.process_words(" ".join(written), " ".join(said))
    return out.hits >= min(2, len(written))


def _anchors(script: list[list[str]], heard: list[str]) -> list[list[int]]:
    """For each segment, the heard tokens the whole-script alignment matches to its words."""
    import jiwer

    owner = [j for j, words in enumerate(script) for _ in words]
    anchors: list[list[int]] = [[] for _ in script]
    if not owner or not heard:
        return anchors
    flat = [w for words in script for w in words]
    out = jiwer.process_words(" ".join(flat), " ".join(heard))
    for chunk in out.alignments[0]:
        if chunk.type == "equal":
            for offset in range(chunk.ref_end_idx - chunk.ref_start_idx):
                anchors[owner[chunk.ref_start_idx + offset]].append(chunk.hyp_start_idx + offset)
    return anchors


def _last_complete_reading(
    written: list[str], tokens: Sequence[_Token], low: int, high: int
) -> _Reading | None:
    """The last complete reading of ``written`` within tokens ``low..high-1``.

    Every window that starts with one of the segment's first words and ends with one of its
    last is a candidate; overlapping complete windows are one reading, represented by the
    window with the fewest errors (so a reading is not cut short by a window that starts at
    its second word). Of the readings left, the last wins."""
    import jiwer

    if not written or high <= low:
        return None
    heads, tails = set(written[:EDGE_WORDS]), set(written[-EDGE_WORDS:])
    # The stretch's own ends are candidates too: a misread first or last word.
    starts = sorted({low} | {k for k in range(low, high) if tokens[k].word in heads})
    ends = sorted({high - 1} | {e for e in range(low, high) if tokens[e].word in tails})
    reference = " ".join(written)
    n = len(written)
    complete: list[_Reading] = []
    for first in starts:
        for last in (e for e in ends if e >= first):
            read = [t.word for t in tokens[first : last + 1]]
            out = jiwer.process_words(reference, " ".join(read))
            if out.deletions <= MOST_LEFT_OUT * n and out.hits >= LEAST_MATCHED * n:
                errors = out.substitutions + out.deletions + out.insertions
                chunks = _differences(out.alignments[0], written, read)
                complete.append(_Reading(first, last, errors, chunks))
    readings: list[_Reading] = []
    for reading in sorted(complete, key=lambda r: (r.errors, r.first - r.last)):
        if all(reading.last < r.first or reading.first > r.last for r in readings):
            readings.append(reading)
    return max(readings, key=lambda r: r.first, default=None)


def _differences(
    chunks: Sequence[Any], written: list[str], read: list[str]
) -> tuple[tuple[str, str, str], ...]:
    """Each run of differing alignment chunks as (type, written words, read words)."""
    runs: list[tuple[str, str, str]] = []
    run: list[Any] = []
    for chunk in [*chunks, None]:
        if chunk is not None and chunk.type != "equal":
            run.append(chunk)
            continue
        if run:
            ref = " ".join(written[run[0].ref_start_idx : run[-1].ref_end_idx])
            hyp = " ".join(read[run[0].hyp_start_idx : run[-1].hyp_end_idx])
            runs.append((run[0].type, ref, hyp))
            run = []
    return tuple(runs)


def _span(words: Sequence[HeardWord], tokens: Sequence[_Token]) -> tuple[float, float, str]:
    used = sorted({t.heard for t in tokens})
    return (
        words[used[0]].start,
        words[used[-1]].end,
        " ".join(words[k].text for k in used),
    )


def _overlap(region: Region, start: float, end: float) -> float:
    return max(0.0, min(region.end, end) - max(region.start, start))


def _region_owners(
    regions: Sequence[Region],
    spans: dict[int, tuple[float, float, str]],
    others: Sequence[tuple[float, float]],
) -> list[int | None]:
    """Each region's segment: the reading overlapping it most (None if another stretch of
    words, an earlier reading or stray words, overlaps it more, or nothing does)."""
    owners: list[int | None] = []
    for region in regions:
        best, most = None, 0.0
        for j, (start, end, _) in spans.items():
            share = _overlap(region, start, end)
            if share > most:
                best, most = j, share
        if any(_overlap(region, start, end) > most for start, end in others):
            best = None
        owners.append(best)
    # A reading the recogniser placed between regions still gets the region nearest it.
    for j, (start, end, _) in spans.items():
        if j not in owners and regions:
            middle = (start + end) / 2
            nearest = min(
                range(len(regions)),
                key=lambda i: abs((regions[i].start + regions[i].end) / 2 - middle),
            )
            if owners[nearest] is None:
                owners[nearest] = j
    return owners


def _on_the_audio(
    reading: EarlierReading,
    regions: Sequence[Region],
    owners: list[int | None],
    alignment: Alignment,
) -> EarlierReading:
    """An earlier reading's times from the speech regions it covers, which no take uses and
    which lie between the previous take and its segment's take (word times are a
    recogniser's estimate, often a few hundred milliseconds off)."""
    placements = alignment.placements
    k = next((i for i, p in enumerate(placements) if p.segment_id == reading.segment_id), None)
    if k is None:
        return reading
    low = placements[k - 1].end if k else 0.0
    high = placements[k].start
    covered = [
        r
        for r, owner in zip(regions, owners, strict=True)
        if owner is None
        and low <= r.start
        and r.end <= high
        and _overlap(r, reading.start - WORD_TIME_SLACK, reading.end + WORD_TIME_SLACK) > 0
    ]
    if not covered:
        return reading
    return replace(reading, start=covered[0].start, end=covered[-1].end)


def _alignment(
    regions: Sequence[Region],
    expected: Sequence[ExpectedSegment],
    owners: list[int | None],
    spans: dict[int, tuple[float, float, str]],
) -> Alignment:
    groups = {}
    for j in spans:
        mine = [i for i, owner in enumerate(owners) if owner == j]
        if mine:
            groups[j] = (min(mine), max(mine))
    voiced = {j: sum(regions[i].duration for i in range(a, b + 1)) for j, (a, b) in groups.items()}
    predicted = sum(expected[j].speech for j in groups)
    tempo = sum(voiced.values()) / predicted if predicted > 0 else 1.0
    placements = []
    previous: tuple[int, int] | None = None
    for j in sorted(groups):
        a, b = groups[j]
        adjacent = previous is not None and previous[0] == j - 1
        placements.append(
            Placement(
                segment_id=expected[j].segment_id,
                first=a,
                last=b,
                start=regions[a].start,
                end=regions[b].end,
                voiced=voiced[j],
                expected=tempo * expected[j].speech,
                pause_before=regions[a].start - regions[previous[1]].end if previous else None,
                scripted_before=expected[j - 1].pause_after if adjacent else None,
                fit_cost=0.0,
                margin=math.inf,  # the words, not the timing, chose this cut
            )
        )
        previous = (j, b)
    used = {i for a, b in groups.values() for i in range(a, b + 1)}
    left_out = tuple(i for i in range(len(regions)) if i not in used)
    return Alignment(tuple(placements), left_out, tempo, 1.0, 0.0)
