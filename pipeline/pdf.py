"""The audio script: a PDF that listeners read along with and therapists record from.

Takes one locale's :class:`~pipeline.model.LocalePlan` and the :class:`~pipeline.model.TrackTimes`
of its track (measured after a render, or estimated before one) and gives one PDF: the title block,
each section as a heading with its start time, the printed text with quiet pause cues in its flow,
and each speech segment's ID in the left margin where that segment starts.

Layout happens in two pure steps before anything is drawn: text is set into lines
(:func:`set_lines`, greedy line breaking over words measured in the embedded fonts), then lines
are gathered into blocks and split into pages (:func:`paginate`), which keeps a heading with the
start of its first paragraph and never leaves a single line of a paragraph alone on a page.
Knowing every page before drawing is what lets the footer say "page 2 of 5" directly.

Fonts are Source Serif Pro (text) and Source Sans Pro (headings, cues, margin notes), shipped
unmodified in ``pipeline/fonts`` under the SIL Open Font License 1.1, so no system font is needed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from functools import cache
from pathlib import Path

from fontTools.ttLib import TTFont
from fpdf import FPDF
from fpdf.prefs import ViewerPreferences

from pipeline.atomic import write_bytes_atomic
from pipeline.model import (
    Bell,
    BellTag,
    Emphasis,
    Inline,
    LocalePlan,
    Pause,
    Say,
    SectionInfo,
    Silence,
    SpeechSegment,
    Text,
    TrackTimes,
    Variant,
)
from pipeline.timefmt import format_clock

FONT_DIR = Path(__file__).parent / "fonts"

#: (family, style) -> font file. Styles follow fpdf2: "" regular, "I", "B", "BI".
FONT_FILES: dict[tuple[str, str], str] = {
    ("serif", ""): "SourceSerifPro-Regular.ttf",
    ("serif", "I"): "SourceSerifPro-It.ttf",
    ("serif", "B"): "SourceSerifPro-Bold.ttf",
    ("serif", "BI"): "SourceSerifPro-BoldIt.ttf",
    ("sans", ""): "SourceSansPro-Regular.ttf",
    ("sans", "B"): "SourceSansPro-Semibold.ttf",
}
#: Where a character missing from a face is looked for (Source Sans covers Greek and Cyrillic).
FALLBACK_FACE = ("sans", "")

#: Page sizes in points (1/72 inch).
A4 = (595.28, 841.89)
LETTER = (612.0, 792.0)

RGB = tuple[int, int, int]
INK: RGB = (33, 33, 33)
SOFT_INK: RGB = (80, 80, 80)
MUTED: RGB = (135, 135, 135)
ACCENT: RGB = (41, 74, 92)
CUE: RGB = (104, 128, 146)
RULE: RGB = (200, 200, 200)

LANGUAGE_NAMES = {"en-GB": "British English", "en-US": "American English"}


# --------------------------------------------------------------------------- public API


def page_size(locale: str) -> tuple[float, float]:
    """US Letter for United States locales, A4 everywhere else."""
    region = locale.replace("_", "-").split("-")[1:2]
    return LETTER if region and region[0].upper() == "US" else A4


def format_duration(seconds: float) -> str:
    """A track's length as ``m:ss`` rounded to the nearest second."""
    return format_clock(seconds, nearest=True)


def format_pause(seconds: float) -> str:
    """A pause length as a reader says it: ``5 s``, ``1.5 s``, ``1 min``, ``1 min 30 s``."""
    centis = round(seconds * 100)
    minutes, rest = divmod(centis, 6000)
    secs = f"{rest / 100:.2f}".rstrip("0").rstrip(".")
    if not minutes:
        return f"{secs} s"
    return f"{minutes} min" if rest == 0 else f"{minutes} min {secs} s"


def pause_cue(seconds: float) -> str:
    return f"pause · {format_pause(seconds)}"


def bell_cue(bell: Bell) -> str:
    """The bell as the text shows it, with the pause it counts as."""
    return f"bell · {format_pause(bell.seconds)}"


def write_pdf(
    plan: LocalePlan,
    times: TrackTimes,
    path: Path,
    *,
    segment_ids: bool = True,
    show_spoken: bool = False,
) -> None:
    """Write the audio script of one locale's track to ``path``, atomically.

    ``segment_ids`` prints each speech segment's ID in the left margin; ``show_spoken`` (for a
    therapist's recording sheet) adds the spoken form of every segment whose spoken text differs
    from its printed text. The file appears complete or not at all: it is written beside
    ``path`` under a temporary name and renamed into place.
    """
    data = render_pdf(plan, times, segment_ids=segment_ids, show_spoken=show_spoken)
    write_bytes_atomic(path, data)


def render_pdf(
    plan: LocalePlan,
    times: TrackTimes,
    *,
    segment_ids: bool = True,
    show_spoken: bool = False,
) -> bytes:
    """The audio script of one locale's track as PDF bytes (see :func:`write_pdf`)."""
    geometry = Geometry.for_locale(plan.locale)
    pdf = _new_document(plan, geometry)
    setter = Typesetter(pdf)
    blocks = document_blocks(plan, times, setter, geometry, show_spoken=show_spoken)
    pages = paginate(blocks, geometry.text_height)
    _draw(pdf, pages, geometry, footer_title=plan.meta.title, segment_ids=segment_ids)
    for page_number, y, title, level in _outline(pages):
        pdf.page, pdf.y = page_number, geometry.top + y
        pdf.start_section(title, level=level, strict=False)
    pdf.page = len(pages)
    return bytes(pdf.output())


# --------------------------------------------------------------------------- geometry and type


@dataclass(frozen=True)
class Geometry:
    """Page size and the text block on it, in points. The text measure stays near 70 characters
    on both paper sizes; the wide left margin holds the segment IDs."""

    width: float
    height: float
    left: float = 108.0
    measure: float = 400.0
    top: float = 76.0
    bottom: float = 76.0

    @classmethod
    def for_locale(cls, locale: str) -> Geometry:
        width, height = page_size(locale)
        return cls(width=width, height=height)

    @property
    def text_height(self) -> float:
        return self.height - self.top - self.bottom


@dataclass(frozen=True)
class Font:
    family: str
    style: str
    size: float


BODY = Font("serif", "", 11.5)
BODY_LEADING = 11.5 * 1.45
PARAGRAPH_GAP = 8.0
CUE_FONT = Font("sans", "", 8.5)
CUE_GAP = 7.0  # extra room either side of a cue, so it reads as a rest, not a word
NOTE_FONT = Font("sans", "", 8.5)
NOTE_LABEL_FONT = Font("sans", "B", 8.5)
NOTE_LEADING = 8.5 * 1.45
MARGIN_FONT = Font("sans", "", 7.0)
MARGIN_GAP = 12.0  # between a margin note and the text block
HEADING_FONTS = {1: Font("sans", "B", 13.5), 2: Font("sans", "B", 12.0)}
HEADING_TIME_FONT = Font("sans", "", 9.0)
HEADING_GAP_BEFORE = 24.0
HEADING_GAP_AFTER = 7.0
KICKER_FONT = Font("sans", "B", 9.0)
TITLE_FONT = Font("serif", "B", 24.0)
DESCRIPTION_FONT = Font("serif", "I", 12.0)
META_FONT = Font("sans", "", 9.0)
FOOTER_FONT = Font("sans", "", 8.0)
KEEP_LINES = 2  # a heading keeps this many lines of its first paragraph on its page


@cache
def _cmap(family: str, style: str) -> frozenset[int]:
    font = TTFont(FONT_DIR / FONT_FILES[(family, style)], lazy=True)
    return frozenset(font.getBestCmap())


def _face(family: str, style: str) -> tuple[str, str]:
    """The shipped face closest to what was asked for (sans has no italic)."""
    if (family, style) in FONT_FILES:
        return family, style
    if (family, style.replace("I", "")) in FONT_FILES:
        return family, style.replace("I", "")
    return family, ""


# --------------------------------------------------------------------------- setting lines


@dataclass(frozen=True)
class Piece:
    """Text in one font and colour, with no break opportunity inside."""

    text: str
    font: Font
    color: RGB


@dataclass
class Word:
    """An unbreakable run of pieces; ``gap`` is the extra room wanted either side (cues)."""

    pieces: list[Piece]
    widths: list[float]  # of each piece
    space: float  # width of a plain space after it, in its last font
    gap: float = 0.0
    marks: tuple[str, ...] = ()  # IDs of speech segments starting with this word

    @property
    def width(self) -> float:
        return sum(self.widths)


@dataclass(frozen=True)
class Fragment:
    """Text drawn at ``x`` points from the left of the text block, on the line's baseline."""

    x: float
    text: str
    font: Font
    color: RGB


@dataclass
class Line:
    height: float
    baseline: float  # from the top of the line
    fragments: list[Fragment] = field(default_factory=list)
    marks: tuple[str, ...] = ()  # segment IDs for the left margin
    rule: bool = False  # a hairline across the text block, at mid height
    outline: tuple[str, int] | None = None  # (title, level) for the document outline


class Typesetter:
    """Measures text in the document's fonts and sets words into lines."""

    def __init__(self, pdf: Document):
        self.pdf = pdf
        self._widths: dict[tuple[Font, str], float] = {}

    def width(self, text: str, font: Font) -> float:
        key = (font, text)
        cached = self._widths.get(key)
        if cached is None:
            self.pdf.use(font)
            cached = self._widths[key] = self.pdf.text_width(text)
        return cached

    def pieces(self, text: str, font: Font, color: RGB) -> Iterator[Piece]:
        """Split ``text`` into pieces whose characters all exist in their font, falling back to
        Source Sans for characters the serif faces lack (so nothing prints as a blank box)."""
        face = _face(font.family, font.style)
        font = Font(*face, font.size)
        have = _cmap(*face)
        if all(ord(c) in have or c.isspace() for c in text):
            yield Piece(text, font, color)
            return
        fallback = Font(*FALLBACK_FACE, font.size)
        start, current = 0, font
        for i, char in enumerate(text):
            wanted = font if ord(char) in have or char.isspace() else fallback
            if wanted != current and i > start:
                yield Piece(text[start:i], current, color)
                start = i
            current = wanted
        yield Piece(text[start:], current, color)

    def word(self, pieces: list[Piece], *, gap: float = 0.0, marks: tuple[str, ...] = ()) -> Word:
        widths = [self.width(p.text, p.font) for p in pieces]
        space = self.width(" ", pieces[-1].font) if pieces else 0.0
        return Word(pieces, widths, space, gap, marks)


_BREAK = re.compile(r"[ \t\r\n]+")  # not NBSP: a no-break space must not break


def words_from_pieces(setter: Typesetter, pieces: Iterable[Piece]) -> list[Word]:
    """Join pieces into words, breaking only at ordinary white space (so ``*struggling*,``
    stays one word across its change of font)."""
    words: list[Word] = []
    current: list[Piece] = []
    for piece in pieces:
        parts = _BREAK.split(piece.text)
        for i, part in enumerate(parts):
            if i > 0 and current:
                words.append(setter.word(current))
                current = []
            if part:
                current.append(Piece(part, piece.font, piece.color))
    if current:
        words.append(setter.word(current))
    return words


def set_lines(words: Sequence[Word], measure: float, *, height: float, size: float) -> list[Line]:
    """Greedy line breaking: as many words on a line as fit in ``measure``, ragged right.

    Ragged right keeps word spacing even, which matters more for reading aloud than a straight
    right edge. A word wider than the measure gets a line of its own.
    """
    lines: list[list[Word]] = []
    current: list[Word] = []
    x = 0.0
    for word in words:
        if current:
            advance = x + _glue(current[-1], word) + word.width
            if advance > measure + 0.01:
                lines.append(current)
                current, x = [word], word.width
            else:
                current.append(word)
                x = advance
        else:
            current, x = [word], word.width
    if current:
        lines.append(current)
    baseline = _baseline(height, size)
    return [_place(line, height, baseline) for line in lines]


def _glue(left: Word, right: Word) -> float:
    return max(left.space, left.gap, right.gap)


def _baseline(height: float, size: float) -> float:
    """Centre the cap height (about 0.66 em in both families) in the line."""
    return (height + 0.66 * size) / 2


def _place(words: list[Word], height: float, baseline: float) -> Line:
    """Give each piece its x. Pieces that touch in the same font and colour become one
    fragment (fewer text objects), and every word boundary carries a real space character so
    that text extracted or copied from the PDF reads right."""
    fragments: list[Fragment] = []
    x = 0.0
    joinable = False  # whether the next piece may extend the last fragment
    for i, word in enumerate(words):
        if i:
            before = words[i - 1]
            glue = _glue(before, word)
            fragments[-1] = replace(fragments[-1], text=fragments[-1].text + " ")
            x += glue
            joinable = glue <= before.space + 1e-6  # the space drawn is the whole gap
        for piece, width in zip(word.pieces, word.widths, strict=True):
            last = fragments[-1] if fragments else None
            if joinable and last and (last.font, last.color) == (piece.font, piece.color):
                fragments[-1] = replace(last, text=last.text + piece.text)
            else:
                fragments.append(Fragment(x, piece.text, piece.font, piece.color))
            x += width
            joinable = True
    marks = tuple(mark for word in words for mark in word.marks)
    return Line(height=height, baseline=baseline, fragments=fragments, marks=marks)


# --------------------------------------------------------------------------- blocks


@dataclass
class Block:
    """Lines that flow together. ``keep`` is how many lines of the next block must share the
    page with this one (a heading's first paragraph); a block is split between pages only where
    at least two of its lines stay on each side."""

    lines: list[Line]
    space_before: float = 0.0
    keep: int = 0
    splittable: bool = True


def document_blocks(
    plan: LocalePlan,
    times: TrackTimes,
    setter: Typesetter,
    geometry: Geometry,
    *,
    show_spoken: bool = False,
) -> list[Block]:
    """The whole document as blocks: the title block, then headings and paragraphs in track
    order, pause cues placed in the paragraph whose tag they come from."""
    builder = _DocumentBuilder(plan, times, setter, geometry.measure, show_spoken)
    return builder.build()


@dataclass
class _Paragraph:
    index: int | None
    parts: list[SpeechSegment | float | Bell] = field(default_factory=list)  # and pauses


class _DocumentBuilder:
    def __init__(
        self,
        plan: LocalePlan,
        times: TrackTimes,
        setter: Typesetter,
        measure: float,
        show_spoken: bool,
    ):
        self.plan = plan
        self.times = times
        self.setter = setter
        self.measure = measure
        self.show_spoken = show_spoken
        self.blocks: list[Block] = []
        self.paragraph: _Paragraph | None = None
        self.emitted: set[int] = set()
        self.section_starts = dict(times.section_starts)
        self.levels = {s.number: s.level for s in plan.script.sections}
        self.spoken_headings = {s.section: s for s in plan.speech if s.paragraph == -1}

    def build(self) -> list[Block]:
        self.blocks.extend(self._title_blocks())
        for item in self.plan.items:
            if isinstance(item, SpeechSegment):
                self._enter_section(item.section)
                if item.paragraph != -1:  # a spoken heading is printed as its heading
                    self._paragraph_for(item.paragraph).parts.append(item)
            elif isinstance(item, Bell) or item.source == "pause":
                if item.section is not None:
                    self._enter_section(item.section)
                self._add_pause(item)
        self._flush()
        for info in self.plan.sections:  # sections with nothing in this locale
            self._enter_section(info.number)
        self._flush()
        return self.blocks

    # -- structure

    def _enter_section(self, number: int) -> None:
        for info in self.plan.sections:
            if info.number <= number and info.number not in self.emitted:
                self._flush()
                self.emitted.add(info.number)
                if info.heading is not None:
                    self.blocks.append(self._heading_block(info))

    def _paragraph_for(self, index: int | None) -> _Paragraph:
        if self.paragraph is None or (index is not None and self.paragraph.index != index):
            self._flush()
            self.paragraph = _Paragraph(index)
        return self.paragraph

    def _add_pause(self, silence: Silence | Bell) -> None:
        paragraph = self._paragraph_for(silence.paragraph)
        if isinstance(silence, Bell):
            paragraph.parts.append(silence)  # a cue of its own, even beside a pause
        elif paragraph.parts and isinstance(paragraph.parts[-1], float):
            paragraph.parts[-1] += silence.seconds  # consecutive tags read as one rest
        else:
            paragraph.parts.append(silence.seconds)

    def _flush(self) -> None:
        paragraph, self.paragraph = self.paragraph, None
        if paragraph is None:
            return
        words: list[Word] = []
        notes: list[SpeechSegment] = []
        for part in paragraph.parts:
            if isinstance(part, SpeechSegment):
                segment_words = self._segment_words(part)
                if segment_words:
                    segment_words[0].marks += (part.id,)
                    words.extend(segment_words)
                if self.show_spoken and _spoken_differs(part):
                    notes.append(part)
            elif isinstance(part, Bell):
                words.append(self._cue_word(bell_cue(part)))
            elif part > 0:  # a zero pause only cancels the paragraph pause: nothing to read
                words.append(self._cue_word(pause_cue(part)))
        if not words:
            return
        lines = set_lines(words, self.measure, height=BODY_LEADING, size=BODY.size)
        for segment in notes:
            lines.extend(self._note_lines(segment))
        self.blocks.append(Block(lines, space_before=PARAGRAPH_GAP))

    # -- text

    def _segment_words(self, segment: SpeechSegment) -> list[Word]:
        pieces = list(self._inline_pieces(segment.inlines, italic=False, bold=False))
        return words_from_pieces(self.setter, pieces)

    def _inline_pieces(
        self, inlines: Iterable[Inline], *, italic: bool, bold: bool, base: Font = BODY
    ) -> Iterator[Piece]:
        for inline in inlines:
            if isinstance(inline, Text):
                yield from self.setter.pieces(inline.text, _styled(base, italic, bold), INK)
            elif isinstance(inline, Say):
                yield from self.setter.pieces(inline.printed, _styled(base, italic, bold), INK)
            elif isinstance(inline, Emphasis):
                yield from self._inline_pieces(
                    inline.children,
                    italic=italic or not inline.strong,
                    bold=bold or inline.strong,
                    base=base,
                )
            elif isinstance(inline, Variant):  # plans resolve these; tolerate one that did not
                yield from self._inline_pieces(
                    inline.for_locale(self.plan.locale), italic=italic, bold=bold, base=base
                )
            elif isinstance(inline, Pause | BellTag):
                continue  # pauses and bells are items of the plan, never printed from text

    def _cue_word(self, cue: str) -> Word:
        pieces = list(self.setter.pieces(cue, CUE_FONT, CUE))
        return self.setter.word(pieces, gap=CUE_GAP)

    def _note_lines(self, segment: SpeechSegment) -> list[Line]:
        label = Piece("spoken:", NOTE_LABEL_FONT, MUTED)
        words = [self.setter.word([label])]
        words += words_from_pieces(
            self.setter, self.setter.pieces(segment.spoken, NOTE_FONT, MUTED)
        )
        words[0].marks = (segment.id,)
        return set_lines(words, self.measure, height=NOTE_LEADING, size=NOTE_FONT.size)

    # -- title and headings

    def _heading_block(self, info: SectionInfo) -> Block:
        font = HEADING_FONTS[min(max(self.levels.get(info.number, 1), 1), 2)]
        start = self.section_starts.get(info.number)
        time_text = format_clock(start) if start is not None else ""
        time_width = self.setter.width(time_text, HEADING_TIME_FONT) if time_text else 0.0
        heading = list(self._inline_pieces(info.heading or (), italic=False, bold=False, base=font))
        words = words_from_pieces(self.setter, heading) or [
            self.setter.word(list(self.setter.pieces(info.title, font, ACCENT)))
        ]
        words = [_recolor(w, ACCENT) for w in words]
        spoken = self.spoken_headings.get(info.number)
        if spoken is not None:
            words[0].marks = (spoken.id,)
        room = self.measure - (time_width + 12.0 if time_text else 0.0)
        lines = set_lines(words, room, height=font.size * 1.3, size=font.size)
        if time_text:
            x = self.measure - time_width
            lines[0].fragments.append(Fragment(x, time_text, HEADING_TIME_FONT, MUTED))
        lines[0].outline = (info.title, 0)
        if spoken is not None and self.show_spoken and _spoken_differs(spoken):
            lines.extend(self._note_lines(spoken))
        lines.append(Line(height=HEADING_GAP_AFTER, baseline=0.0))
        return Block(lines, space_before=HEADING_GAP_BEFORE, keep=KEEP_LINES, splittable=False)

    def _title_blocks(self) -> list[Block]:
        meta = self.plan.meta
        lines: list[Line] = []
        kicker = " · ".join(
            part
            for part in (meta.collection, f"Track {meta.track}" if meta.track else None)
            if part
        )
        if kicker:
            lines += self._plain_lines(kicker, KICKER_FONT, ACCENT, leading=1.4)
            lines.append(Line(height=4.0, baseline=0.0))
        lines += self._plain_lines(meta.title, TITLE_FONT, INK, leading=1.2)
        blocks = [Block(lines, splittable=False, keep=1)]
        if meta.description:
            description = self._plain_lines(meta.description, DESCRIPTION_FONT, SOFT_INK, 1.45)
            blocks.append(Block(description, space_before=10.0, keep=1))
        duration = format_duration(self.times.duration)
        if self.times.approximate:
            duration = f"approx. {duration}"
        language = LANGUAGE_NAMES.get(self.plan.locale, self.plan.locale)
        meta_text = f"Audio script · {language} · Duration {duration}"
        tail = self._plain_lines(meta_text, META_FONT, MUTED, leading=1.4)
        tail.append(Line(height=22.0, baseline=0.0, rule=True))
        blocks.append(Block(tail, space_before=12.0, splittable=False))
        return blocks

    def _plain_lines(self, text: str, font: Font, color: RGB, leading: float) -> list[Line]:
        words = words_from_pieces(self.setter, self.setter.pieces(text, font, color))
        return set_lines(words, self.measure, height=font.size * leading, size=font.size)


def _styled(base: Font, italic: bool, bold: bool) -> Font:
    style = ("B" if bold else "") + ("I" if italic else "")
    return Font(base.family, style or base.style, base.size)


def _recolor(word: Word, color: RGB) -> Word:
    pieces = [Piece(p.text, p.font, color) for p in word.pieces]
    return Word(pieces, word.widths, word.space, word.gap, word.marks)


def _spoken_differs(segment: SpeechSegment) -> bool:
    return " ".join(segment.spoken.split()) != " ".join(segment.printed.split())


# --------------------------------------------------------------------------- pages


Page = list[tuple[float, Line]]  # (top of the line from the top of the text block, line)


def paginate(blocks: Sequence[Block], height: float) -> list[Page]:
    """Place blocks' lines on pages of ``height`` points of text.

    A block's ``space_before`` is dropped at the top of a page. A heading moves to the next page
    unless ``keep`` lines of what follows fit under it. A paragraph that does not fit is split
    so that at least two lines stay on each side (no orphan at the foot, no widow at the top);
    one that cannot be split that way moves whole. At the top of a page everything is placed,
    whatever the rules say, so that no input can loop.
    """
    pages: list[Page] = [[]]
    y = 0.0
    for index, block in enumerate(blocks):
        remaining = list(block.lines)
        gap = block.space_before if pages[-1] else 0.0
        need = gap + _height(remaining)
        if block.keep and index + 1 < len(blocks):
            following = blocks[index + 1]
            need += following.space_before + _height(_first_lines(following, block.keep))
        if y + need > height and pages[-1] and not block.splittable:
            pages.append([])
            y, gap = 0.0, 0.0
        while remaining:
            room = height - y - gap
            fit = _lines_that_fit(remaining, room)
            if fit < len(remaining) and block.splittable:
                fit = _split_point(len(remaining), fit)
            elif fit < len(remaining):
                fit = 0
            if fit == 0 and not pages[-1]:
                fit = max(_lines_that_fit(remaining, room), 1)
            if fit == 0:
                pages.append([])
                y, gap = 0.0, 0.0
                continue
            y += gap
            for line in remaining[:fit]:
                pages[-1].append((y, line))
                y += line.height
            remaining = remaining[fit:]
            gap = 0.0
            if remaining:
                pages.append([])
                y = 0.0
    return [page for page in pages if page] or [[]]


def _first_lines(block: Block, wanted: int) -> Sequence[Line]:
    """The fewest lines ``block`` can start a page foot with, at least ``wanted``: a block
    that cannot be split with two lines on each side goes whole or not at all."""
    if not block.splittable or len(block.lines) < 2 * KEEP_LINES:
        return block.lines
    return block.lines[: max(wanted, KEEP_LINES)]


def _height(lines: Sequence[Line]) -> float:
    return sum(line.height for line in lines)


def _lines_that_fit(lines: Sequence[Line], room: float) -> int:
    used = 0.0
    for count, line in enumerate(lines):
        used += line.height
        if used > room + 0.01:
            return count
    return len(lines)


def _split_point(total: int, fit: int) -> int:
    """How many of ``total`` lines to keep on this page when ``fit`` would fit."""
    fit = min(fit, total - KEEP_LINES)
    return fit if fit >= KEEP_LINES else 0


def _outline(pages: Sequence[Page]) -> Iterator[tuple[int, float, str, int]]:
    for number, page in enumerate(pages, start=1):
        for y, line in page:
            if line.outline is not None:
                yield number, y, *line.outline


# --------------------------------------------------------------------------- drawing


class Document(FPDF):
    """An FPDF document that loads each shipped face on first use: fpdf2 parses and subsets
    every added font when writing, so faces a script never uses would only cost time."""

    def __init__(self, geometry: Geometry):
        super().__init__(unit="pt", format=(geometry.width, geometry.height))
        self._faces: set[tuple[str, str]] = set()

    def text_width(self, text: str) -> float:
        """What :meth:`get_string_width` gives for ``text`` in the current font, summed
        straight from the font's advance widths when fpdf2 would do just that (no text
        shaping, spacing or stretching, left-to-right text), without the styled fragments
        that it builds first for every word measured."""
        font = self.current_font
        plain = (
            self.is_ttf_font
            and not self.text_shaping
            and not self.char_spacing
            and self.font_stretching == 100
            and all(ord(char) < 0x0590 for char in text)  # before the right-to-left scripts
        )
        if not plain or font is None:
            return self.get_string_width(text)
        return font.get_text_width(text, self.font_size_pt, None)[1] / self.k

    def use(self, font: Font, color: RGB | None = None) -> None:
        face = (font.family, font.style)
        if face not in self._faces:
            self.add_font(font.family, font.style, FONT_DIR / FONT_FILES[face])
            self._faces.add(face)
        self.set_font(font.family, font.style, font.size)
        if color is not None:
            self.set_text_color(*color)


def _new_document(plan: LocalePlan, geometry: Geometry) -> Document:
    meta = plan.meta
    pdf = Document(geometry)
    pdf.set_auto_page_break(False)
    pdf.set_margins(geometry.left, geometry.top, geometry.width - geometry.left - geometry.measure)
    pdf.set_title(meta.title)
    pdf.set_lang(plan.locale)
    pdf.set_subject(meta.description or f"Audio script of {meta.title}")
    if meta.author:
        pdf.set_author(meta.author)
    keywords = ["audio script", plan.locale] + ([meta.collection] if meta.collection else [])
    pdf.set_keywords(", ".join(keywords))
    pdf.set_creator("voicetrack")
    pdf.viewer_preferences = ViewerPreferences(display_doc_title=True)
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.isdigit():  # reproducible builds: same input, same bytes
        pdf.set_creation_date(datetime.fromtimestamp(int(epoch), tz=timezone.utc))
    return pdf


def _draw(
    pdf: Document,
    pages: Sequence[Page],
    geometry: Geometry,
    *,
    footer_title: str,
    segment_ids: bool,
) -> None:
    for number, page in enumerate(pages, start=1):
        pdf.add_page()
        for y, line in page:
            top = geometry.top + y
            _draw_line(pdf, line, geometry, top, segment_ids)
        _draw_footer(pdf, geometry, f"{footer_title} · page {number} of {len(pages)}")


def _draw_line(
    pdf: Document, line: Line, geometry: Geometry, top: float, segment_ids: bool
) -> None:
    baseline = top + line.baseline
    if segment_ids and line.marks:  # drawn first, so that extracted text reads left to right
        label = "  ".join(line.marks)
        pdf.use(MARGIN_FONT, MUTED)
        width = pdf.get_string_width(label)
        pdf.text(geometry.left - MARGIN_GAP - width, baseline, label)
    for fragment in line.fragments:
        pdf.use(fragment.font, fragment.color)
        pdf.text(geometry.left + fragment.x, baseline, fragment.text)
    if line.rule:
        pdf.set_draw_color(*RULE)
        pdf.set_line_width(0.5)
        middle = top + line.height / 2
        pdf.line(geometry.left, middle, geometry.left + geometry.measure, middle)


def _draw_footer(pdf: Document, geometry: Geometry, text: str) -> None:
    pdf.use(FOOTER_FONT, MUTED)
    width = pdf.get_string_width(text)
    x = geometry.left + (geometry.measure - width) / 2
    pdf.text(x, geometry.height - geometry.bottom / 2, text)
