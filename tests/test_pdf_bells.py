"""The audio script shows a bell cue where each [bell] tag stands, apart from the pauses
beside it, and counts the bell's pause in the section times."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline import sound
from pipeline.estimate import estimate_times, speech_seconds
from pipeline.parse import parse_script
from pipeline.pdf import bell_cue, format_clock, write_pdf
from pipeline.plan import plan_locale, ring_pause
from tests.test_pdf import all_text, placed_text, run_with

SCRIPT = """---
title: Bells
---
[bell]

Welcome. [bell 10s] [pause 5s] Settle in.

# Body

Feel your feet. [pause 3s][bell 90s]
"""


@pytest.fixture
def pdf(tmp_path: Path) -> tuple[Path, object]:
    plan = plan_locale(parse_script(SCRIPT, "scripts_src/bells.md"), "en-GB")
    out = tmp_path / "bells.pdf"
    times = estimate_times(plan)
    write_pdf(plan, times, out)
    return out, times


def test_each_bell_is_a_cue_of_its_own_where_its_tag_stands(pdf):
    path, _ = pdf
    text = all_text(path)
    ring = ring_pause(sound.bowl_seconds())
    whole = f"bell · {ring:g} s"
    assert text.index(whole) < text.index("Welcome.")
    assert "Welcome. bell · 10 s pause · 5 s Settle in." in text
    assert "Feel your feet. pause · 3 s bell · 1 min 30 s" in text
    assert text.count("bell ·") == 3


def test_a_bell_cue_on_a_line_of_its_own_sits_above_the_text(pdf):
    path, _ = pdf
    runs = placed_text(path)
    bell, welcome = run_with(runs, "bell ·"), run_with(runs, "Welcome.")
    assert bell[0] == welcome[0] and bell[3] > welcome[3]  # same page, higher up


def test_section_times_count_the_bells(pdf):
    path, times = pdf
    plan = plan_locale(parse_script(SCRIPT, "scripts_src/bells.md"), "en-GB")
    welcome, settle, _ = (speech_seconds(s, 1.0, 0.6) for s in plan.speech)
    ring = ring_pause(sound.bowl_seconds())
    # lead-in, the ring, "Welcome.", the 10 s bell, the 5 s pause, "Settle in.", section pause
    expected = 1.0 + ring + welcome + 10 + 5 + settle + 2.5
    assert dict(times.section_starts)[1] == pytest.approx(expected)
    assert f"Body {format_clock(expected)}" in all_text(path)


def test_bell_cue_names_the_pause_it_counts_as():
    plan = plan_locale(parse_script(SCRIPT, "scripts_src/bells.md"), "en-GB")
    cues = [bell_cue(i) for i in plan.items if i.kind == "bell"]
    assert cues[1:] == ["bell · 10 s", "bell · 1 min 30 s"]
