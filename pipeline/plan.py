"""Plan stage: a :class:`~pipeline.model.Script` and a locale -> :class:`LocalePlan`.

Pure. The plan is the track's timeline before any audio exists: speech segments (the text
of a paragraph between two pause points, split into sentences) and the silences between
them, following the timing model of the script format exactly:

- between two consecutive speech segments: the sum of the explicit pauses between them if
  there is at least one, otherwise ``section_pause`` if a section starts between them,
  otherwise ``paragraph_pause``;
- before the first segment: ``lead_in``, then the explicit pauses before it;
- after the last segment: the explicit pauses after it, then ``tail``.

A ``[bell]`` is an explicit pause like any other, of the bell's ring rounded up to 0.1 s
(``[bell 10s]``: of 10 s), and becomes a :class:`~pipeline.model.Bell` item that starts the
ring; the pauses next to it stay items of their own.

Segment IDs are given once for the whole script, so they are the same in every locale even
when a segment is empty (and skipped) in one of them.
"""

from __future__ import annotations

import bisect
import logging
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from functools import cache, lru_cache

import pysbd
from pysbd.languages import LANGUAGE_CODES

from pipeline.lexicon import apply_lexicon
from pipeline.locales import language_of
from pipeline.model import (
    Bell,
    BellTag,
    Emphasis,
    Inline,
    LocalePlan,
    Paragraph,
    Pause,
    PlanItem,
    Say,
    Script,
    SectionInfo,
    Sentence,
    Silence,
    SilenceSource,
    SpeechSegment,
    Text,
    Variant,
)

log = logging.getLogger(__name__)

_WHITESPACE = re.compile(r"[ \t\n\r\f\v]+")


def plan_script(script: Script) -> dict[str, LocalePlan]:
    """One plan per locale of the script, in the order of its ``locales``."""
    chunks = _chunks(script)
    return {locale: _plan(script, locale, chunks) for locale in script.meta.locales}


def plan_locale(script: Script, locale: str) -> LocalePlan:
    """The timeline of ``script`` rendered in ``locale`` (one of the script's locales)."""
    if locale not in script.meta.locales:
        raise ValueError(
            f"{locale} is not one of the script's locales ({', '.join(script.meta.locales)})"
        )
    return _plan(script, locale, _chunks(script))


# --------------------------------------------------------------------------- events


@dataclass(frozen=True)
class _Chunk:
    """A would-be speech segment, before it is resolved for a locale."""

    id: str
    section: int
    paragraph: int
    line: int
    col: int
    items: tuple[Inline, ...]


@dataclass(frozen=True)
class _PauseAt:
    pause: Pause | BellTag
    section: int
    paragraph: int


@dataclass(frozen=True)
class _SectionStart:
    number: int


_Event = _Chunk | _PauseAt | _SectionStart


def _chunks(script: Script) -> list[_Event]:
    """The script as a flat list of events in reading order, chunks numbered per section.

    A chunk that is empty in every locale (the text before a paragraph's first pause, say)
    takes no number, so IDs have no gaps; one that speaks in any locale does.
    """
    events: list[_Event] = []
    locales = script.meta.locales
    paragraph_index = 0
    for section in script.sections:
        # Unnumbered chunks first; numbers are given below, skipping silent chunks.
        unnumbered: list[_Event] = [_SectionStart(section.number)]
        if script.meta.speak_headings and section.heading is not None:
            heading_col = section.level + 2
            unnumbered.append(
                _Chunk("", section.number, -1, section.line, heading_col, section.heading)
            )
        for paragraph in section.paragraphs:
            for piece, (line, col) in _split_at_pauses(paragraph):
                if isinstance(piece, Pause | BellTag):
                    unnumbered.append(_PauseAt(piece, section.number, paragraph_index))
                else:
                    unnumbered.append(_Chunk("", section.number, paragraph_index, line, col, piece))
            paragraph_index += 1
        number = 0
        for event in unnumbered:
            if not isinstance(event, _Chunk):
                events.append(event)
            elif any(_speaks(event.items, locale) for locale in locales):
                number += 1
                events.append(replace(event, id=f"S{section.number}-{number:02d}"))
    return events


def _split_at_pauses(
    paragraph: Paragraph,
) -> Iterator[tuple[Pause | BellTag | tuple[Inline, ...], tuple[int, int]]]:
    """The paragraph's chunks and pauses (bells among them) in order, each with a position.
    A chunk's is the start of its paragraph's first line, or the column just after the tag
    that opens it (text nodes carry no positions of their own)."""
    where = (paragraph.line, 1)
    for part in _split(paragraph.items):
        if isinstance(part, Pause | BellTag):
            yield part, (part.line, part.col)
            where = (part.line, part.col + len(part.source))
        else:
            yield tuple(part), where


def _split(items: tuple[Inline, ...]) -> list[Pause | BellTag | list[Inline]]:
    """Alternating chunks and pauses; a pause inside emphasis splits the emphasis in two."""
    out: list[Pause | BellTag | list[Inline]] = [[]]
    for item in items:
        if isinstance(item, Pause | BellTag):
            out += [item, []]
        elif isinstance(item, Emphasis) and any(_has_pause(c) for c in item.children):
            for part in _split(item.children):
                if isinstance(part, Pause | BellTag):
                    out += [part, []]
                elif part:
                    current = out[-1]
                    assert isinstance(current, list)
                    current.append(Emphasis(item.marker, tuple(part)))
        else:
            current = out[-1]
            assert isinstance(current, list)
            current.append(item)
    return out


def _has_pause(item: Inline) -> bool:
    if isinstance(item, Pause | BellTag):
        return True
    return isinstance(item, Emphasis) and any(_has_pause(c) for c in item.children)


# --------------------------------------------------------------------------- one locale


def _plan(
    script: Script,
    locale: str,
    events: list[_Event],
) -> LocalePlan:
    meta = script.meta
    lexicon = script.lexicon.for_locale(locale)
    language = _segmenter_language(locale)
    items: list[PlanItem] = []
    pending: list[Silence | Bell] = []  # explicit pauses since the last segment
    # The implicit silence owed before the next segment if no pause comes first. Two
    # segments of one paragraph always have a pause between them, so once a segment has
    # been placed the next one is in a new paragraph unless a section starts first.
    boundary: SilenceSource = "paragraph"
    spoken_yet = False
    for event in events:
        if isinstance(event, _SectionStart):
            boundary = "section"
        elif isinstance(event, _PauseAt):
            pending.append(_explicit(script, event))
        else:
            segment = _segment(event, locale, lexicon, language)
            if segment is None:
                continue
            if not spoken_yet:
                items.append(Silence("lead_in", meta.lead_in))
            elif not pending:
                implicit = meta.section_pause if boundary == "section" else meta.paragraph_pause
                items.append(Silence(boundary, implicit))
            items += pending
            items.append(segment)
            pending, boundary, spoken_yet = [], "paragraph", True
    if not spoken_yet:
        items.append(Silence("lead_in", meta.lead_in))
    items += pending
    items.append(Silence("tail", meta.tail))
    return LocalePlan(script, locale, _section_infos(script, locale), tuple(items))


def _explicit(script: Script, event: _PauseAt) -> Silence | Bell:
    """The plan item of a pause tag or a bell tag."""
    tag, section, paragraph = event.pause, event.section, event.paragraph
    if isinstance(tag, Pause):
        return Silence("pause", tag.seconds, tag.line, section, paragraph)
    if tag.seconds is not None:
        return Bell(tag.seconds, tag.line, True, section, paragraph)
    if script.bell_seconds is None:
        raise ValueError(
            f"{script.path}:{tag.line}: the length of the bell {script.meta.bell} is not known "
            "(a script whose bell is a file is measured by load_script)"
        )
    return Bell(ring_pause(script.bell_seconds), tag.line, False, section, paragraph)


def ring_pause(seconds: float) -> float:
    """The pause a whole ring of ``seconds`` counts as: rounded up to 0.1 s."""
    # A ring of exactly 10.0 s, computed as 441000 / 44100, stays 10.0 rather than 10.1.
    return math.ceil(round(seconds * 10, 6)) / 10


def _section_infos(script: Script, locale: str) -> tuple[SectionInfo, ...]:
    infos = []
    for section in script.sections:
        if section.heading is None:
            infos.append(SectionInfo(section.number, script.meta.title, None, section.line))
            continue
        heading = _normalise(_resolve(section.heading, locale))
        title = _printed(_pieces(heading))
        infos.append(SectionInfo(section.number, title, heading, section.line))
    return tuple(infos)


def _segment(
    chunk: _Chunk, locale: str, lexicon: Mapping[str, str], language: str
) -> SpeechSegment | None:
    inlines = _normalise(_resolve(chunk.items, locale))
    pieces = _pieces(inlines)
    printed = _printed(pieces)
    if not printed:
        return None
    sentences = tuple(
        _sentence(part, lexicon) for part in _split_sentences(pieces, printed, language)
    )
    return SpeechSegment(
        id=chunk.id,
        section=chunk.section,
        paragraph=chunk.paragraph,
        line=chunk.line,
        col=chunk.col,
        inlines=inlines,
        printed=printed,
        spoken=" ".join(s.spoken for s in sentences),
        sentences=sentences,
    )


def _speaks(items: tuple[Inline, ...], locale: str) -> bool:
    return bool(_pieces(_normalise(_resolve(items, locale))))


# --------------------------------------------------------------------------- text


def _resolve(items: tuple[Inline, ...], locale: str) -> tuple[Inline, ...]:
    """Inline nodes with each variant replaced by its branch for ``locale``."""
    out: list[Inline] = []
    for item in items:
        if isinstance(item, Variant):
            out += _resolve(item.for_locale(locale), locale)
        elif isinstance(item, Emphasis):
            out.append(Emphasis(item.marker, _resolve(item.children, locale)))
        else:
            out.append(item)
    return tuple(out)


def _normalise(items: tuple[Inline, ...]) -> tuple[Inline, ...]:
    """Printed inline nodes tidied: adjacent text merged, whitespace collapsed and trimmed
    at both ends, empty nodes dropped. Takes variant-free, pause-free nodes."""
    return _trimmed(_merge(items))


def _trimmed(merged: list[Inline]) -> tuple[Inline, ...]:
    """Merged nodes with the whitespace at both ends, and the nodes left empty, removed."""
    if merged and isinstance(merged[0], Text):
        merged[0] = Text(merged[0].text.lstrip())
    if merged and isinstance(merged[-1], Text):
        merged[-1] = Text(merged[-1].text.rstrip())
    return tuple(i for i in merged if not (isinstance(i, Text) and not i.text))


def _merge(items: tuple[Inline, ...]) -> list[Inline]:
    out: list[Inline] = []

    def add_text(text: str) -> None:
        if out and isinstance(out[-1], Text):
            out[-1] = Text(_WHITESPACE.sub(" ", out[-1].text + text))
        else:
            out.append(Text(_WHITESPACE.sub(" ", text)))

    for item in items:
        if isinstance(item, Text):
            add_text(item.text)
        elif isinstance(item, Emphasis):
            # Whitespace at the edges of emphasis moves outside it rather than being lost.
            children = _merge(item.children)
            first, last = children[:1], children[-1:]
            if first and isinstance(first[0], Text) and first[0].text[:1].isspace():
                add_text(" ")
            inner = _trimmed(children)  # merged already: merging again doubles the work
            if inner:
                out.append(Emphasis(item.marker, inner))
            if last and isinstance(last[0], Text) and last[0].text[-1:].isspace():
                add_text(" ")
        else:
            out.append(item)
    return out


@dataclass(frozen=True)
class _Piece:
    """A stretch of printed text; ``say`` is the spoken text of a say-substitution."""

    printed: str
    say: str | None = None


def _pieces(items: tuple[Inline, ...]) -> list[_Piece]:
    """The printed text as pieces, emphasis flattened and whitespace normalised across
    piece boundaries, so that joining the pieces gives the printed text exactly."""
    raw: list[_Piece] = []

    def walk(nodes: tuple[Inline, ...]) -> None:
        for node in nodes:
            if isinstance(node, Text):
                raw.append(_Piece(node.text))
            elif isinstance(node, Say):
                raw.append(_Piece(node.printed, node.spoken))
            elif isinstance(node, Emphasis):
                walk(node.children)

    walk(items)
    out: list[_Piece] = []
    ends_with_space = True  # drops leading whitespace
    for piece in raw:
        text = _WHITESPACE.sub(" ", piece.printed)
        if ends_with_space:
            text = text.lstrip(" ")
        if text:
            out.append(_Piece(text, piece.say))
            ends_with_space = text.endswith(" ")
    if out and out[-1].say is None:
        last = out[-1].printed.rstrip(" ")
        out[-1] = _Piece(last)
        if not last:
            out.pop()
    return out


def _printed(pieces: list[_Piece]) -> str:
    return "".join(p.printed for p in pieces)


def _sentence(pieces: list[_Piece], lexicon: Mapping[str, str]) -> Sentence:
    """One sentence: printed text as written, spoken text with say-substitutions and the
    lexicon applied (the lexicon never touches a say-substitution's spoken text)."""
    spoken: list[str] = []
    run: list[str] = []
    for piece in pieces:
        if piece.say is None:
            run.append(piece.printed)
            continue
        spoken.append(apply_lexicon("".join(run), lexicon))
        spoken.append(piece.say)
        run = []
    spoken.append(apply_lexicon("".join(run), lexicon))
    return Sentence(_printed(pieces).strip(), _WHITESPACE.sub(" ", "".join(spoken)).strip())


def _split_sentences(pieces: list[_Piece], printed: str, language: str) -> list[list[_Piece]]:
    """The pieces cut at sentence starts found by the segmenter in the printed text.

    A say-substitution is never cut: a start inside one is dropped, so the substitution
    stays whole in the sentence where it begins.
    """
    spans: list[tuple[int, int, _Piece]] = []
    offset = 0
    for piece in pieces:
        spans.append((offset, offset + len(piece.printed), piece))
        offset += len(piece.printed)
    says = [(begin, end) for begin, end, piece in spans if piece.say is not None]
    say_begins = [begin for begin, _ in says]

    def inside_say(start: int) -> bool:
        at = bisect.bisect_left(say_begins, start) - 1
        return at >= 0 and start < says[at][1]

    ordered = [s for s in sentence_starts(printed, language)[1:] if not inside_say(s)]
    starts = set(ordered)

    sentences: list[list[_Piece]] = [[]]
    for begin, end, piece in spans:
        cuts: list[int] = []
        if piece.say is None:
            cuts = ordered[bisect.bisect_right(ordered, begin) : bisect.bisect_left(ordered, end)]
        previous = begin
        for cut in cuts:
            sentences[-1].append(_Piece(piece.printed[previous - begin : cut - begin]))
            sentences.append([])
            previous = cut
        if begin in starts and sentences[-1]:
            sentences.append([])
        sentences[-1].append(_Piece(piece.printed[previous - begin :], piece.say))
    return [s for s in sentences if _printed(s).strip()]


def sentence_starts(text: str, language: str = "en") -> tuple[int, ...]:
    """Offsets in ``text`` where the segmenter starts a sentence (always 0 first)."""
    return _sentence_starts(text, language)


#: Characters after which the segmenter may end a sentence. Text with none of them before
#: its last character is one sentence, and the segmenter (a few ms a call) is not asked.
_SENTENCE_ENDS = re.compile(r"[.!?\u2026\n\r]")


@lru_cache(maxsize=8192)
def _sentence_starts(text: str, language: str) -> tuple[int, ...]:
    if not _SENTENCE_ENDS.search(text.rstrip()[:-1]):
        return (0,)
    starts = [0]
    cursor = 0
    for sentence in _segmenter(language).segment(text):
        found = text.find(sentence.strip(), cursor)
        if found < 0:
            # The segmenter altered the text: keep what was found so far, whole.
            log.debug("sentence segmenter changed %r; not splitting further", sentence)
            break
        if found > 0:
            starts.append(found)
        cursor = found + len(sentence.strip())
    return tuple(sorted(set(starts)))


@cache
def _segmenter(language: str) -> pysbd.Segmenter:
    # Building a Segmenter compiles many rules; one per language is plenty.
    return pysbd.Segmenter(language=language, clean=False)


def _segmenter_language(locale: str) -> str:
    language = language_of(locale)
    return language if language in LANGUAGE_CODES else "en"
