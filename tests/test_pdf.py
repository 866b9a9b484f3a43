"""The audio script PDF: content, order, typography and page layout, read back with pypdf.

Plans are built by hand here (``make_plan``) following the timing model of SCRIPT_FORMAT.md,
so each test can aim at one layout rule; the tests at the end run the real parse and plan stages
over the scripts in ``scripts_src/`` when those stages are present.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pypdf
import pytest

try:
    import pypdfium2 as pdfium
except ImportError:  # only the rendering to PNG needs it
    pdfium = None

from pipeline.check import find_scripts
from pipeline.estimate import estimate_times
from pipeline.model import (
    Emphasis,
    FrontMatter,
    Inline,
    LocalePlan,
    Paragraph,
    Say,
    Script,
    Section,
    SectionInfo,
    Sentence,
    Silence,
    SpeechSegment,
    Text,
    TrackTimes,
    Variant,
)
from pipeline.pdf import (
    A4,
    LETTER,
    Block,
    Line,
    format_clock,
    format_pause,
    page_size,
    paginate,
    pause_cue,
    render_pdf,
    write_pdf,
)

ROOT = Path(__file__).resolve().parent.parent
ARTEFACTS = ROOT / "tests" / "artefacts"

# --------------------------------------------------------------------------- building plans

Part = str | Inline | float  # text, an inline, or an explicit pause in seconds
SectionSpec = tuple[str | None, Sequence[Sequence[Part]]]


def _printed(inlines: Sequence[Inline], locale: str) -> str:
    out = []
    for inline in inlines:
        if isinstance(inline, Text):
            out.append(inline.text)
        elif isinstance(inline, Say):
            out.append(inline.printed)
        elif isinstance(inline, Emphasis):
            out.append(_printed(inline.children, locale))
        elif isinstance(inline, Variant):
            out.append(_printed(inline.for_locale(locale), locale))
    return "".join(out)


def _spoken(inlines: Sequence[Inline], locale: str, lexicon: dict[str, str]) -> str:
    out = []
    for inline in inlines:
        if isinstance(inline, Text):
            text = inline.text
            for word, spoken in lexicon.items():
                text = re.sub(rf"\b{re.escape(word)}\b", spoken, text)
            out.append(text)
        elif isinstance(inline, Say):
            out.append(inline.spoken)
        elif isinstance(inline, Emphasis):
            out.append(_spoken(inline.children, locale, lexicon))
        elif isinstance(inline, Variant):
            out.append(_spoken(inline.for_locale(locale), locale, lexicon))
    return "".join(out)


def _resolve(inlines: Sequence[Inline], locale: str) -> tuple[Inline, ...]:
    out: list[Inline] = []
    for inline in inlines:
        if isinstance(inline, Variant):
            out.extend(_resolve(inline.for_locale(locale), locale))
        elif isinstance(inline, Emphasis):
            out.append(Emphasis(inline.marker, _resolve(inline.children, locale)))
        else:
            out.append(inline)
    return tuple(out)


def make_plan(
    sections: Sequence[SectionSpec],
    *,
    locale: str = "en-GB",
    lexicon: dict[str, str] | None = None,
    **meta_fields: object,
) -> LocalePlan:
    """A LocalePlan as the plan stage would make it: segments split at pauses, IDs numbered per
    section, explicit pauses replacing the implicit paragraph/section silence between segments."""
    meta = FrontMatter(**{"title": "Test Exercise", **meta_fields})  # type: ignore[arg-type]
    lexicon = lexicon or {}
    timeline = _Timeline(meta)
    infos: list[SectionInfo] = []
    script_sections: list[Section] = []
    paragraph_index, line = 0, 1
    first_number = 0 if sections and sections[0][0] is None else 1
    for offset, (heading, paragraphs) in enumerate(sections):
        number = first_number + offset
        heading_inlines = (Text(heading),) if heading is not None else None
        infos.append(SectionInfo(number, heading or meta.title, heading_inlines, line))
        timeline.owe("section")
        ids = (f"S{number}-{n:02d}" for n in range(1, 100))
        if heading_inlines and meta.speak_headings:
            timeline.speak(_segment(next(ids), number, -1, line, heading_inlines, locale, lexicon))
        script_paragraphs = []
        for parts in paragraphs:
            line += 2
            timeline.owe("paragraph")
            current: list[Inline] = []
            for part in [*parts, None]:  # None closes the paragraph's last segment
                if isinstance(part, str | Text | Emphasis | Say | Variant):
                    current.append(Text(part) if isinstance(part, str) else part)
                    continue
                inlines = _resolve(current, locale)
                if _printed(inlines, locale).strip():  # empty in this locale: skipped
                    segment = _segment(
                        next(ids), number, paragraph_index, line, inlines, locale, lexicon
                    )
                    timeline.speak(segment)
                current = []
                if part is not None:
                    timeline.pause(Silence("pause", float(part), line, number, paragraph_index))
            script_paragraphs.append(Paragraph(line, ()))
            paragraph_index += 1
        level = 1 if heading is not None else 0
        script_sections.append(
            Section(number, heading_inlines, level, infos[-1].line, tuple(script_paragraphs))
        )
        line += 2
    timeline.items.append(Silence("tail", meta.tail))
    script = Script("scripts_src/test.md", "test", meta, tuple(script_sections))
    return LocalePlan(script, locale, tuple(infos), tuple(timeline.items))


class _Timeline:
    """The timing model: between two segments, the explicit pauses if there are any, else the
    section pause if a section starts between them, else the paragraph pause."""

    def __init__(self, meta: FrontMatter):
        self.meta = meta
        self.items: list[SpeechSegment | Silence] = [Silence("lead_in", meta.lead_in)]
        self.spoken = False
        self.explicit = False
        self.owed: str | None = None

    def owe(self, source: str) -> None:
        if self.owed != "section":
            self.owed = source

    def pause(self, silence: Silence) -> None:
        self.items.append(silence)
        self.explicit = True

    def speak(self, segment: SpeechSegment) -> None:
        if self.spoken and not self.explicit and self.owed:
            seconds = getattr(self.meta, f"{self.owed}_pause")
            self.items.append(Silence(self.owed, seconds))  # type: ignore[arg-type]
        self.items.append(segment)
        self.spoken, self.explicit, self.owed = True, False, None


def _segment(
    segment_id: str,
    section: int,
    paragraph: int,
    line: int,
    inlines: tuple[Inline, ...],
    locale: str,
    lexicon: dict[str, str],
) -> SpeechSegment:
    printed = " ".join(_printed(inlines, locale).split())
    spoken = " ".join(_spoken(inlines, locale, lexicon).split())
    return SpeechSegment(
        id=segment_id,
        section=section,
        paragraph=paragraph,
        line=line,
        col=1,
        inlines=inlines,
        printed=printed,
        spoken=spoken,
        sentences=(Sentence(printed, spoken),),
    )


# --------------------------------------------------------------------------- reading PDFs


def read(path: Path) -> pypdf.PdfReader:
    return pypdf.PdfReader(path)


def page_texts(path: Path) -> list[str]:
    return [page.extract_text() for page in read(path).pages]


def all_text(path: Path) -> str:
    return " ".join(" ".join(page_texts(path)).split())


def font_names(path: Path) -> set[str]:
    names = set()
    for page in read(path).pages:
        fonts = page["/Resources"]["/Font"]
        for ref in fonts.values():
            names.add(str(ref.get_object()["/BaseFont"]).split("+")[-1])
    return names


def render_png(pdf_path: Path, name: str) -> Path:
    """The first page as a PNG under tests/artefacts/, for a person to look at."""
    if pdfium is None:
        pytest.skip("pypdfium2 is not installed")
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    document = pdfium.PdfDocument(str(pdf_path))
    try:
        image = document[0].render(scale=2).to_pil()
    finally:
        document.close()
    out = ARTEFACTS / f"{name}.png"
    image.save(out)
    return out


# --------------------------------------------------------------------------- a sample exercise

SAMPLE: list[SectionSpec] = [
    (
        None,
        [
            ["Welcome.", 2.0, "This exercise takes about fifteen minutes."],
            [
                "Find somewhere quiet, with ",
                Variant(
                    (
                        ("en-GB", (Text("a pen and some paper"),)),
                        ("en-US", (Text("a pen and a notepad"),)),
                    ),
                    1,
                    1,
                ),
                ". ",
                5.0,
            ],
        ],
    ),
    (
        "Noticing",
        [
            [
                "Bring to mind something you have been ",
                Emphasis("*", (Text("struggling"),)),
                " with lately, and notice the ",
                Variant((("en-GB", (Text("colour"),)), ("en-US", (Text("color"),))), 1, 1),
                " of the feeling.",
                30.0,
                "Notice how it shows up in your body.",
                10.0,
            ],
            [
                "You don’t need to change anything — just notice, with ",
                Emphasis("**", (Text("kindness"),)),
                ". ‘Hello,’ you might say, “I see you.”",
            ],
        ],
    ),
    (
        "Writing",
        [
            [
                "Begin your letter with ",
                Say("CFT", "compassion focused therapy"),
                " in mind, as Gilbert suggests.",
                90.0,
                30.0,
            ],
            ["When you are ready, put the pen down.", 60.0, "Thank you."],
        ],
    ),
]

SAMPLE_META = {
    "title": "Compassionate Letter Writing",
    "collection": "Developing Self-Compassion",
    "track": 7,
    "author": "Jo Example",
    "description": "A gentle exercise in writing to yourself as a good friend would, "
    "noticing difficult feelings with warmth rather than judgement.",
}


def sample_plan(locale: str = "en-GB", **meta: object) -> LocalePlan:
    return make_plan(
        SAMPLE, locale=locale, lexicon={"Gilbert": "Gil-bert"}, **{**SAMPLE_META, **meta}
    )


def write_sample(tmp_path: Path, locale: str = "en-GB", **options: bool) -> Path:
    plan = sample_plan(locale)
    out = tmp_path / f"sample.{locale}.pdf"
    write_pdf(plan, estimate_times(plan), out, **options)
    return out


def placed_text(path: Path) -> list[tuple[int, str, float, float, str, float]]:
    """Every text run drawn: (page, text, x, y, font name, size), in drawing order."""
    runs: list[tuple[int, str, float, float, str, float]] = []
    for number, page in enumerate(read(path).pages, start=1):

        def visit(text, cm, tm, font, size, number=number):  # noqa: ANN001
            if text.strip():
                name = str(font["/BaseFont"]).split("+")[-1] if font else ""
                runs.append((number, text.strip(), tm[4], tm[5], name, size))

        page.extract_text(visitor_text=visit)
    return runs


def run_with(runs: list[tuple[int, str, float, float, str, float]], text: str):  # noqa: ANN201
    """The first run that is ``text``, else the first that contains it."""
    matches = [run for run in runs if run[1] == text] or [run for run in runs if text in run[1]]
    assert matches, f"{text!r} not drawn"
    return matches[0]


# --------------------------------------------------------------------------- content


def test_sections_and_paragraphs_in_track_order(tmp_path: Path) -> None:
    text = all_text(write_sample(tmp_path))
    expected = [
        "Compassionate Letter Writing",
        "Welcome.",
        "Find somewhere quiet",
        "Noticing",
        "Bring to mind",
        "Notice how it shows up",
        "You don’t need",
        "Writing",
        "Begin your letter",
        "When you are ready",
        "Thank you.",
    ]
    position = 0
    for phrase in expected:  # each phrase found after the one before it
        found = text.find(phrase, position)
        assert found >= 0, f"{phrase!r} missing or out of order"
        position = found + len(phrase)


def test_title_block_shows_collection_track_description_and_duration(tmp_path: Path) -> None:
    plan = sample_plan()
    out = tmp_path / "t.pdf"
    write_pdf(plan, estimate_times(plan), out)
    text = all_text(out)
    assert "Developing Self-Compassion · Track 7" in text
    assert "noticing difficult feelings with warmth" in text
    assert f"Duration approx. {format_clock(round(estimate_times(plan).duration))}" in text


def test_section_headings_carry_their_start_time(tmp_path: Path) -> None:
    plan = sample_plan()
    times = TrackTimes(
        duration=312.4,
        section_starts=((0, 1.0), (1, 75.9), (2, 3725.2)),
        segment_starts=(),
        approximate=False,
    )
    out = tmp_path / "t.pdf"
    write_pdf(plan, times, out)
    runs = placed_text(out)
    noticing, writing = run_with(runs, "Noticing"), run_with(runs, "Writing")
    assert run_with(runs, "1:15")[3] == pytest.approx(noticing[3])  # same baseline as heading
    assert run_with(runs, "1:02:05")[3] == pytest.approx(writing[3])
    text = all_text(out)
    assert "Duration 5:12" in text and "approx." not in text


def test_variants_follow_the_locale(tmp_path: Path) -> None:
    british = all_text(write_sample(tmp_path, "en-GB"))
    american = all_text(write_sample(tmp_path, "en-US"))
    assert "colour of the feeling" in british and "color" not in british
    assert "color of the feeling" in american and "colour" not in american
    assert "a pen and some paper" in british and "notepad" not in british
    assert "a pen and a notepad" in american and "some paper" not in american
    assert "British English" in british and "American English" in american


def test_pause_cues_in_the_flow_of_the_text(tmp_path: Path) -> None:
    text = all_text(write_sample(tmp_path))
    cues = re.findall(r"pause · ([\d.]+ (?:min(?: [\d.]+ s)?|s))", text)
    # 90 s + 30 s written back to back read as one two-minute rest
    assert cues == ["2 s", "5 s", "30 s", "10 s", "2 min", "1 min"]
    assert text.index("Welcome. pause · 2 s This exercise") >= 0
    assert text.index("your body. pause · 10 s") < text.index("You don’t need")


def test_implicit_silences_are_not_cues(tmp_path: Path) -> None:
    plan = make_plan(
        [(None, [["One."], ["Two."]]), ("Next", [["Three."]])],
        paragraph_pause=1.3,
        section_pause=2.7,
        lead_in=1.1,
        tail=3.3,
    )
    assert {i.source for i in plan.items if isinstance(i, Silence)} == {
        "lead_in",
        "paragraph",
        "section",
        "tail",
    }
    out = tmp_path / "t.pdf"
    write_pdf(plan, estimate_times(plan), out)
    text = all_text(out)
    assert "pause" not in text
    for length in ("1.3", "2.7", "1.1", "3.3"):
        assert length not in text


def test_a_zero_pause_prints_no_cue_and_a_pause_of_its_own_prints_on_its_own_line(
    tmp_path: Path,
) -> None:
    plan = make_plan([(None, [["Breathe in.", 0.0, "Breathe out."], [4.0], ["Rest."]])])
    out = tmp_path / "t.pdf"
    write_pdf(plan, estimate_times(plan), out)
    runs = placed_text(out)
    assert "pause · 0 s" not in all_text(out)
    breathe, cue, rest = (run_with(runs, t) for t in ("Breathe in.", "pause · 4 s", "Rest."))
    assert breathe[3] > cue[3] > rest[3]  # three lines, top to bottom
    assert cue[2] == pytest.approx(breathe[2])  # the cue starts at the text's left edge


@pytest.mark.parametrize(
    ("seconds", "printed"),
    [
        (5, "5 s"),
        (0.5, "0.5 s"),
        (1.5, "1.5 s"),
        (0.75, "0.75 s"),
        (59, "59 s"),
        (60, "1 min"),
        (90, "1 min 30 s"),
        (89.999, "1 min 30 s"),
        (240, "4 min"),
        (600, "10 min"),
    ],
)
def test_format_pause(seconds: float, printed: str) -> None:
    assert format_pause(seconds) == printed
    assert pause_cue(seconds) == f"pause · {printed}"


@pytest.mark.parametrize(
    ("seconds", "clock"),
    [
        (0, "0:00"),
        (0.4, "0:00"),
        (59.99, "0:59"),
        (61, "1:01"),
        (605.5, "10:05"),
        (3661, "1:01:01"),
    ],
)
def test_format_clock(seconds: float, clock: str) -> None:
    assert format_clock(seconds) == clock


def test_segment_ids_sit_in_the_margin_beside_the_line_where_each_segment_starts(
    tmp_path: Path,
) -> None:
    runs = placed_text(write_sample(tmp_path))
    left = min(run[2] for run in runs if run[4].startswith("SourceSerifPro"))
    ids = {run[1]: run for run in runs if re.fullmatch(r"(S\d-\d\d\s*)+", run[1])}
    found = sorted(i for label in ids for i in label.split())
    plan = sample_plan()
    assert found == sorted(s.id for s in plan.speech)
    for label, run in ids.items():
        assert run[2] + 10 < left, f"{label} is not in the margin"
        assert run[4] == "SourceSansPro" and run[5] < 9
    # each ID on the baseline of the line where its segment's first words are
    starts = {
        "S0-01": "Welcome.",
        "S1-01": "Bring to mind",
        "S1-02": "Notice how it shows up",
        "S2-02": "When you are ready",
        "S2-03": "Thank you.",
    }
    for segment_id, words in starts.items():
        label = next(label for label in ids if segment_id in label.split())
        assert ids[label][3] == pytest.approx(run_with(runs, words)[3]), segment_id
    # S1-02 starts on the second line of its paragraph, not the first
    assert run_with(runs, "Bring to mind")[3] > ids["S1-02"][3]


def test_segment_ids_can_be_left_out(tmp_path: Path) -> None:
    text = all_text(write_sample(tmp_path, segment_ids=False))
    assert re.search(r"S\d-\d\d", text) is None
    assert "Welcome." in text


def test_emphasis_prints_in_italic_and_bold_faces(tmp_path: Path) -> None:
    out = write_sample(tmp_path)
    runs = placed_text(out)
    assert run_with(runs, "struggling")[4] == "SourceSerifProItalic"
    assert run_with(runs, "kindness")[4] == "SourceSerifProBold"
    assert run_with(runs, "Bring to mind")[4] == "SourceSerifPro"
    assert {"SourceSerifPro", "SourceSerifProItalic", "SourceSerifProBold"} <= font_names(out)


def test_nested_emphasis_and_characters_missing_from_a_face(tmp_path: Path) -> None:
    plan = make_plan(
        [
            (
                None,
                [
                    [
                        "Say ",
                        Emphasis("**", (Text("softly, "), Emphasis("_", (Text("very"),)))),
                        " and think of ",
                        Emphasis("*", (Text("ψυχή"),)),
                        " as you go.",
                    ]
                ],
            )
        ]
    )
    out = tmp_path / "t.pdf"
    write_pdf(plan, estimate_times(plan), out)
    runs = placed_text(out)
    assert run_with(runs, "very")[4] == "SourceSerifProBoldItalic"
    # the serif italic has no Greek: the word is set in the sans face rather than dropped
    assert run_with(runs, "ψυχή")[4] == "SourceSansPro"
    assert "think of ψυχή as you go." in all_text(out)


def test_spoken_only_text_is_not_printed(tmp_path: Path) -> None:
    text = all_text(write_sample(tmp_path))
    assert "Begin your letter with CFT in mind, as Gilbert suggests." in text
    assert "compassion focused therapy" not in text
    assert "Gil-bert" not in text
    assert "spoken" not in text


def test_show_spoken_adds_the_spoken_form_where_it_differs(tmp_path: Path) -> None:
    out = write_sample(tmp_path, show_spoken=True)
    runs = placed_text(out)
    text = all_text(out)
    assert text.count("spoken:") == 1  # only S2-01 is spoken differently from its print
    assert "spoken: Begin your letter with compassion focused therapy in mind, as Gil-bert" in text
    note = run_with(runs, "spoken:")
    assert note[4] == "SourceSansProSemibold" and note[5] < 10
    assert note[3] < run_with(runs, "Begin your letter")[3]
    labels = [run[3] for run in runs if run[1] == "S2-01"]
    assert len(labels) == 2 and note[3] == pytest.approx(labels[1])  # labelled with its ID


def test_spoken_headings_carry_their_segment_id(tmp_path: Path) -> None:
    plan = make_plan(
        [("Arriving", [["Settle in."]]), ("Leaving", [["Goodbye."]])], speak_headings=True
    )
    assert [s.id for s in plan.speech] == ["S1-01", "S1-02", "S2-01", "S2-02"]
    out = tmp_path / "t.pdf"
    write_pdf(plan, estimate_times(plan), out)
    runs = placed_text(out)
    assert run_with(runs, "S1-01")[3] == pytest.approx(run_with(runs, "Arriving")[3])
    assert run_with(runs, "S1-02")[3] == pytest.approx(run_with(runs, "Settle in.")[3])
    assert run_with(runs, "S2-01")[3] == pytest.approx(run_with(runs, "Leaving")[3])
    assert all_text(out).count("Arriving") == 1


def test_curly_quotes_and_dashes_render(tmp_path: Path) -> None:
    text = all_text(write_sample(tmp_path))
    # fpdf2 drops characters a font lacks, so reading them back proves the glyphs were there
    for phrase in ("don’t", "anything — just", "‘Hello,’", "“I see you.”"):
        assert phrase in text


# --------------------------------------------------------------------------- the document


def test_page_size_follows_the_locale(tmp_path: Path) -> None:
    for locale, (width, height) in (("en-GB", (595, 842)), ("en-US", (612, 792))):
        box = read(write_sample(tmp_path, locale)).pages[0].mediabox
        assert (round(float(box.width)), round(float(box.height))) == (width, height)
    assert page_size("en-GB") == A4 and page_size("en-US") == LETTER
    assert page_size("fr-FR") == A4 and page_size("en-AU") == A4 and page_size("es-US") == LETTER


def test_fonts_are_embedded(tmp_path: Path) -> None:
    reader = read(write_sample(tmp_path))
    seen = 0
    for page in reader.pages:
        for ref in page["/Resources"]["/Font"].values():
            font = ref.get_object()
            descendant = font["/DescendantFonts"][0].get_object()
            assert "/FontFile2" in descendant["/FontDescriptor"].get_object()
            assert "/ToUnicode" in font  # text can be searched and copied
            seen += 1
    assert seen >= 4


def test_metadata(tmp_path: Path) -> None:
    reader = read(write_sample(tmp_path))
    info = reader.metadata
    assert info.title == "Compassionate Letter Writing"
    assert info.author == "Jo Example"
    assert info.subject.startswith("A gentle exercise")
    assert reader.trailer["/Root"]["/Lang"] == "en-GB"
    assert [entry.title for entry in reader.outline] == ["Noticing", "Writing"]


def long_plan(paragraphs: int, locale: str = "en-GB") -> LocalePlan:
    words = "Let your attention rest gently on the breath, noticing each movement."
    return make_plan(
        [
            (f"Part {n}", [[f"{words} {words}", 5.0, words] for _ in range(paragraphs)])
            for n in (1, 2, 3)
        ],
        locale=locale,
    )


def test_footer_numbers_every_page(tmp_path: Path) -> None:
    plan = long_plan(12)
    out = tmp_path / "t.pdf"
    write_pdf(plan, estimate_times(plan), out)
    texts = page_texts(out)
    assert len(texts) >= 3
    for number, text in enumerate(texts, start=1):
        assert f"Test Exercise · page {number} of {len(texts)}" in text
    runs = placed_text(out)
    footer = run_with(runs, "page 1 of")
    assert footer[3] < min(run[3] for run in runs if run[0] == 1 and run != footer)


def test_text_stays_inside_the_text_block(tmp_path: Path) -> None:
    plan = long_plan(12, "en-US")
    out = tmp_path / "t.pdf"
    write_pdf(plan, estimate_times(plan), out)
    reader = read(out)
    for page in reader.pages:
        top = float(page.mediabox.height) - 76

        def visit(text, cm, tm, font, size, top=top):  # noqa: ANN001
            if not text.strip():
                return
            if text.startswith("Test Exercise · page"):  # the footer, in the bottom margin
                assert 20 <= tm[5] < 76 - 20
            else:
                assert 40 <= tm[4] < 108 + 400
                assert 76 <= tm[5] <= top

        page.extract_text(visitor_text=visit)


# --------------------------------------------------------------------------- pagination


def lines(count: int, height: float = 5.0) -> list[Line]:
    return [Line(height=height, baseline=height * 0.7) for _ in range(count)]


def page_of(pages, line: Line) -> int:  # noqa: ANN001
    return next(n for n, page in enumerate(pages) for _, placed in page if placed is line)


def test_paginate_keeps_a_heading_with_two_lines_of_its_paragraph() -> None:
    heading = Block(lines(1, 8.0), keep=2, splittable=False)
    paragraph = Block(lines(4))
    # 85 + 8 fits on the page, but not with two more lines (10): the heading moves
    pages = paginate([Block(lines(17)), heading, paragraph], height=100)
    assert page_of(pages, heading.lines[0]) == 1
    assert page_of(pages, paragraph.lines[0]) == 1
    # with room for the heading and two lines it stays, and the paragraph splits 2 / 2
    pages = paginate([Block(lines(16)), heading, paragraph], height=100)
    assert page_of(pages, heading.lines[0]) == 0
    assert [page_of(pages, line) for line in paragraph.lines] == [0, 0, 1, 1]


def test_paginate_leaves_no_single_line_at_a_page_foot_or_top() -> None:
    paragraph = Block(lines(5))
    pages = paginate([Block(lines(16)), paragraph], height=100)  # room for 4 of 5 lines
    assert [page_of(pages, line) for line in paragraph.lines] == [0, 0, 0, 1, 1]
    pages = paginate([Block(lines(19)), paragraph], height=100)  # room for 1 line
    assert [page_of(pages, line) for line in paragraph.lines] == [1] * 5
    short = Block(lines(3))
    pages = paginate([Block(lines(18)), short], height=100)  # 2 of 3 would leave a widow
    assert [page_of(pages, line) for line in short.lines] == [1] * 3


def test_paginate_places_blocks_taller_than_a_page() -> None:
    huge = Block(lines(50), splittable=False)
    pages = paginate([huge], height=100)
    assert [len(page) for page in pages] == [20, 20, 10]
    assert paginate([], height=100) == [[]]


def test_space_before_a_block_is_dropped_at_the_top_of_a_page() -> None:
    second = Block(lines(2), space_before=30.0)
    pages = paginate([Block(lines(20)), second], height=100)
    assert pages[1][0] == (0.0, second.lines[0])


def test_a_heading_never_ends_a_page_in_a_real_document(tmp_path: Path) -> None:
    """Grow the text before a heading one paragraph at a time, so that the heading passes
    through every position near the foot of the page, and check each document."""
    closing = " ".join(["Closing words are long enough to fill three lines of text here."] * 3)
    moved = 0
    for filler in range(18, 25):
        plan = make_plan(
            [(None, [["A short paragraph of filler."]] * filler), ("The heading", [[closing]])]
        )
        out = tmp_path / f"keep{filler}.pdf"
        write_pdf(plan, estimate_times(plan), out, segment_ids=False)
        runs = placed_text(out)
        heading = run_with(runs, "The heading")
        after = [r for r in runs if r[0] == heading[0] and r[3] < heading[3] and "page" not in r[1]]
        assert len({round(r[3]) for r in after}) >= 2, f"heading stranded with {filler} paragraphs"
        first_on_page = max(r[3] for r in runs if r[0] == heading[0] and "page" not in r[1])
        if heading[0] > 1 and first_on_page == heading[3]:
            previous = [r[3] for r in runs if r[0] == heading[0] - 1 and "page" not in r[1]]
            if min(previous) > 76 + 60:  # room was left at the foot: the heading was moved
                moved += 1
    assert moved >= 1, "no layout put the heading near the foot of a page"


# --------------------------------------------------------------------------- the file


def test_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "script.pdf"
    out.write_bytes(b"previous")
    plan = sample_plan()

    def broken_replace(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_pdf(plan, estimate_times(plan), out)
    assert out.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["script.pdf"]
    monkeypatch.undo()

    write_pdf(plan, estimate_times(plan), out)
    assert out.read_bytes().startswith(b"%PDF-")
    assert [p.name for p in tmp_path.iterdir()] == ["script.pdf"]
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask


def test_same_input_same_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    plan = sample_plan()
    assert render_pdf(plan, estimate_times(plan)) == render_pdf(plan, estimate_times(plan))


def test_a_fifteen_minute_script_renders_well_under_a_second() -> None:
    sentence = "Let your attention rest gently on the breath, noticing each movement as it comes."
    plan = make_plan(
        [
            (f"Section {n}", [[sentence, sentence, 8.0, sentence, sentence] for _ in range(5)])
            for n in range(1, 7)
        ]
    )
    times = estimate_times(plan)
    assert 13 * 60 < times.duration < 17 * 60
    render_pdf(plan, times)  # the first call reads the fonts' character maps once per process
    # CPU time of this process, so that other work on a shared machine does not count
    start = time.process_time()
    render_pdf(plan, times)
    spent = time.process_time() - start
    assert spent < 0.6, f"{spent:.2f} s"


# --------------------------------------------------------------------------- for a person


def test_first_pages_render_for_inspection(tmp_path: Path) -> None:
    """Render each sample's first page to tests/artefacts/ and check what a reader would see:
    ink in the text block, margin notes left of it, nothing in the outer margins."""
    from PIL import Image

    for locale in ("en-GB", "en-US"):
        out = write_sample(tmp_path, locale)
        png = render_png(out, f"audio-script.{locale}")
        width_pt, _ = page_size(locale)
        with Image.open(png) as image:
            grey = image.convert("L")
            scale = grey.width / width_pt

            pixels = np.asarray(grey)

            def ink(box: tuple[int, int, int, int], pixels: np.ndarray = pixels) -> int:
                left, top, right, bottom = box
                return int((pixels[top:bottom, left:right] < 160).sum())

            body = ink((int(108 * scale), int(150 * scale), int(508 * scale), int(450 * scale)))
            margin = ink((int(40 * scale), int(230 * scale), int(100 * scale), int(450 * scale)))
            outside = ink((0, 0, int(40 * scale), grey.height))
            assert body > 5000 and margin > 50 and outside == 0


# --------------------------------------------------------------------------- real scripts

REAL_SCRIPT = """\
---
title: Compassionate Letter Writing
collection: Developing Self-Compassion
track: 7
author: Sam Writer
description: Writing to yourself as a kind friend would.
pause: 3s
---

<!-- Producer note: keep the opening slow. -->
Welcome. [pause] This exercise takes about fifteen minutes.

Find somewhere quiet, with {en-GB: a pen and some paper | en-US: a pen and a notepad}. [pause 5s]

# Noticing

Bring to mind something you have been *struggling* with lately,
and notice the {en-GB: colour | en-US: color} of it. [pause 30s]
Notice how it shows up in your body. [pause:10s] <break strength="weak"/>

# Writing <!-- the heading stays short -->

Begin your letter with [CFT](say: compassion focused therapy) in mind, as Gilbert
suggests, and write **slowly**. [pause 1m30s]
"""


@pytest.fixture
def real_project(tmp_path: Path) -> Path:
    scripts = tmp_path / "scripts_src"
    scripts.mkdir()
    (scripts / "letter.md").write_text(REAL_SCRIPT, encoding="utf-8")
    (scripts / "lexicon.toml").write_text('[all]\nGilbert = "Gil-bert"\n', encoding="utf-8")
    return tmp_path


def real_plan(project: Path, locale: str) -> LocalePlan:
    parse = pytest.importorskip("pipeline.parse")
    plan = pytest.importorskip("pipeline.plan")
    script = parse.load_script(project / "scripts_src" / "letter.md", project)
    return plan.plan_locale(script, locale)


@pytest.mark.parametrize("locale", ["en-GB", "en-US"])
def test_a_parsed_script(real_project: Path, tmp_path: Path, locale: str) -> None:
    plan = real_plan(real_project, locale)
    out = tmp_path / f"letter.{locale}.pdf"
    write_pdf(plan, estimate_times(plan), out)
    runs = placed_text(out)
    text = re.sub(r"\bS\d+-\d\d ", "", all_text(out))  # margin IDs interleave with lines
    assert "Developing Self-Compassion · Track 7" in text
    assert [entry.title for entry in read(out).outline] == ["Noticing", "Writing"]
    # comments are neither spoken nor printed
    assert "Producer" not in text and "stays short" not in text
    # the locale's variants only
    own, other = ("colour", "color") if locale == "en-GB" else ("color", "colour")
    assert f"notice the {own} of it" in text and f"the {other} of" not in text
    # pause tags of every form, the bare one at the script's default
    assert "Welcome. pause · 3 s This exercise" in text
    assert "some paper. pause · 5 s" in text or "a notepad. pause · 5 s" in text
    assert "your body. pause · 10.5 s" in text  # [pause:10s] and a weak break, as one rest
    assert "pause · 1 min 30 s" in text
    assert "[pause" not in text and "break" not in text
    # printed side of a say-substitution; no spoken-only text
    assert "Begin your letter with CFT in mind, as Gilbert suggests, and write slowly." in text
    assert "compassion focused" not in text and "Gil-bert" not in text
    assert run_with(runs, "struggling")[4] == "SourceSerifProItalic"
    assert run_with(runs, "slowly")[4] == "SourceSerifProBold"
    drawn_ids = sorted(
        i for run in runs if re.fullmatch(r"(S\d-\d\d\s*)+", run[1]) for i in run[1].split()
    )
    assert drawn_ids == sorted(s.id for s in plan.speech)


def test_a_parsed_script_as_a_recording_sheet(real_project: Path, tmp_path: Path) -> None:
    plan = real_plan(real_project, "en-GB")
    out = tmp_path / "sheet.pdf"
    write_pdf(plan, estimate_times(plan), out, show_spoken=True)
    text = all_text(out)
    assert text.count("spoken:") == 1
    assert "spoken: Begin your letter with compassion focused therapy in mind, as Gil-bert" in text
    if pdfium is not None:
        render_png(out, "recording-sheet.en-GB")


SCRIPTS = find_scripts([ROOT / "scripts_src"])


@pytest.mark.parametrize("script_path", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_every_project_script(script_path: Path, tmp_path: Path) -> None:
    parse = pytest.importorskip("pipeline.parse")
    planner = pytest.importorskip("pipeline.plan")
    script = parse.load_script(script_path, ROOT)
    source = script_path.read_text(encoding="utf-8")
    comment_words = {
        word
        for comment in re.findall(r"<!--(.*?)-->", source, flags=re.S)
        for word in re.findall(r"[A-Za-z]{6,}", comment)
    }
    for locale in script.meta.locales:
        plan = planner.plan_locale(script, locale)
        out = tmp_path / f"{script.slug}.{locale}.pdf"
        write_pdf(plan, estimate_times(plan), out)
        text = all_text(out)
        body = " ".join(re.sub(r"<!--.*?-->", " ", source, flags=re.S).split())
        for word in comment_words - set(re.findall(r"[A-Za-z]+", body)):
            assert word not in text, f"comment text {word!r} printed"
        for segment in plan.speech:
            assert segment.id in text
        position = 0
        for info in plan.sections:
            if info.heading is not None:
                position = text.find(info.title, position)
                assert position >= 0, f"heading {info.title!r} missing or out of order"
        if pdfium is not None:
            render_png(out, f"{script.slug}.{locale}")


def test_text_is_measured_as_fpdf2_measures_it_in_every_face() -> None:
    from pipeline.pdf import FONT_FILES, Document, Font, Geometry

    pdf = Document(Geometry.for_locale("en-GB"))
    samples = ["Breathe", "in slowly,", "“kindness”", "naïve café", "…", "–", "S2-03", " "]
    for family, style in FONT_FILES:
        for size in (9.0, 11.5, 20.0):
            pdf.use(Font(family, style, size))
            for text in samples:
                assert pdf.text_width(text) == pytest.approx(pdf.get_string_width(text), rel=1e-9)
