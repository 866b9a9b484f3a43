"""The global alignment of speech regions to script segments, on regions laid out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_takes_support import plan_from

from pipeline.takes.align import (
    AlignmentError,
    AlignOptions,
    ExpectedSegment,
    _Costs,
    _forward,
    align_regions,
    expected_segments,
)
from pipeline.takes.detect import Region


def layout(*items: float) -> list[Region]:
    """Regions from alternating lengths: speech, gap, speech, gap, ... starting at 1 s."""
    regions, t = [], 1.0
    for i, seconds in enumerate(items):
        if i % 2 == 0:
            regions.append(Region(t, t + seconds))
        t += seconds
    return regions


def groups(alignment) -> list[tuple[int, int]]:
    return [(p.first, p.last) for p in alignment.placements]


def test_a_hesitation_inside_a_segment_is_not_taken_for_the_scripted_pause():
    # Three segments; the middle one is read with a 0.5 s hesitation, and the scripted
    # 3 s pauses around it are read as 2.2 s and 3.5 s.
    expected = [
        ExpectedSegment("S1-01", 2.0, 1, 3.0),
        ExpectedSegment("S1-02", 3.0, 1, 3.0),
        ExpectedSegment("S1-03", 2.0, 1, None),
    ]
    regions = layout(2.0, 2.2, 1.4, 0.5, 1.6, 3.5, 2.0)
    result = align_regions(regions, expected)
    assert groups(result) == [(0, 0), (1, 2), (3, 3)]
    assert result.left_out == ()


def test_a_long_pause_the_reader_cut_short_is_still_the_boundary():
    # A 20 s pause read as 6 s, a 1.2 s paragraph pause read as 0.8 s, and inside the second
    # segment a 0.7 s sentence pause: lengths and the pause pattern together decide.
    expected = [
        ExpectedSegment("S1-01", 1.5, 1, 20.0),
        ExpectedSegment("S1-02", 3.0, 2, 1.2),
        ExpectedSegment("S1-03", 1.5, 1, None),
    ]
    regions = layout(1.5, 6.0, 1.4, 0.7, 1.5, 0.8, 1.6)
    result = align_regions(regions, expected, AlignOptions(sentence_pause=0.6))
    assert groups(result) == [(0, 0), (1, 2), (3, 3)]


def test_lengths_decide_between_two_equally_long_gaps():
    # Both gaps are 1.0 s; the script says the first segment is three times the second.
    expected = [
        ExpectedSegment("S1-01", 3.0, 1, 1.2),
        ExpectedSegment("S1-02", 1.0, 1, None),
    ]
    regions = layout(1.0, 1.0, 2.0, 1.0, 1.0)
    result = align_regions(regions, expected)
    assert groups(result) == [(0, 1), (2, 2)]
    # The same regions with the lengths the other way round.
    swapped = [ExpectedSegment("S1-01", 1.0, 1, 1.2), ExpectedSegment("S1-02", 3.0, 1, None)]
    assert groups(align_regions(regions, swapped)) == [(0, 0), (1, 2)]


def test_a_stray_sound_in_a_pause_is_left_out():
    # A 0.1 s click in the middle of a 4 s pause belongs to no segment.
    expected = [ExpectedSegment("S1-01", 2.0, 1, 4.0), ExpectedSegment("S1-02", 2.0, 1, None)]
    regions = layout(2.0, 2.0, 0.1, 1.9, 2.0)
    result = align_regions(regions, expected)
    assert groups(result) == [(0, 0), (2, 2)]
    assert result.left_out == (1,)


def test_fewer_sounds_than_segments_is_an_error():
    expected = [ExpectedSegment(f"S1-0{i}", 1.0, 1, 2.0) for i in range(1, 4)]
    with pytest.raises(AlignmentError, match="2 stretch"):
        align_regions(layout(1.0, 2.0, 1.0), expected)


def test_confidence_is_high_for_a_clear_cut_and_low_for_a_close_call():
    clear = align_regions(
        layout(2.0, 3.0, 2.0),
        [ExpectedSegment("S1-01", 2.0, 1, 3.0), ExpectedSegment("S1-02", 2.0, 1, None)],
    )
    assert min(p.confidence for p in clear.placements) > 0.9
    # Three equal sounds, equal gaps, two segments of equal expected length: the boundary
    # could be either gap.
    close = align_regions(
        layout(1.0, 1.0, 1.0, 1.0, 1.0),
        [ExpectedSegment("S1-01", 1.5, 1, 1.0), ExpectedSegment("S1-02", 1.5, 1, None)],
    )
    assert max(p.confidence for p in close.placements) < 0.2


def test_the_backward_tables_agree_with_the_forward_ones():
    """The margin computation reads the problem backwards; both directions must find the
    same optimum, or the margins would be measured against the wrong score."""
    rng = np.random.default_rng(3)
    items = []
    for _ in range(9):
        items += [float(rng.uniform(0.3, 2.5)), float(rng.uniform(0.2, 4.0))]
    regions = layout(*items[:-1])
    expected = [
        ExpectedSegment(f"S1-0{i}", float(rng.uniform(0.5, 3)), 1, float(rng.uniform(1, 5)))
        for i in range(1, 5)
    ]
    options = AlignOptions()
    forward = _forward(_Costs(regions, options, 1.0), expected, 1.0)
    length = regions[-1].end
    back_regions = [Region(length - r.end, length - r.start) for r in reversed(regions)]
    n = len(expected)
    back_expected = [
        ExpectedSegment(
            e.segment_id, e.speech, 1, expected[n - 2 - k].pause_after if k < n - 1 else None
        )
        for k, e in enumerate(reversed(expected))
    ]
    backward = _forward(_Costs(back_regions, options, 1.0), back_expected, 1.0)
    costs = _Costs(regions, options, 1.0)
    m = len(regions)
    edge = range(max(m - 1 - options.max_stray_edge, 0), m)
    forward_best = min(forward.best[n - 1, b] + costs.stray_between(b, m) for b in edge)
    back_costs = _Costs(back_regions, options, 1.0)
    backward_best = min(backward.best[n - 1, b] + back_costs.stray_between(b, m) for b in edge)
    assert math.isclose(forward_best, backward_best, rel_tol=1e-9)


def test_expected_segments_follow_the_plan_and_its_silences():
    plan = plan_from()
    expected = expected_segments(plan)
    assert [e.segment_id for e in expected] == [s.id for s in plan.speech]
    assert [e.pause_after for e in expected] == [3.0, 1.2, 5.0, 2.0, 2.5, 20.0, 1.2, None]
    assert expected[2].sentences == 2
    # "Breathe in.": two words at 2.33 words per second.
    assert expected[3].segment_id == "S1-04" and math.isclose(expected[3].speech, 2 / 2.33)


def test_a_subset_knows_only_the_pauses_between_neighbours():
    plan = plan_from()
    expected = expected_segments(plan, {"S1-03", "S1-04", "S2-02"})
    assert [e.segment_id for e in expected] == ["S1-03", "S1-04", "S2-02"]
    assert [e.pause_after for e in expected] == [5.0, None, None]
    with pytest.raises(AlignmentError, match="S9-01"):
        expected_segments(plan, {"S9-01"})
