"""Front matter: every key's type, default and validation, and the errors' positions."""

from __future__ import annotations

import pytest

from pipeline.errors import ScriptError
from pipeline.model import FrontMatter
from pipeline.parse import parse_script

P = "scripts_src/example.md"


def meta(*lines: str) -> FrontMatter:
    text = "---\n" + "".join(line + "\n" for line in lines) + "---\nHello.\n"
    return parse_script(text, P).meta


def errors(*lines: str, body: str = "Hello.\n") -> list[str]:
    text = "---\n" + "".join(line + "\n" for line in lines) + "---\n" + body
    with pytest.raises(ScriptError) as caught:
        parse_script(text, P)
    return [str(e) for e in caught.value.errors]


# --------------------------------------------------------------------------- defaults


@pytest.mark.parametrize(
    ("key", "default"),
    [
        ("collection", None),
        ("track", None),
        ("author", None),
        ("description", None),
        ("locales", ("en-GB", "en-US")),
        ("voice", "narrator"),
        ("pause", 2.0),
        ("sentence_pause", 0.6),
        ("paragraph_pause", 1.2),
        ("section_pause", 2.5),
        ("lead_in", 1.0),
        ("tail", 3.0),
        ("rate", 1.0),
        ("speak_headings", False),
        ("loudness", -16.0),
        ("cover", None),
    ],
)
def test_default_of_every_key(key, default):
    assert getattr(meta("title: Only a title"), key) == default


def test_title_is_required():
    assert errors("track: 2") == [f"{P}:1:1: the front matter has no 'title'"]


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("line", "key", "value"),
    [
        ("title: Compassionate Letter Writing", "title", "Compassionate Letter Writing"),
        ("collection: Developing Self-Compassion", "collection", "Developing Self-Compassion"),
        ("author: A. N. Other", "author", "A. N. Other"),
        (
            "description: One paragraph: with a colon.",
            "description",
            "One paragraph: with a colon.",
        ),
        ("track: 7", "track", 7),
        ("locales: [en-GB]", "locales", ("en-GB",)),
        ("locales: [en-us, EN-gb]", "locales", ("en-US", "en-GB")),
        ("locales: en-AU", "locales", ("en-AU",)),
        ("locales: ['en-GB', \"en-US\"]", "locales", ("en-GB", "en-US")),
        ("voice: calm_female-2", "voice", "calm_female-2"),
        ("pause: 3s", "pause", 3.0),
        ("sentence_pause: 750ms", "sentence_pause", 0.75),
        ("paragraph_pause: 1.5", "paragraph_pause", 1.5),
        ("section_pause: 1m30s", "section_pause", 90.0),
        ("lead_in: 0s", "lead_in", 0.0),
        ("tail: 2m", "tail", 120.0),
        ("rate: 0.85", "rate", 0.85),
        ("rate: 2", "rate", 2.0),
        ("speak_headings: true", "speak_headings", True),
        ("speak_headings: No", "speak_headings", False),
        ("loudness: -19", "loudness", -19.0),
        ("loudness: -14.5 LUFS", "loudness", -14.5),
        ("loudness: -30", "loudness", -30.0),
        ("loudness: -10", "loudness", -10.0),
        ("cover: ../art/cover.png", "cover", "../art/cover.png"),
    ],
)
def test_each_key_reads_its_type(line, key, value):
    lines = [line] if key == "title" else ["title: T", line]
    assert getattr(meta(*lines), key) == value


@pytest.mark.parametrize(
    ("line", "title"),
    [
        ('title: "Rest: a practice"  # quoted', "Rest: a practice"),
        ("title: 'It''s time'", "It's time"),
        ('title: "Say \\"yes\\" \\\\ no"', 'Say "yes" \\ no'),
        ('title: "Track #3"', "Track #3"),
        ("title: Track #3", "Track"),
        ("title: Track#3", "Track#3"),
        ("title:   Spaces around   ", "Spaces around"),
    ],
)
def test_quoted_strings_and_comments(line, title):
    assert meta(line).title == title


def test_comment_lines_and_blank_lines_are_ignored():
    assert meta("# a comment", "", "title: T  # trailing", "  # indented comment").title == "T"


def test_byte_order_mark_and_windows_line_endings():
    script = parse_script("\ufeff---\r\ntitle: T\r\n---\r\nHello.\r\n\r\nAgain.\r\n", P)
    assert script.meta.title == "T"
    assert [p.line for s in script.sections for p in s.paragraphs] == [4, 6]


def test_body_line_and_slug():
    script = parse_script("---\ntitle: T\ntrack: 1\n---\n\nHello.\n", "scripts_src/body-scan.md")
    assert (script.body_line, script.slug, script.path) == (
        5,
        "body-scan",
        "scripts_src/body-scan.md",
    )


# --------------------------------------------------------------------------- errors


def test_missing_front_matter():
    with pytest.raises(ScriptError) as caught:
        parse_script("Hello.\n", P)
    (error,) = caught.value.errors
    assert (error.line, error.col) == (1, 1)
    assert error.message.startswith("the script must start with front matter")


def test_unclosed_front_matter():
    with pytest.raises(ScriptError) as caught:
        parse_script("---\ntitle: T\nHello.\n", P)
    assert [str(e) for e in caught.value.errors] == [
        f"{P}:1:1: the front matter is not closed: add a line '---' after it"
    ]


def test_unknown_key_suggests_the_closest():
    assert errors("title: T", "paragraph_puase: 2s") == [
        f"{P}:3:1: unknown key 'paragraph_puase'; did you mean 'paragraph_pause'?"
    ]


def test_unknown_key_without_a_close_match_lists_the_keys():
    (error,) = errors("title: T", "  mood: calm")
    assert error.startswith(f"{P}:3:3: unknown key 'mood' (known keys: title, collection,")


def test_key_names_are_case_sensitive_but_suggested():
    assert errors("Title: T") == [
        f"{P}:1:1: the front matter has no 'title'",
        f"{P}:2:1: unknown key 'Title'; did you mean 'title'?",
    ]


@pytest.mark.parametrize(
    ("line", "col", "message"),
    [
        ("track: 0", 8, "track must be a whole number, 1 or more (not 0)"),
        ("track: 2.5", 8, "track must be a whole number, 1 or more (not 2.5)"),
        ("track: seven", 8, "track must be a whole number, 1 or more (not seven)"),
        ("rate: 0.4", 7, "rate must be from 0.5 to 2.0 (not 0.4)"),
        ("rate: 2.01", 7, "rate must be from 0.5 to 2.0 (not 2.01)"),
        ("rate: fast", 7, "rate must be a number, not fast"),
        ("locales: [en-GB, english_uk]", 18, "'english_uk' is not a locale tag (like en-GB)"),
        ("locales: [en-GB, en-gb]", 18, "locale en-GB is listed twice"),
        ("locales: []", 10, "locales must name at least one locale, like [en-GB, en-US]"),
        ("locales: [en-GB", 10, "unclosed '[': end the list with ']'"),
        (
            "pause: soon",
            8,
            "'soon' is not a duration (write it like 750ms, 3s, 1.5s, 2m, "
            "1m30s, or a number of seconds)",
        ),
        ("lead_in: -1s", 10, "duration '-1s' is negative; durations are 0 or more"),
        ("pause: 10m30s", 8, "pause 10m30s is longer than the 10-minute limit for one pause"),
        ("speak_headings: maybe", 17, "speak_headings must be true or false (not maybe)"),
        ("loudness: loud", 11, "loudness must be a number, not loud"),
        ("loudness: 3", 11, "loudness must be from -30 to -10 LUFS (not 3)"),
        ("loudness: -31", 11, "loudness must be from -30 to -10 LUFS (not -31)"),
        ("loudness: -9.5 LUFS", 11, "loudness must be from -30 to -10 LUFS (not -9.5)"),
        ("loudness: -70", 11, "loudness must be from -30 to -10 LUFS (not -70)"),
        ("cover: /srv/cover.png", 8, "cover must be a path relative to the script's folder"),
        ("cover: cover.gif", 8, "cover must be a JPEG or PNG image (.jpg, .jpeg or .png)"),
        (
            "voice: ../narrator",
            8,
            "voice must be a role name of letters, digits, '-' and '_', like narrator",
        ),
        (
            "author: [a, b]",
            9,
            "'author' takes one value, not a list (quote it to keep the brackets)",
        ),
        ("author:", 8, "'author' has no value"),
        ('author: "unclosed', 9, 'unclosed quote "'),
        ('author: "A" B', 13, "unexpected text after the value"),
    ],
)
def test_invalid_values_are_errors_at_the_value(line, col, message):
    assert errors("title: T", line) == [f"{P}:3:{col}: {message}"]


def test_duplicate_key():
    assert errors("title: T", "track: 1", "track: 2") == [
        f"{P}:4:1: 'track' is given twice (first on line 3)"
    ]


def test_line_that_is_not_a_key_value_pair():
    assert errors("title: T", "  - just a line") == [f"{P}:3:3: expected 'key: value'"]


def test_front_matter_and_body_errors_are_reported_together():
    found = errors("title: T", "rate: 9", body="Rest [pasue].\n")
    assert [e.split(": ", 1)[0] for e in found] == [f"{P}:3:7", f"{P}:5:6"]


def test_invalid_locales_do_not_cause_variant_errors():
    # Locales we could not read cannot be checked against, so only the real error shows.
    assert errors("title: T", "locales: [en_GB]", body="{en-AU: mate}\n") == [
        f"{P}:3:11: 'en_GB' is not a locale tag (like en-GB)"
    ]
