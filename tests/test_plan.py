"""The plan's timeline: segments, IDs and the silences of the timing model."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.model import Emphasis, Silence, SpeechSegment, Text
from pipeline.plan import plan_locale, plan_script

# Distinct implicit silences so that each one is recognisable by its length.
TIMING = "lead_in: 1s\ntail: 3s\nparagraph_pause: 1.2s\nsection_pause: 2.5s\n"


def timeline(plan) -> list[str]:
    """The plan as short tokens: segment IDs and 'source=seconds' for silences."""
    return [
        item.id if isinstance(item, SpeechSegment) else f"{item.source}={item.seconds:g}"
        for item in plan.items
    ]


def test_pauses_split_a_paragraph_into_segments(parse):
    plan = plan_locale(parse("A. [pause 2s] B.\n", TIMING), "en-GB")
    assert timeline(plan) == ["lead_in=1", "S0-01", "pause=2", "S0-02", "tail=3"]
    assert [s.printed for s in plan.speech] == ["A.", "B."]


def test_segments_never_span_paragraphs(parse):
    plan = plan_locale(parse("A.\n\nB.\n", TIMING), "en-GB")
    assert timeline(plan) == ["lead_in=1", "S0-01", "paragraph=1.2", "S0-02", "tail=3"]


def test_a_new_section_gives_the_section_pause(parse):
    plan = plan_locale(parse("A.\n# One\nB.\n\n# Two\nC.\n", TIMING), "en-GB")
    assert timeline(plan) == [
        "lead_in=1", "S0-01", "section=2.5", "S1-01", "section=2.5", "S2-01", "tail=3",
    ]  # fmt: skip


def test_explicit_pauses_replace_the_paragraph_pause(parse):
    plan = plan_locale(parse("A. [pause 5s]\n\nB.\n", TIMING), "en-GB")
    assert timeline(plan) == ["lead_in=1", "S0-01", "pause=5", "S0-02", "tail=3"]


def test_explicit_pauses_replace_the_section_pause(parse):
    plan = plan_locale(parse("A.\n\n# One\n[pause 4s] B.\n", TIMING), "en-GB")
    assert timeline(plan) == ["lead_in=1", "S0-01", "pause=4", "S1-01", "tail=3"]


def test_a_zero_pause_still_replaces_the_implicit_pause(parse):
    plan = plan_locale(parse("A. [pause 0s]\n\nB.\n", TIMING), "en-GB")
    assert timeline(plan) == ["lead_in=1", "S0-01", "pause=0", "S0-02", "tail=3"]


def test_consecutive_pauses_add_up(parse):
    plan = plan_locale(parse("A. [pause 2s] [pause:3s]\n\n<break/>\n\nB.\n", TIMING), "en-GB")
    assert timeline(plan) == ["lead_in=1", "S0-01", "pause=2", "pause=3", "pause=2", "S0-02",
                              "tail=3"]  # fmt: skip
    between = plan.items[2:5]
    assert sum(s.seconds for s in between) == 7.0


def test_pauses_before_the_first_segment_follow_the_lead_in(parse):
    plan = plan_locale(parse("[pause 5s]\n\n# One\n[pause 1s] A.\n", TIMING), "en-GB")
    assert timeline(plan) == ["lead_in=1", "pause=5", "pause=1", "S1-01", "tail=3"]


def test_pauses_after_the_last_segment_come_before_the_tail(parse):
    plan = plan_locale(parse("A. [pause 30s]\n\n[pause 1m]\n", TIMING), "en-GB")
    assert timeline(plan) == ["lead_in=1", "S0-01", "pause=30", "pause=60", "tail=3"]


def test_each_pause_silence_says_where_its_tag_was(parse):
    plan = plan_locale(parse("Intro.\n\n# One\nA.\nB. [pause 2s]\n\nC.\n", TIMING), "en-GB")
    (pause,) = [i for i in plan.items if isinstance(i, Silence) and i.source == "pause"]
    assert (pause.line, pause.section, pause.paragraph) == (12, 1, 1)


def test_implicit_silences_carry_no_position(parse):
    plan = plan_locale(parse("A.\n\nB.\n", TIMING), "en-GB")
    implicit = [i for i in plan.items if isinstance(i, Silence)]
    assert all((s.line, s.section, s.paragraph) == (None, None, None) for s in implicit)


def test_front_matter_timings_are_used(parse):
    front = "lead_in: 0s\ntail: 10s\nparagraph_pause: 750ms\nsection_pause: 4s\npause: 6s\n"
    plan = plan_locale(parse("A. [pause]\nB.\n\nC.\n# H\nD.\n", front), "en-GB")
    assert timeline(plan) == [
        "lead_in=0", "S0-01", "pause=6", "S0-02", "paragraph=0.75", "S0-03", "section=4",
        "S1-01", "tail=10",
    ]  # fmt: skip


def test_scripted_silence_is_the_sum_of_every_silence(parse):
    plan = plan_locale(parse("A. [pause 2s] B.\n\nC.\n# H\nD.\n", TIMING), "en-GB")
    assert plan.scripted_silence == pytest.approx(1 + 2 + 1.2 + 2.5 + 3)


# --------------------------------------------------------------------------- IDs


def test_ids_count_sections_from_one_and_segments_from_01(parse):
    plan = plan_locale(parse("# A\nx [pause] y [pause] z\n\n# B\nw\n"), "en-GB")
    assert [s.id for s in plan.speech] == ["S1-01", "S1-02", "S1-03", "S2-01"]


def test_segment_empty_in_a_locale_is_skipped_there_but_keeps_the_ids(parse):
    script = parse("A. [pause 2s] {en-US: Only here.} [pause 3s] C.\n", TIMING)
    plans = plan_script(script)
    assert timeline(plans["en-US"]) == [
        "lead_in=1", "S0-01", "pause=2", "S0-02", "pause=3", "S0-03", "tail=3",
    ]  # fmt: skip
    # In en-GB the middle segment is silent: both pauses now sit between S0-01 and S0-03.
    assert timeline(plans["en-GB"]) == [
        "lead_in=1", "S0-01", "pause=2", "pause=3", "S0-03", "tail=3",
    ]  # fmt: skip


def test_a_paragraph_empty_in_a_locale_does_not_add_a_paragraph_pause(parse):
    plans = plan_script(parse("A.\n\n{en-GB: Cheerio.}\n\nB.\n", TIMING))
    assert timeline(plans["en-US"]) == ["lead_in=1", "S0-01", "paragraph=1.2", "S0-03", "tail=3"]


def test_text_that_is_empty_in_every_locale_takes_no_number(parse):
    plan = plan_locale(parse("[pause 1s] A. [pause 1s]\n\nB.\n", TIMING), "en-GB")
    assert [s.id for s in plan.speech] == ["S0-01", "S0-02"]


def test_ids_and_positions_are_the_same_in_every_locale(parse):
    plans = plan_script(parse("{en-GB: Colour. | en-US: Color.} [pause] Same.\n"))
    gb, us = (plans[loc].speech for loc in ("en-GB", "en-US"))
    assert [(s.id, s.line, s.col) for s in gb] == [(s.id, s.line, s.col) for s in us]
    assert [s.printed for s in gb] != [s.printed for s in us]


def test_a_locale_with_nothing_to_say_is_all_silence(parse):
    plans = plan_script(parse("{en-GB: Hello.} [pause 2s]\n", TIMING))
    assert timeline(plans["en-US"]) == ["lead_in=1", "pause=2", "tail=3"]


# --------------------------------------------------------------------------- sections


def test_headings_are_not_spoken_by_default(parse):
    plan = plan_locale(parse("# Noticing\nA.\n"), "en-GB")
    assert [s.printed for s in plan.speech] == ["A."]


def test_spoken_headings_are_segment_01_of_their_section(parse):
    plan = plan_locale(parse("Intro.\n\n# Noticing\nA.\n", TIMING + "speak_headings: true\n"),
                       "en-GB")  # fmt: skip
    assert timeline(plan) == [
        "lead_in=1", "S0-01", "section=2.5", "S1-01", "paragraph=1.2", "S1-02", "tail=3",
    ]  # fmt: skip
    heading = plan.speech[1]
    assert (heading.printed, heading.paragraph, heading.section, heading.line) == (
        "Noticing", -1, 1, 11,
    )  # fmt: skip


def test_section_titles_per_locale(parse):
    script = parse("Intro.\n# Your *{en-GB: favourite | en-US: favorite}* place\nA.\n")
    gb, us = (plan_locale(script, loc).sections for loc in ("en-GB", "en-US"))
    assert [(s.number, s.title, s.line) for s in gb] == [
        (0, "Example", 4),
        (1, "Your favourite place", 5),
    ]
    assert us[1].title == "Your favorite place"
    assert gb[0].heading is None
    assert gb[1].heading == (Text("Your "), Emphasis("*", (Text("favourite"),)), Text(" place"))


# --------------------------------------------------------------------------- contract


def test_plan_locale_refuses_a_locale_the_script_does_not_have(parse):
    with pytest.raises(ValueError, match="en-AU is not one of the script's locales"):
        plan_locale(parse("A.\n"), "en-AU")


def test_plan_script_plans_every_locale_in_order(parse):
    plans = plan_script(parse("A.\n", "locales: [en-US, en-GB]\n"))
    assert list(plans) == ["en-US", "en-GB"]
    assert all(plan.locale == locale for locale, plan in plans.items())


def test_planning_is_pure(parse):
    script = parse("A. [pause] B.\n\n# C\nD.\n")
    assert plan_locale(script, "en-GB") == plan_locale(script, "en-GB")


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from("abcdefghij KLMNOP,;:'\"()-\u2014\u2019xyz"), min_size=1),
    last=st.sampled_from(["", ".", "!", "?", "\u2026"]),
)
def test_text_with_no_sentence_end_inside_is_one_sentence_as_the_segmenter_has_it(text, last):
    # Such text skips the segmenter; asked, the segmenter finds one sentence in it too.
    from pipeline.plan import _segmenter, sentence_starts

    whole = text + last
    found = [s for s in _segmenter("en").segment(whole) if s.strip()]
    assert sentence_starts(whole) == (0,)
    assert len(found) <= 1
