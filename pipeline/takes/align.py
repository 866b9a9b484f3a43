"""Global alignment: speech regions of a recording -> the script's segments, in order.

A person reading a script aloud does not keep its pauses exactly: they shorten a long pause,
hesitate inside a sentence, breathe between sentences. Deciding each gap on its own ("longer
than 1 s, so a segment boundary") therefore fails both ways. Instead every way of cutting the
run of regions into consecutive groups, one group per segment, is scored at once by dynamic
programming, and the cheapest wins. The score of a cutting adds up:

* for each group, how far its voiced length is from the length its text predicts, at the
  reader's own pace (:func:`pipeline.estimate.speech_seconds`, scaled by a tempo the
  alignment estimates itself);
* for each gap chosen as a segment boundary, how far it is from the scripted silence there,
  on a log scale, so that a 30 s pause read as 10 s is still a good fit and far better than
  a 0.4 s hesitation;
* for each gap kept inside a segment, how much longer it is than a sentence pause or a
  hesitation may be;
* for each region left out (a cough, a click, "let me start that again"), a fixed price
  plus its length, so that only short stray sounds are dropped.

Every gap is either a boundary or inside a segment, so no cutting is favoured for having more
or fewer of either. The result also says how well each segment fits, for the split report.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.errors import PipelineError
from pipeline.estimate import speech_seconds
from pipeline.model import LocalePlan, SpeechSegment
from pipeline.takes.detect import Region


class AlignmentError(PipelineError):
    """The recording cannot be matched to the script (e.g. fewer sounds than segments)."""


@dataclass(frozen=True)
class ExpectedSegment:
    """What the script predicts for one segment of a reading."""

    segment_id: str
    speech: float  # seconds of voiced speech at the script's rate, sentence pauses excluded
    sentences: int
    pause_after: float | None  # scripted silence before the next segment; None if unknown


@dataclass(frozen=True)
class AlignOptions:
    """Weights of the alignment score. The sigmas are log-ratio spreads: how far a reading
    may stray from the script before a fit counts as poor."""

    sentence_pause: float = 0.6  # the script's sentence pause: the longest gap expected inside
    length_sigma: float = 0.35
    pause_sigma: float = 0.6
    inside_sigma: float = 0.35
    shortest_pause: float = 0.3  # a boundary gap is at least this, whatever the script says
    stray_cost: float = 3.0  # price of leaving out one region...
    stray_cost_per_second: float = 3.0  # ...plus this per second of it
    max_stray_run: int = 2  # regions that may be left out between two segments
    max_stray_edge: int = 4  # ...and before the first or after the last
    iterations: int = 4  # re-estimations of the reader's tempo and pause scale


@dataclass(frozen=True)
class Placement:
    """Where one segment was found: regions ``first..last`` of the recording."""

    segment_id: str
    first: int
    last: int
    start: float
    end: float
    voiced: float  # seconds of speech (gaps inside excluded)
    expected: float  # voiced seconds its text predicts at the reader's tempo
    pause_before: float | None  # measured gap from the previous segment's end
    scripted_before: float | None  # the scripted silence there
    fit_cost: float  # how far its length and inner gaps are from what the script predicts
    margin: float  # how much worse the best alignment moving either of its cuts scores

    @property
    def ratio(self) -> float:
        """Voiced length over expected length: 1.0 is a perfect fit."""
        return self.voiced / self.expected if self.expected > 0 else math.inf

    @property
    def confidence(self) -> float:
        """0..1: near 1 when any other cut would fit the script clearly worse, near 0 when
        another cut is about as likely (the score is a negative log-likelihood, so a margin
        of 2 means the chosen cut is e times likelier than the runner-up)."""
        if self.margin == math.inf:
            return 1.0
        return 1.0 - math.exp(-0.5 * self.margin)


@dataclass(frozen=True)
class Alignment:
    placements: tuple[Placement, ...]
    left_out: tuple[int, ...]  # indices of regions assigned to no segment
    tempo: float  # reader's speech length over the script's estimate (>1: slower)
    pause_scale: float  # reader's pauses over the scripted ones (typical)
    cost: float


def expected_segments(
    plan: LocalePlan, ids: Collection[str] | None = None
) -> list[ExpectedSegment]:
    """The segments of ``plan`` (or only ``ids`` of them, for a partial re-recording), with
    their expected speech and the scripted silence up to the next one.

    When a subset skips segments, the pause between two chosen segments that are not
    neighbours in the script is unknown (the reader paused however long they liked).
    """
    meta = plan.meta
    chosen: list[SpeechSegment] = []
    silences: list[float | None] = []
    pending = 0.0
    previous_in_plan: SpeechSegment | None = None
    for item in plan.items:
        if not isinstance(item, SpeechSegment):
            pending += item.seconds
            continue
        if ids is None or item.id in ids:
            if chosen:
                adjacent = previous_in_plan is chosen[-1]
                silences.append(pending if adjacent else None)
            chosen.append(item)
        previous_in_plan = item
        pending = 0.0
    if ids is not None:
        unknown = set(ids) - {s.id for s in chosen}
        if unknown:
            raise AlignmentError(
                f"no speech segment {', '.join(sorted(unknown))} in {plan.script.path}"
            )
    silences.append(None)
    return [
        ExpectedSegment(
            segment_id=segment.id,
            speech=speech_seconds(segment, meta.rate, sentence_pause=0.0),
            sentences=len(segment.sentences),
            pause_after=pause,
        )
        for segment, pause in zip(chosen, silences, strict=True)
    ]


def align_regions(
    regions: Sequence[Region],
    expected: Sequence[ExpectedSegment],
    options: AlignOptions | None = None,
) -> Alignment:
    """Assign consecutive runs of ``regions`` to ``expected`` segments, in order, so that the
    total score (see the module docstring) is lowest."""
    options = options or AlignOptions()
    if not expected:
        raise AlignmentError("the script has no speech segments")
    if len(regions) < len(expected):
        raise AlignmentError(
            f"the recording has {len(regions)} stretch(es) of speech but the script has "
            f"{len(expected)} segments: is it the right recording, and is every segment read?"
        )
    spoken = sum(r.duration for r in regions)
    predicted = sum(e.speech for e in expected)
    tempo = spoken / predicted if predicted > 0 else 1.0
    pause_scale = 1.0
    seen: set[tuple[tuple[int, int], ...]] = set()
    result = _solve(regions, expected, options, tempo, pause_scale)
    for _ in range(options.iterations):
        key = tuple((p.first, p.last) for p in result.placements)
        if key in seen:
            break
        seen.add(key)
        tempo, pause_scale = _reestimate(result, expected)
        result = _solve(regions, expected, options, tempo, pause_scale)
    return result


def _reestimate(result: Alignment, expected: Sequence[ExpectedSegment]) -> tuple[float, float]:
    """The reader's tempo and typical pause scale, measured on an alignment."""
    voiced = sum(p.voiced for p in result.placements)
    predicted = sum(e.speech for e in expected)
    tempo = voiced / predicted if predicted > 0 else 1.0
    ratios = [
        p.pause_before / p.scripted_before
        for p in result.placements
        if p.pause_before is not None and p.scripted_before is not None and p.scripted_before >= 0.5
    ]
    scale = math.exp(float(np.median(np.log(ratios)))) if ratios else 1.0
    return tempo, float(np.clip(scale, 0.3, 1.5))


class _Costs:
    """The pieces of the score, vectorised over regions."""

    def __init__(self, regions: Sequence[Region], options: AlignOptions, pause_scale: float):
        self.options = options
        self.pause_scale = pause_scale
        self.starts = np.array([r.start for r in regions])
        self.ends = np.array([r.end for r in regions])
        durations = self.ends - self.starts
        self.voiced = np.concatenate(([0.0], np.cumsum(durations)))
        gaps = self.starts[1:] - self.ends[:-1]
        self.inside = np.concatenate(([0.0], np.cumsum(self.inside_cost(gaps))))
        stray = options.stray_cost + options.stray_cost_per_second * durations
        self.stray = np.concatenate(([0.0], np.cumsum(stray)))

    def inside_cost(self, gaps: np.ndarray) -> np.ndarray:
        """A gap inside a segment is free up to a long sentence pause, then costs more and
        more: a reader may linger between sentences, but not for a scripted pause's length."""
        longest = max(1.5 * self.options.sentence_pause, 0.6)
        excess = np.log(np.maximum(gaps, 1e-3) / longest)
        return np.where(excess > 0, (excess / self.options.inside_sigma) ** 2, 0.0)

    def pause_cost(self, gap: np.ndarray | float, scripted: float | None) -> np.ndarray:
        o = self.options
        soft = 0.25  # seconds added to both sides: short pauses are judged loosely
        if scripted is None:
            target = o.shortest_pause
            ratio = np.log((np.asarray(gap) + soft) / (target + soft))
            return np.where(ratio < 0, (ratio / o.pause_sigma) ** 2, 0.0)
        target = max(scripted * self.pause_scale, o.shortest_pause)
        ratio = np.log((np.maximum(np.asarray(gap), 0.0) + soft) / (target + soft))
        return (ratio / o.pause_sigma) ** 2

    def length_cost(self, voiced: np.ndarray, expected: float) -> np.ndarray:
        soft = 0.3
        ratio = np.log((voiced + soft) / (expected + soft))
        return (ratio / self.options.length_sigma) ** 2

    def stray_between(self, after: int, before: int) -> float:
        """Price of leaving out regions after+1 .. before-1."""
        return float(self.stray[before] - self.stray[after + 1])


@dataclass(frozen=True, eq=False)
class _Tables:
    """Forward dynamic-programming tables: ``best[j, b]`` is the lowest score of placing
    segments 0..j with segment j's group ending at region b."""

    best: np.ndarray
    first_of: np.ndarray  # first region of that group
    prev_end: np.ndarray  # last region of the group before it


def _forward(costs: _Costs, expected: Sequence[ExpectedSegment], tempo: float) -> _Tables:
    options = costs.options
    m, n = len(costs.starts), len(expected)
    best = np.full((n, m), math.inf)
    first_of = np.full((n, m), -1, dtype=np.int64)
    prev_end = np.full((n, m), -1, dtype=np.int64)
    for j, segment in enumerate(expected):
        want = tempo * segment.speech
        # A group may not sprawl far past its text's length (keeps the search small).
        span_limit = 3.0 * want + 1.5 * segment.sentences + 3.0
        last_allowed = m - (n - j)  # leave a region for each segment still to come
        for a in range(j, last_allowed + 1):
            entry, came_from = _entry(costs, best, j, a, expected, options)
            if entry == math.inf:
                continue
            b = np.arange(a, last_allowed + 1)
            b = b[costs.ends[b] - costs.starts[a] <= span_limit]
            if len(b) == 0:
                b = np.array([a])
            voiced = costs.voiced[b + 1] - costs.voiced[a]
            total = entry + costs.length_cost(voiced, want) + (costs.inside[b] - costs.inside[a])
            better = total < best[j, b]
            best[j, b[better]] = total[better]
            first_of[j, b[better]] = a
            prev_end[j, b[better]] = came_from
    return _Tables(best, first_of, prev_end)


def _solve(
    regions: Sequence[Region],
    expected: Sequence[ExpectedSegment],
    options: AlignOptions,
    tempo: float,
    pause_scale: float,
) -> Alignment:
    m, n = len(regions), len(expected)
    costs = _Costs(regions, options, pause_scale)
    tables = _forward(costs, expected, tempo)
    edge = max(m - 1 - options.max_stray_edge, 0)
    tail = [tables.best[n - 1, b] + costs.stray_between(b, m) for b in range(edge, m)]
    if not tail or min(tail) == math.inf:
        raise AlignmentError("the recording could not be matched to the script")
    total_cost = float(min(tail))

    groups: list[tuple[int, int]] = []
    b = int(np.argmin(tail)) + edge
    for j in range(n - 1, -1, -1):
        a = int(tables.first_of[j, b])
        groups.append((a, b))
        b = int(tables.prev_end[j, b])
    groups.reverse()
    margins = _boundary_margins(regions, expected, costs, tables, groups, tempo, total_cost)
    return _placements(regions, expected, costs, groups, margins, tempo, pause_scale, total_cost)


def _boundary_margins(
    regions: Sequence[Region],
    expected: Sequence[ExpectedSegment],
    costs: _Costs,
    forward: _Tables,
    groups: list[tuple[int, int]],
    tempo: float,
    total_cost: float,
) -> list[float]:
    """For each boundary between two segments, how much worse the best alignment that puts
    it anywhere else would score: a small margin means the cut is a close call.

    The score of every alignment through a given boundary is the forward table's score up
    to it, plus the junction, plus the score of the rest, which is the forward table of the
    reversed problem (the recording and the script read backwards).
    """
    m, n = len(regions), len(expected)
    if n < 2:
        return []
    length = max(r.end for r in regions)
    reversed_regions = [Region(length - r.end, length - r.start) for r in reversed(regions)]
    reversed_expected = [
        ExpectedSegment(
            e.segment_id,
            e.speech,
            e.sentences,
            expected[n - 2 - k].pause_after if k < n - 1 else None,
        )
        for k, e in enumerate(reversed(expected))
    ]
    backward = _forward(
        _Costs(reversed_regions, costs.options, costs.pause_scale), reversed_expected, tempo
    )
    margins = []
    for j in range(n - 1):
        chosen = (groups[j][1], groups[j + 1][0])
        runner_up = math.inf
        for b in range(m):
            if forward.best[j, b] == math.inf:
                continue
            for a in range(b + 1, min(b + 2 + costs.options.max_stray_run, m)):
                rest = backward.best[n - 2 - j, m - 1 - a]
                if (b, a) == chosen or rest == math.inf:
                    continue
                gap = costs.starts[a] - costs.ends[b]
                junction = costs.stray_between(b, a) + float(
                    costs.pause_cost(gap, expected[j].pause_after)
                )
                runner_up = min(runner_up, forward.best[j, b] + junction + rest)
        margins.append(max(runner_up - total_cost, 0.0))
    return margins


def _entry(
    costs: _Costs,
    best: np.ndarray,
    j: int,
    a: int,
    expected: Sequence[ExpectedSegment],
    options: AlignOptions,
) -> tuple[float, int]:
    """Cheapest way to have segments 0..j-1 placed and segment j start at region ``a``."""
    if j == 0:
        if a > options.max_stray_edge:
            return math.inf, -1
        return costs.stray_between(-1, a), -1
    scripted = expected[j - 1].pause_after
    lowest, came_from = math.inf, -1
    for b in range(max(a - 1 - options.max_stray_run, 0), a):
        if best[j - 1, b] == math.inf:
            continue
        gap = costs.starts[a] - costs.ends[b]
        value = best[j - 1, b] + costs.stray_between(b, a) + float(costs.pause_cost(gap, scripted))
        if value < lowest:
            lowest, came_from = value, b
    return lowest, came_from


def _placements(
    regions: Sequence[Region],
    expected: Sequence[ExpectedSegment],
    costs: _Costs,
    groups: list[tuple[int, int]],
    margins: list[float],
    tempo: float,
    pause_scale: float,
    total_cost: float,
) -> Alignment:
    placements = []
    for j, ((a, b), segment) in enumerate(zip(groups, expected, strict=True)):
        voiced = float(costs.voiced[b + 1] - costs.voiced[a])
        want = tempo * segment.speech
        fit = float(costs.length_cost(np.array(voiced), want)) + float(
            costs.inside[b] - costs.inside[a]
        )
        around = [margins[k] for k in (j - 1, j) if 0 <= k < len(margins)]
        placements.append(
            Placement(
                segment_id=segment.segment_id,
                first=a,
                last=b,
                start=regions[a].start,
                end=regions[b].end,
                voiced=voiced,
                expected=want,
                pause_before=regions[a].start - regions[groups[j - 1][1]].end if j else None,
                scripted_before=expected[j - 1].pause_after if j else None,
                fit_cost=fit,
                margin=min(around) if around else math.inf,
            )
        )
    used = {i for a, b in groups for i in range(a, b + 1)}
    left_out = tuple(i for i in range(len(regions)) if i not in used)
    return Alignment(tuple(placements), left_out, tempo, pause_scale, total_cost)
