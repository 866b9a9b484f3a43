"""The plan's text: printed and spoken forms, sentences, say-substitutions and lexicons."""

from __future__ import annotations

from dataclasses import replace

from pipeline.model import Emphasis, Lexicon, Say, Sentence, Text
from pipeline.plan import plan_locale, sentence_starts


def only_segment(script, locale="en-GB"):
    (segment,) = plan_locale(script, locale).speech
    return segment


def with_lexicon(script, **scopes):
    lexicon = Lexicon(tuple((scope.replace("_", "-"), tuple(m.items())) for scope, m in
                            sorted(scopes.items())))  # fmt: skip
    return replace(script, lexicon=lexicon)


def test_sentences_come_from_a_real_segmenter():
    # A regex on ". " would split after "Dr." and "e.g."; the segmenter does not.
    text = "Dr. Neff wrote about this. Notice, e.g. your breath. Rest."
    starts = sentence_starts(text)
    ends = [*starts[1:], len(text)]
    assert [text[a:b].strip() for a, b in zip(starts, ends, strict=True)] == [
        "Dr. Neff wrote about this.",
        "Notice, e.g. your breath.",
        "Rest.",
    ]


def test_segment_sentences_keep_printed_and_spoken_forms(parse):
    segment = only_segment(parse("Welcome. You are *safe* here. Breathe.\n"))
    assert segment.sentences == (
        Sentence("Welcome.", "Welcome."),
        Sentence("You are safe here.", "You are safe here."),
        Sentence("Breathe.", "Breathe."),
    )
    assert segment.printed == "Welcome. You are safe here. Breathe."
    assert segment.spoken == segment.printed


def test_say_substitution_prints_and_speaks_differently(parse):
    segment = only_segment(parse("Today we use [CFT](say: compassion focused therapy).\n"))
    assert segment.printed == "Today we use CFT."
    assert segment.spoken == "Today we use compassion focused therapy."


def test_say_substitution_is_never_cut_into_sentences(parse):
    # The segmenter finds a sentence start at "Now"; inside a substitution it is dropped.
    segment = only_segment(parse("Hello. [Rest. Now](say: rest now) then go.\n"))
    assert [s.printed for s in segment.sentences] == ["Hello.", "Rest. Now then go."]
    assert [s.spoken for s in segment.sentences] == ["Hello.", "rest now then go."]


def test_lexicon_applies_to_spoken_text_only(parse):
    script = with_lexicon(parse("CFT helps. [CFT](say: CFT therapy) too.\n"), all={"CFT": "C F T"})
    segment = only_segment(script)
    assert segment.printed == "CFT helps. CFT too."
    # Not inside the say-substitution's spoken text.
    assert segment.spoken == "C F T helps. CFT therapy too."


def test_locale_lexicon_wins_over_all(parse):
    script = with_lexicon(
        parse("A tomato.\n"), all={"tomato": "to-mah-to"}, en_US={"tomato": "to-may-to"}
    )
    assert only_segment(script, "en-GB").spoken == "A to-mah-to."
    assert only_segment(script, "en-US").spoken == "A to-may-to."


def test_lexicon_matches_words_split_by_emphasis(parse):
    script = with_lexicon(parse("Dr *Gil*bert.\n"), all={"Gilbert": "Gil-bert"})
    assert only_segment(script).spoken == "Dr Gil-bert."


def test_emphasis_is_spoken_plainly_and_kept_in_the_printed_inlines(parse):
    segment = only_segment(parse("Be **very** _gentle_.\n"))
    assert segment.spoken == "Be very gentle."
    assert segment.inlines == (
        Text("Be "),
        Emphasis("**", (Text("very"),)),
        Text(" "),
        Emphasis("_", (Text("gentle"),)),
        Text("."),
    )


def test_segment_inlines_are_resolved_for_the_locale(parse):
    script = parse("Your {en-GB: *favourite* | en-US: [fave](say: favorite)} chair.\n")
    assert only_segment(script, "en-GB").inlines == (
        Text("Your "),
        Emphasis("*", (Text("favourite"),)),
        Text(" chair."),
    )
    assert only_segment(script, "en-US").inlines == (
        Text("Your "),
        Say("fave", "favorite"),
        Text(" chair."),
    )


def test_whitespace_is_normalised_around_empty_variants(parse):
    segment = only_segment(parse("Sit {en-US: right} down.\n"), "en-GB")
    assert segment.printed == "Sit down."
    assert segment.inlines == (Text("Sit down."),)


def test_a_pause_inside_emphasis_splits_it(parse):
    plan = plan_locale(parse("*Slowly [pause 2s] now.*\n"), "en-GB")
    first, second = plan.speech
    assert first.inlines == (Emphasis("*", (Text("Slowly"),)),)
    assert second.inlines == (Emphasis("*", (Text("now."),)),)


def test_segment_positions(parse):
    plan = plan_locale(parse("Intro.\n\nBreathe in. [pause 3s] Breathe out.\n"), "en-GB")
    assert [(s.id, s.line, s.col, s.paragraph) for s in plan.speech] == [
        ("S0-01", 4, 1, 0),
        ("S0-02", 6, 1, 1),
        ("S0-03", 6, 23, 1),
    ]
