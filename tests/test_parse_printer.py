"""print_script: a Script back to source that parses to the same Script."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.check import find_scripts
from pipeline.model import (
    Emphasis,
    FrontMatter,
    Paragraph,
    Pause,
    Say,
    Script,
    Section,
    Text,
    Variant,
)
from pipeline.parse import load_script, parse_script
from pipeline.printer import escape, print_inlines, print_script, without_positions

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = find_scripts([ROOT / "scripts_src"])


def test_escape_covers_every_markup_character():
    assert escape("a[b]c{d}e|f*g_h<i\\j") == "a\\[b\\]c\\{d\\}e\\|f\\*g\\_h\\<i\\\\j"


def test_inlines_print_as_source():
    items = (
        Text("Say "),
        Emphasis("**", (Text("hello"),)),
        Text(" to "),
        Say("CFT", "compassion focused therapy"),
        Text(" "),
        Pause(3.0, "[pause 3s]", 1, 1),
        Text(" "),
        Variant((("en-GB", (Text("colour"),)), ("en-US", ())), 1, 1),
    )
    assert print_inlines(items) == (
        "Say **hello** to [CFT](say: compassion focused therapy) [pause 3s] "
        "{en-GB: colour | en-US: }"
    )


def test_a_pause_without_source_prints_its_length():
    assert print_inlines((Pause(90.0, "", 0, 0),)) == "[pause 1m30s]"


def test_front_matter_prints_only_what_differs_from_the_defaults():
    meta = FrontMatter(title='Say "yes"', track=3, rate=0.9, locales=("en-GB",), lead_in=0.5)
    script = Script("x.md", "x", meta, (Section(0, None, 0, 1, (Paragraph(1, (Text("Hi."),)),)),))
    assert print_script(script) == (
        "---\n"
        'title: "Say \\"yes\\""\n'
        "track: 3\n"
        "locales: [en-GB]\n"
        "lead_in: 500ms\n"
        "rate: 0.9\n"
        "---\n"
        "\n"
        "Hi.\n"
    )


def test_without_positions_ignores_only_positions():
    a = parse_script("---\ntitle: T\n---\nA [pause] {en-GB: x}\n", "x.md")
    b = parse_script("---\ntitle: T\n---\n\n\n   A   [pause]\n{en-GB:x}\n", "x.md")
    assert a != b
    assert without_positions(a) == without_positions(b)
    c = parse_script("---\ntitle: T\n---\nA [pause 2s] {en-GB: x}\n", "x.md")
    assert without_positions(a) != without_positions(c)  # the pause is written differently


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_sample_scripts_print_back_to_the_same_model(path):
    script = load_script(path, ROOT)
    again = parse_script(print_script(script), script.path, script.lexicon)
    assert without_positions(again) == without_positions(script)
