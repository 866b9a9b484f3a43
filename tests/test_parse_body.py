"""The body rules of the script format, one test (or parametrised family) per rule.

Bodies start on line 4 (after '---', 'title: Example', '---'), so error positions below
are 4 + the line within the body.
"""

from __future__ import annotations

import pytest

from pipeline.model import Emphasis, Paragraph, Pause, Say, Text, Variant

P = "scripts_src/example.md"


def texts(paragraph: Paragraph) -> str:
    """The paragraph's top-level text, with pauses shown as |n|."""
    out = []
    for item in paragraph.items:
        if isinstance(item, Text):
            out.append(item.text)
        elif isinstance(item, Pause):
            out.append(f"|{item.seconds:g}|")
        else:
            out.append(f"<{type(item).__name__}>")
    return "".join(out)


def paragraphs(script) -> list[Paragraph]:
    return [p for s in script.sections for p in s.paragraphs]


# --------------------------------------------------------------------------- 1. comments


def test_inline_comment_is_removed(parse):
    (para,) = paragraphs(parse("Breathe <!-- slowly --> in.\n"))
    assert texts(para) == "Breathe in."


def test_multi_line_comment_is_removed(parse):
    (para,) = paragraphs(parse("Breathe <!-- a note\nover two lines --> in.\n"))
    assert texts(para) == "Breathe in."


def test_comment_only_line_does_not_split_a_paragraph(parse):
    (para,) = paragraphs(parse("First line.\n<!-- note -->\nSecond line.\n"))
    assert texts(para) == "First line. Second line."


def test_multi_line_comment_block_does_not_split_a_paragraph(parse):
    (para,) = paragraphs(parse("First.\n<!--\n\nnote\n\n-->\nSecond.\n"))
    assert texts(para) == "First. Second."


def test_comment_only_line_does_not_join_paragraphs(parse):
    script = parse("First.\n\n<!-- note -->\n\nSecond.\n")
    assert [texts(p) for p in paragraphs(script)] == ["First.", "Second."]


def test_comment_is_neither_spoken_nor_kept_anywhere(parse):
    script = parse("<!-- only for the producer -->\nHello.\n")
    assert [texts(p) for p in paragraphs(script)] == ["Hello."]
    assert paragraphs(script)[0].line == 5


def test_unclosed_comment_is_an_error_at_its_start(errors):
    assert errors("Hello.\nThen <!-- never closed\nmore\n") == [
        f"{P}:5:6: unclosed comment: end it with '-->'"
    ]


def test_escaped_comment_opener_is_literal_text(parse):
    (para,) = paragraphs(parse("a \\<!-- b\n"))
    assert texts(para) == "a <!-- b"


# --------------------------------------------------------------------------- 2. sections


def test_heading_starts_a_numbered_section(parse):
    script = parse("# Noticing\n\nText.\n\n## Writing\nMore.\n")
    assert [(s.number, s.level, s.line) for s in script.sections] == [(1, 1, 4), (2, 2, 8)]
    assert script.sections[0].heading == (Text("Noticing"),)
    assert [texts(p) for p in script.sections[1].paragraphs] == ["More."]


def test_text_before_the_first_heading_is_an_opening_section_zero(parse):
    script = parse("Welcome.\n\n# One\nText.\n")
    assert [s.number for s in script.sections] == [0, 1]
    opening = script.sections[0]
    assert (opening.heading, opening.level, opening.line) == (None, 0, 4)


def test_no_opening_section_when_only_comments_precede_the_first_heading(parse):
    script = parse("<!-- note -->\n\n# One\nText.\n")
    assert [s.number for s in script.sections] == [1]


def test_heading_ends_the_paragraph_before_it(parse):
    script = parse("Before.\n# Heading\nAfter.\n")
    assert [texts(p) for p in script.sections[0].paragraphs] == ["Before."]
    assert [texts(p) for p in script.sections[1].paragraphs] == ["After."]


def test_heading_may_hold_emphasis_variants_and_say(parse):
    script = parse(
        "# A *calm* {en-GB: colour | en-US: color} [CFT](say: compassion focused therapy)\nx\n"
    )
    heading = script.sections[0].heading
    assert heading is not None
    assert heading[1] == Emphasis("*", (Text("calm"),))
    assert isinstance(heading[3], Variant)
    assert heading[5] == Say("CFT", "compassion focused therapy")


def test_pause_in_a_heading_is_an_error(errors):
    assert errors("# Rest [pause 3s]\nText.\n") == [f"{P}:4:8: pauses are not allowed in a heading"]


@pytest.mark.parametrize(
    ("line", "message"),
    [("#Title", "a heading needs a space after its '#'"), ("##", "empty heading")],
)
def test_malformed_heading_is_an_error(errors, line, message):
    assert errors(f"Text.\n{line}\n") == [f"{P}:5:1: {message}"]


# --------------------------------------------------------------------------- 3. paragraphs


def test_consecutive_lines_form_one_paragraph_with_spaces(parse):
    (para,) = paragraphs(parse("Breathe in,\n  and breathe out.\n"))
    assert texts(para) == "Breathe in, and breathe out."
    assert para.line == 4


def test_blank_lines_separate_paragraphs(parse):
    script = parse("One.\n\n \t\n\nTwo.\nStill two.\n")
    assert [(p.line, texts(p)) for p in paragraphs(script)] == [
        (4, "One."),
        (8, "Two. Still two."),
    ]


def test_whitespace_inside_a_paragraph_collapses(parse):
    (para,) = paragraphs(parse("Slowly,    \t gently.\n"))
    assert texts(para) == "Slowly, gently."


def test_a_script_without_text_is_an_error(errors):
    assert errors("<!-- nothing yet -->\n\n") == [f"{P}:4:1: the script has no text"]


# --------------------------------------------------------------------------- 4. pauses


@pytest.mark.parametrize(
    ("tag", "seconds"),
    [
        ("[pause]", 2.0),
        ("[PAUSE]", 2.0),
        ("[pause 3s]", 3.0),
        ("[pause 750ms]", 0.75),
        ("[pause 1m30s]", 90.0),
        ("[pause 3]", 3.0),
        ("[pause 1.5s]", 1.5),
        ("[Pause 2M]", 120.0),
        ("[pause:3s]", 3.0),
        ("[pause:3]", 3.0),
        ("[PAUSE:4S]", 4.0),
        ("<break/>", 2.0),
        ("<break />", 2.0),
        ('<break time="3s"/>', 3.0),
        ('<break time="500ms"/>', 0.5),
        ("<BREAK TIME='2s'/>", 2.0),
        ('<break strength="none"/>', 0.0),
        ('<break strength="x-weak"/>', 0.25),
        ('<break strength="weak"/>', 0.5),
        ('<break strength="medium"/>', 1.0),
        ('<break strength="strong"/>', 2.0),
        ('<break strength="x-strong"/>', 3.0),
        ("[pause 10m]", 600.0),
    ],
)
def test_every_pause_form(parse, tag, seconds):
    (para,) = paragraphs(parse(f"Rest. {tag} Again.\n"))
    assert para.items == (Text("Rest. "), Pause(seconds, tag, 4, 7), Text(" Again."))


def test_bare_pause_uses_the_front_matter_default(parse):
    (para,) = paragraphs(parse("A [pause] B <break/> C\n", front="pause: 5s\n"))
    assert [i.seconds for i in para.items if isinstance(i, Pause)] == [5.0, 5.0]


def test_pause_on_its_own_line_stays_in_the_paragraph(parse):
    (para,) = paragraphs(parse("Breathe in.\n[pause 4s]\nBreathe out.\n"))
    assert texts(para) == "Breathe in. |4| Breathe out."
    assert para.items[1] == Pause(4.0, "[pause 4s]", 5, 1)


def test_pause_between_blank_lines_is_a_paragraph_of_its_own(parse):
    script = parse("One.\n\n[pause 1m]\n\nTwo.\n")
    assert [texts(p) for p in paragraphs(script)] == ["One.", "|60|", "Two."]


def test_pause_tag_written_over_a_line_break(parse):
    (para,) = paragraphs(parse("A [pause\n3s] B\n"))
    assert para.items[1] == Pause(3.0, "[pause 3s]", 4, 3)


def test_pause_longer_than_ten_minutes_is_an_error(errors):
    assert errors("Write. [pause 10m1s]\n") == [
        f"{P}:4:8: [pause 10m1s] is longer than the 10-minute limit for one pause"
    ]


@pytest.mark.parametrize(
    ("tag", "message"),
    [
        ("[pause 3x]", "invalid pause [pause 3x]: '3x' is not a duration"),
        ("[pause -2s]", "invalid pause [pause -2s]: duration '-2s' is negative"),
        ("[pause:]", "[pause:] needs a duration after ':'"),
        ('<break time="soon"/>', "invalid pause <break time=\"soon\"/>: 'soon' is not a"),
        ('<break strength="loud"/>', "unknown <break> strength 'loud'"),
        (
            '<break time="1s" strength="weak"/>',
            '<break time="1s" strength="weak"/> has both time and strength: use one',
        ),
        ('<break size="1"/>', "unknown or repeated <break> attribute 'size'"),
        ("<break time=3s/>", "malformed <break time=3s/>"),
        ("<break time='1s'", "unclosed <break> tag"),
    ],
)
def test_malformed_pause_is_an_error_at_the_tag(errors, tag, message):
    (error,) = errors(f"Rest. {tag} x\n")
    assert error.startswith(f"{P}:4:7: {message}")


@pytest.mark.parametrize(
    ("tag", "suggestion"),
    [
        ("[pasue 3s]", "; did you mean [pause 3s]?"),
        ("[Puase]", "; did you mean [pause]?"),
        ("[paus:2s]", "; did you mean [pause:2s]?"),
        ("[pause3s]", "; did you mean [pause 3s]?"),
        (
            "[music]",
            " (the tags are [pause] and [bell], as in [pause 3s]; write \\[ for a literal bracket)",
        ),
    ],
)
def test_unknown_tag_is_an_error_with_a_suggestion(errors, tag, suggestion):
    assert errors(f"Now {tag} rest.\n") == [f"{P}:4:5: unknown tag {tag}{suggestion}"]


def test_unknown_tag_on_a_later_line_has_its_own_position(errors):
    assert errors("Fine.\n\n   Settle [pasue 3s]\n") == [
        f"{P}:6:11: unknown tag [pasue 3s]; did you mean [pause 3s]?"
    ]


# --------------------------------------------------------------------------- 5. variants


def test_variant_branches_are_trimmed_and_keep_their_position(parse):
    (para,) = paragraphs(parse("The {en-GB:  colour  | en-US: color } fades.\n"))
    assert para.items[1] == Variant(
        (("en-GB", (Text("colour"),)), ("en-US", (Text("color"),))), 4, 5
    )


def test_variant_branch_may_be_empty_or_missing(parse):
    (para,) = paragraphs(parse("Sit{en-GB: down | en-US: }. {en-US: Okay.}\n"))
    empty, only_us = para.items[1], para.items[3]
    assert isinstance(empty, Variant) and isinstance(only_us, Variant)
    assert empty.for_locale("en-US") == ()
    assert only_us.for_locale("en-GB") == ()
    assert only_us.for_locale("en-US") == (Text("Okay."),)


def test_variant_locale_tags_are_read_case_insensitively(parse):
    (para,) = paragraphs(parse("{en-gb: mum | EN-US: mom}\n"))
    assert [tag for tag, _ in para.items[0].branches] == ["en-GB", "en-US"]


def test_variant_branch_may_hold_emphasis_and_say(parse):
    (para,) = paragraphs(parse("{en-GB: *favourite* [NHS](say: N H S) | en-US: favorite}\n"))
    assert para.items[0].for_locale("en-GB") == (
        Emphasis("*", (Text("favourite"),)),
        Text(" "),
        Say("NHS", "N H S"),
    )


@pytest.mark.parametrize(
    ("body", "position", "message"),
    [
        ("A {en-GB: x [pause] | en-US: y} b\n", "4:13", "pauses are not allowed in a variant"),
        ("A {en-GB: x {en-US: y}} b\n", "4:13", "variants cannot be nested"),
        ("A {en-GB: x | en-AU: y} b\n", "4:15", "locale en-AU is not one of this script's"),
        ("A {en-GB: x | colour} b\n", "4:15", "each variant branch starts with a locale"),
        ("A {en-GB: x | en_GB: y} b\n", "4:15", "'en_GB' is not a locale tag"),
        ("A {en-GB: x | en-gb: y} b\n", "4:15", "locale en-GB has two branches"),
        ("A {} b\n", "4:3", "empty variant"),
        ("A } b\n", "4:3", "unexpected '}' (write \\} for a literal brace)"),
        ("A | b\n", "4:3", "unexpected '|' outside a variant (write \\| for a literal bar)"),
    ],
)
def test_variant_errors(errors, body, position, message):
    (error,) = errors(body)
    assert error.startswith(f"{P}:{position}: {message}")


def test_blank_line_inside_a_variant_reports_both_halves(errors):
    assert [e.split(": ", 1)[0] for e in errors("A {en-GB: x\n\nen-US: y} b\n")] == [
        f"{P}:4:3",
        f"{P}:6:9",
    ]


def test_variant_locales_follow_the_script_locales(parse, errors):
    (para,) = paragraphs(parse("{en-AU: mate}\n", front="locales: [en-GB, en-AU]\n"))
    assert para.items[0].branches[0][0] == "en-AU"
    (error,) = errors("{en-US: pal}\n", front="locales: [en-GB, en-AU]\n")
    assert error == (f"{P}:5:2: locale en-US is not one of this script's locales (en-GB, en-AU)")


# --------------------------------------------------------------------------- 6. say


def test_say_substitution_prints_one_thing_and_speaks_another(parse):
    (para,) = paragraphs(parse("Try [CFT](say: compassion  focused\ntherapy) today.\n"))
    assert para.items == (
        Text("Try "),
        Say("CFT", "compassion focused therapy"),
        Text(" today."),
    )


def test_say_marker_is_case_insensitive_and_keeps_escapes(parse):
    (para,) = paragraphs(parse("[A\\*B](Say:a star b)\n"))
    assert para.items == (Say("A*B", "a star b"),)


@pytest.mark.parametrize(
    ("body", "position", "message"),
    [
        (
            "See [site](https://example.org).\n",
            "4:5",
            "unsupported link target (https://example.org): only (say: …) is allowed",
        ),
        ("See [x](say: ).\n", "4:5", "say-substitution has no spoken text after 'say:'"),
        ("See [ ](say: y).\n", "4:5", "say-substitution has no printed text in [ ]"),
        ("See [x](say: a {b}).\n", "4:16", "'{' is not allowed in a say-substitution"),
        ("See [x](say: y\n", "4:8", "unclosed '(' after [x]"),
    ],
)
def test_say_errors(errors, body, position, message):
    (error,) = errors(body)
    assert error.startswith(f"{P}:{position}: {message}")


# --------------------------------------------------------------------------- 7. emphasis


@pytest.mark.parametrize(
    ("source", "marker"), [("*softly*", "*"), ("_softly_", "_"), ("**softly**", "**")]
)
def test_emphasis_markers(parse, source, marker):
    (para,) = paragraphs(parse(f"Speak {source} now.\n"))
    assert para.items[1] == Emphasis(marker, (Text("softly"),))


def test_nested_emphasis(parse):
    (para,) = paragraphs(parse("**very *deeply* calm** and ***both***\n"))
    assert para.items[0] == Emphasis(
        "**", (Text("very "), Emphasis("*", (Text("deeply"),)), Text(" calm"))
    )
    assert para.items[2] == Emphasis("*", (Emphasis("**", (Text("both"),)),))


@pytest.mark.parametrize(
    ("source", "items"),
    [
        ("a *lonely star", (Text("a *lonely star"),)),  # no partner
        ("2 * 3 * 4", (Text("2 * 3 * 4"),)),  # surrounded by spaces
        ("snake_case_name", (Text("snake_case_name"),)),  # underscores inside words
        ("**not closed*", (Text("*"), Emphasis("*", (Text("not closed"),)))),
        ("*mixed_", (Text("*mixed_"),)),  # partner of another kind
    ],
)
def test_marker_without_a_partner_is_literal(parse, source, items):
    (para,) = paragraphs(parse(source + "\n"))
    assert para.items == items


def test_emphasis_partner_must_be_in_the_same_paragraph(parse):
    script = parse("It is *here\n\nand* there.\n")
    assert [p.items for p in paragraphs(script)] == [
        (Text("It is *here"),),
        (Text("and* there."),),
    ]


def test_emphasis_may_span_lines_of_one_paragraph(parse):
    (para,) = paragraphs(parse("a *slow\nbreath* in\n"))
    assert para.items[1] == Emphasis("*", (Text("slow breath"),))


# --------------------------------------------------------------------------- 8. escapes


@pytest.mark.parametrize("char", list("[]{}|*_<\\"))
def test_escaped_characters_are_literal(parse, char):
    (para,) = paragraphs(parse(f"a \\{char} b\n"))
    assert para.items == (Text(f"a {char} b"),)


def test_backslash_before_other_characters_is_kept(parse):
    (para,) = paragraphs(parse("C:\\path \\n\n"))
    assert para.items == (Text("C:\\path \\n"),)


def test_escaped_brackets_do_not_make_a_tag(parse):
    (para,) = paragraphs(parse("\\[pasue 3s\\]\n"))
    assert para.items == (Text("[pasue 3s]"),)


# --------------------------------------------------------------------------- 9. nothing else


@pytest.mark.parametrize(
    ("body", "position", "message"),
    [
        ("Text.\n- a list item\n", "5:1", "unsupported Markdown: list"),
        ("Text.\n  * a list item\n", "5:3", "unsupported Markdown: list"),
        ("+ item\n", "4:1", "unsupported Markdown: list"),
        ("1. first\n", "4:1", "unsupported Markdown: numbered list"),
        ("2) second\n", "4:1", "unsupported Markdown: numbered list"),
        ("> quoted\n", "4:1", "unsupported Markdown: block quote"),
        ("| a | b |\n", "4:1", "unsupported Markdown: table"),
        ("Use `code` here.\n", "4:5", "unsupported Markdown: code"),
        ("```\n", "4:1", "unsupported Markdown: code block"),
        ("See ![a cat](cat.png).\n", "4:5", "unsupported Markdown: image"),
        ("A <span>word</span>.\n", "4:3", "unsupported Markdown: HTML <span>"),
        ("A <br> b\n", "4:3", "unsupported Markdown: HTML <br>"),
        ("A </break> b\n", "4:3", "unsupported Markdown: HTML </break>"),
        ("Fish &amp; chips\n", "4:6", "unsupported Markdown: HTML entity &amp;"),
        ("Text.\n\n---\n", "6:1", "unsupported Markdown: horizontal rule"),
        ("Title\n=====\n", "5:1", "unsupported Markdown: heading underline"),
        ("Not ~~this~~ one.\n", "4:5", "unsupported Markdown: strikethrough"),
    ],
)
def test_unsupported_markdown_is_an_error(errors, body, position, message):
    (error,) = errors(body)
    assert error.startswith(f"{P}:{position}: {message}")


def test_characters_that_only_look_like_markup_are_text(parse):
    (para,) = paragraphs(parse("3 < 4, a - b, 1 + 1 = 2, 50% & more!\n"))
    assert para.items == (Text("3 < 4, a - b, 1 + 1 = 2, 50% & more!"),)


def test_every_error_of_a_file_is_reported_in_order(errors):
    found = errors("[pasue]\n\n- item\n\nA {en-GB: x\n\n# H [pause]\n")
    assert [e.split(": ", 1)[0] for e in found] == [
        f"{P}:4:1",
        f"{P}:6:1",
        f"{P}:8:3",
        f"{P}:10:5",
    ]


# --------------------------------------------------------------------------- control characters


@pytest.mark.parametrize(
    "char", ["\x00", "\x01", "\x07", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\x9f"]
)
def test_a_control_character_is_an_error_at_its_position(errors, char):
    assert errors(f"Breathe in.\nSlowly{char} now.\n") == [
        f"{P}:5:7: control character U+{ord(char):04X} is not allowed (delete it; only tabs "
        "and line breaks may be used)"
    ]


def test_control_characters_in_the_front_matter_are_errors_too(errors):
    assert errors("Hello.\n", front="author: A\x00B\n") == [
        f"{P}:3:10: control character U+0000 is not allowed (delete it; only tabs "
        "and line breaks may be used)"
    ]


def test_tabs_and_line_breaks_are_not_control_errors(parse):
    (para,) = paragraphs(parse("Breathe\tin.\r\nSlowly.\rNow.\n"))
    assert texts(para) == "Breathe in. Slowly. Now."


def test_emphasis_nested_deeper_than_the_limit_is_an_error(errors, parse):
    def nested(depth: int) -> str:
        return "*x " * depth + "y" + " x*" * depth + "\n"

    assert parse(nested(20)).sections  # twenty levels are fine
    # Reported once, at the marker that opens the 21st level counted from the inside.
    assert errors(nested(21)) == [f"{P}:4:1: emphasis is nested more than 20 deep"]
    assert errors(nested(2000)) == [
        f"{P}:4:{(2000 - 21) * 3 + 1}: emphasis is nested more than 20 deep"
    ]
