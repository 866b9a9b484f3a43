"""Property tests: generated scripts parse, print -> parse gives the same model, comments
never change the model, and plans always follow the timing model.

Scripts are generated as models (the parser's output type), made canonical the way the
parser writes them (adjacent text merged, whitespace collapsed, emphasis that the syntax can
express), then printed.
"""

from __future__ import annotations

import re
import string
import unicodedata
from dataclasses import replace
from functools import lru_cache
from itertools import pairwise

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline import sound
from pipeline.durations import format_duration
from pipeline.model import (
    Bell,
    BellTag,
    Emphasis,
    FrontMatter,
    Inline,
    Paragraph,
    Pause,
    Say,
    Script,
    Section,
    Silence,
    SpeechSegment,
    Text,
    Variant,
)
from pipeline.parse import BREAK_STRENGTHS, parse_script
from pipeline.plan import plan_script, ring_pause
from pipeline.printer import print_inlines, print_script, without_positions

PATH = "scripts_src/generated.md"
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text may hold markup characters (the printer escapes them) but not the few that
# cannot be escaped and would start another construct: ` ~ & ( ) ! and line breaks.
TEXT_ALPHABET = string.ascii_letters + string.digits + " .,;:?'\"-#>=+%/[]{}|*_<\\…—éß"
LOCALE_SETS = [("en-GB", "en-US"), ("en-GB",), ("en-US", "en-GB", "en-AU")]
_SPACES = re.compile(r"[ \t\n\r\f\v]+")


# --------------------------------------------------------------------------- canonical form


def _word_char(char: str) -> bool:
    return not char.isspace() and unicodedata.category(char)[0] not in "PS"


def _family(marker: str) -> str:
    return marker[0]


def _canonical(
    items: list[Inline], trim: bool, strict: bool, ancestors: frozenset[str] = frozenset()
) -> tuple[Inline, ...]:
    """Repair generated inline nodes until they are in the form the parser produces.

    Every repair keeps the source valid and keeps two markers of one family (``*``/``**``
    or ``_``) from touching, which would make one run of them. Strict repairs also keep
    emphasis unambiguous, so that printing and parsing must give the very same tree: no
    emphasis anywhere inside one of the same family, words at the inner edges of emphasis,
    and no word character straight outside a marker that could not open or close there.
    """
    current = list(items)
    for _ in range(8):
        repaired = _repair_once(current, trim, strict, ancestors)
        if repaired == current:
            break
        current = repaired
    return tuple(current)


def _repair_once(
    items: list[Inline], trim: bool, strict: bool, ancestors: frozenset[str]
) -> list[Inline]:
    out: list[Inline] = []
    for item in items:
        if isinstance(item, Emphasis):
            repaired = _repair_emphasis(item, strict, ancestors)
            if repaired is None:
                continue
            if isinstance(repaired, tuple):  # unwrapped
                out.extend(repaired)
                continue
            item = repaired
            previous = out[-1] if out else None
            same = isinstance(previous, Emphasis) and _family(previous.marker) == _family(
                item.marker
            )
            if same:
                out.append(Text(" "))
        if isinstance(item, Text) and out and isinstance(out[-1], Text):
            out[-1] = Text(out[-1].text + item.text)
            continue
        out.append(item)
    out = [Text(_SPACES.sub(" ", i.text)) if isinstance(i, Text) else i for i in out]
    if strict:
        _space_out_markers(out)
    if trim and out and isinstance(out[0], Text):
        out[0] = Text(out[0].text.lstrip())
    if trim and out and isinstance(out[-1], Text):
        out[-1] = Text(out[-1].text.rstrip())
    return [i for i in out if not (isinstance(i, Text) and not i.text)]


def _repair_emphasis(
    item: Emphasis, strict: bool, ancestors: frozenset[str]
) -> Emphasis | tuple[Inline, ...] | None:
    marker = item.marker
    if strict and _family(marker) in ancestors:
        other = "_" if _family(marker) == "*" else "*"
        if other in ancestors:
            return item.children
        marker = other
    inner = ancestors | {_family(marker)}
    children = list(_canonical(list(item.children), True, strict, inner))
    if not children:
        return None
    for edge in (0, -1):
        child = children[edge]
        if isinstance(child, Emphasis) and _family(child.marker) == _family(marker):
            children[edge] = Emphasis("_" if marker != "_" else "*", child.children)
    if strict and isinstance(children[0], Text) and not _word_char(children[0].text[0]):
        children[0] = Text("w" + children[0].text)
    if strict and isinstance(children[-1], Text) and not _word_char(children[-1].text[-1]):
        children[-1] = Text(children[-1].text + "w")
    return Emphasis(marker, tuple(children))


def _space_out_markers(out: list[Inline]) -> None:
    """A word character may stand straight outside ``*`` only when the emphasis has a word
    character on that side too, and never outside ``_``; other neighbours end in
    punctuation and need nothing."""
    for index, item in enumerate(out):
        if not isinstance(item, Emphasis):
            continue
        content = print_inlines(item.children)
        if index and isinstance(out[index - 1], Text):
            before = out[index - 1].text[-1]
            if _word_char(before) and (item.marker == "_" or not _word_char(content[0])):
                out[index - 1] = Text(out[index - 1].text + " ")
        following = out[index + 1] if index + 1 < len(out) else None
        if isinstance(following, Text):
            after = following.text[0]
            if _word_char(after) and (item.marker == "_" or not _word_char(content[-1])):
                out[index + 1] = Text(" " + following.text)


# --------------------------------------------------------------------------- strategies


def plain_text(alphabet: str = TEXT_ALPHABET, max_size: int = 10) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, min_size=1, max_size=max_size)


def collapsed(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


says = st.builds(
    Say,
    plain_text().map(collapsed).filter(bool),
    plain_text(string.ascii_letters + " .,'-*_[]{}|<\\").map(collapsed).filter(bool),
)


def emphasis(children: st.SearchStrategy[Inline]) -> st.SearchStrategy[Emphasis]:
    return st.builds(
        Emphasis,
        st.sampled_from(["*", "_", "**"]),
        st.lists(children, min_size=1, max_size=2).map(tuple),
    )


def leaf_inlines() -> st.SearchStrategy[Inline]:
    return st.one_of(st.builds(Text, plain_text()), says)


@lru_cache
def branch_inlines(strict: bool) -> st.SearchStrategy[tuple[Inline, ...]]:
    inline = st.recursive(leaf_inlines(), emphasis, max_leaves=2)
    return st.lists(inline, max_size=2).map(lambda items: _canonical(items, True, strict))


@st.composite
def variants(draw: st.DrawFn, locales: tuple[str, ...], strict: bool) -> Variant:
    tags = draw(st.lists(st.sampled_from(locales), min_size=1, max_size=len(locales), unique=True))
    return Variant(tuple((tag, draw(branch_inlines(strict))) for tag in tags), 0, 0)


# A bare [pause] or <break/> lasts as long as the front matter says; the generator writes
# this placeholder and the script strategy puts the real length in.
BARE = -1.0


def pauses() -> st.SearchStrategy[Pause | BellTag]:
    seconds = st.floats(min_value=0, max_value=600, allow_nan=False)
    strengths = st.sampled_from(sorted(BREAK_STRENGTHS))
    return st.one_of(
        st.sampled_from([BellTag(None, "[bell]", 0, 0), BellTag(None, "[BELL]", 0, 0)]),
        seconds.filter(lambda s: s > 0).map(
            lambda s: BellTag(s, f"[Bell {format_duration(s)}]", 0, 0)
        ),
        st.sampled_from([Pause(BARE, "[pause]", 0, 0), Pause(BARE, "<break/>", 0, 0)]),
        seconds.map(lambda s: Pause(s, f"[pause {format_duration(s)}]", 0, 0)),
        seconds.map(lambda s: Pause(s, f"[PAUSE:{format_duration(s)}]", 0, 0)),
        seconds.map(lambda s: Pause(s, f'<break time="{format_duration(s)}"/>', 0, 0)),
        strengths.map(lambda w: Pause(BREAK_STRENGTHS[w], f'<break strength="{w}"/>', 0, 0)),
    )


@lru_cache
def inline_items(
    locales: tuple[str, ...], with_pauses: bool, strict: bool
) -> st.SearchStrategy[list[Inline]]:
    leaves = [leaf_inlines(), variants(locales, strict)]
    if with_pauses:
        leaves.append(pauses())
    inline = st.recursive(st.one_of(*leaves), emphasis, max_leaves=3)
    return st.lists(inline, min_size=1, max_size=4)


def paragraph_items(items: list[Inline], strict: bool) -> tuple[Inline, ...]:
    canonical = _canonical(items, True, strict)
    # A line starting with '#', '>', '-', '1.' and so on would be another kind of block.
    if canonical and isinstance(canonical[0], Text) and not canonical[0].text[0].isalpha():
        canonical = _canonical([Text("A"), *canonical], True, strict)
    return canonical or (Text("Hello."),)


def heading_items(items: list[Inline], strict: bool) -> tuple[Inline, ...]:
    return _canonical(items, True, strict) or (Text("Heading"),)


def _bare_pauses(items: tuple[Inline, ...], seconds: float) -> tuple[Inline, ...]:
    out: list[Inline] = []
    for item in items:
        if isinstance(item, Pause) and item.seconds == BARE:
            item = replace(item, seconds=seconds)
        elif isinstance(item, Emphasis):
            item = Emphasis(item.marker, _bare_pauses(item.children, seconds))
        out.append(item)
    return tuple(out)


def titles() -> st.SearchStrategy[str]:
    text = st.text(
        st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=12
    )
    return text.map(str.strip).filter(bool)


durations = st.floats(min_value=0, max_value=3600, allow_nan=False)


@st.composite
def front_matters(draw: st.DrawFn) -> FrontMatter:
    optional_text = st.none() | titles()
    return FrontMatter(
        title=draw(titles()),
        collection=draw(optional_text),
        track=draw(st.none() | st.integers(1, 99)),
        author=draw(optional_text),
        description=draw(optional_text),
        locales=draw(st.sampled_from(LOCALE_SETS)),
        voice=draw(st.sampled_from(["narrator", "calm-voice", "v_2"])),
        pause=draw(st.floats(min_value=0, max_value=600, allow_nan=False)),
        sentence_pause=draw(durations),
        paragraph_pause=draw(durations),
        section_pause=draw(durations),
        lead_in=draw(durations),
        tail=draw(durations),
        rate=draw(st.floats(min_value=0.5, max_value=2.0)),
        speak_headings=draw(st.booleans()),
        loudness=draw(st.floats(min_value=-30, max_value=-10)),
        cover=draw(st.sampled_from([None, "cover.png", "../art/cover.JPG"])),
        techniques=draw(
            st.sampled_from([(), ("breathing",), ("compassion-focused therapy", 'imagery, "safe"')])
        ),
        about=draw(st.sampled_from([None, "about/page.md"])),
        bell=draw(st.sampled_from(["bowl", "sounds/chime.wav"])),
        bed=draw(st.sampled_from([None, "../beds/rain and wind.flac"])),
        bed_level=draw(st.floats(min_value=-60, max_value=0)),
        bed_duck=draw(st.floats(min_value=0, max_value=30)),
    )


@st.composite
def scripts(draw: st.DrawFn, strict: bool = True) -> Script:
    """Scripts in canonical form; with ``strict=False`` emphasis may be ambiguous (valid
    source, but the parser may pair its markers differently)."""
    meta = draw(front_matters())
    body = inline_items(meta.locales, with_pauses=True, strict=strict)
    paragraph = body.map(
        lambda i: Paragraph(0, _bare_pauses(paragraph_items(i, strict), meta.pause))
    )
    paragraphs = st.lists(paragraph, max_size=2)
    sections: list[Section] = []
    opening = draw(paragraphs)
    if opening:
        sections.append(Section(0, None, 0, 0, tuple(opening)))
    for number in range(1, draw(st.integers(0 if opening else 1, 2)) + 1):
        heading = draw(inline_items(meta.locales, with_pauses=False, strict=strict))
        level = draw(st.integers(1, 3))
        sections.append(
            Section(number, heading_items(heading, strict), level, 0, tuple(draw(paragraphs)))
        )
    # The parser measures the bowl when a [bell] rings it whole; a bell file is measured
    # only when the script is loaded from the project.
    rings_whole = any(_has_whole_bell(p.items) for section in sections for p in section.paragraphs)
    bell_seconds = sound.bowl_seconds() if rings_whole and meta.bell == "bowl" else None
    return Script(PATH, "generated", meta, tuple(sections), body_line=0, bell_seconds=bell_seconds)


def _has_whole_bell(items: tuple[Inline, ...]) -> bool:
    return any(
        (isinstance(i, BellTag) and i.seconds is None)
        or (isinstance(i, Emphasis) and _has_whole_bell(i.children))
        for i in items
    )


#: The length load_script would measure for the generated scripts' bell file.
CHIME_SECONDS = 4.321


# --------------------------------------------------------------------------- parsing


@SETTINGS
@given(scripts())
def test_generated_scripts_parse_and_print_back_to_the_same_model(script):
    source = print_script(script)
    assert without_positions(parse_script(source, PATH)) == script


@SETTINGS
@given(scripts(), st.data())
def test_comments_never_change_the_model(script, data):
    source = print_script(script)
    head, _, body = source.partition("---\n\n")
    # Inline comments anywhere except straight after a backslash (that would escape '<')
    # and on blank lines (a comment line between two paragraphs joins them, as it should).
    positions = data.draw(st.lists(st.integers(0, len(body)), max_size=6, unique=True))
    for at in sorted(positions, reverse=True):
        blank_line = body[at - 1 : at] in ("", "\n") and body[at : at + 1] in ("", "\n")
        if not body[:at].endswith("\\") and not blank_line:
            body = body[:at] + "<!-- note -->" + body[at:]
    # Whole-line comments between blocks, and a multi-line one.
    body = body.replace("\n\n", "\n<!-- line\nnote -->\n\n", 2)
    commented = head + "---\n\n<!-- opening note -->\n" + body
    assert without_positions(parse_script(commented, PATH)) == script


@SETTINGS
@given(scripts(strict=False))
def test_parse_print_parse_is_stable(script):
    # Even where the generated emphasis is ambiguous, what the parser makes of it prints
    # back to source that parses to the same model.
    parsed = parse_script(print_script(script), PATH)
    again = parse_script(print_script(parsed), PATH)
    assert without_positions(again) == without_positions(parsed)


# --------------------------------------------------------------------------- planning


def _printed(items: tuple[Inline, ...], locale: str) -> str:
    out = []
    for item in items:
        if isinstance(item, Text):
            out.append(item.text)
        elif isinstance(item, Say):
            out.append(item.printed)
        elif isinstance(item, Emphasis):
            out.append(_printed(item.children, locale))
        elif isinstance(item, Variant):
            out.append(_printed(item.for_locale(locale), locale))
    return "".join(out)


def _reading_order(script: Script, locale: str) -> list[tuple]:
    """Pauses and speaking stretches as a reader meets them, worked out independently of
    the planner: ('pause', seconds, section) and ('speech', section)."""
    tokens: list[tuple] = []
    stretch: list[Inline] = []

    def end_stretch(section: int) -> None:
        if _printed(tuple(stretch), locale).strip():
            tokens.append(("speech", section))
        stretch.clear()

    def walk(items: tuple[Inline, ...], section: int) -> None:
        for item in items:
            if isinstance(item, Pause):
                end_stretch(section)
                tokens.append(("pause", item.seconds, section))
            elif isinstance(item, BellTag):
                end_stretch(section)
                assert script.bell_seconds is not None or item.seconds is not None
                seconds = item.seconds or ring_pause(script.bell_seconds or 0.0)
                tokens.append(("bell", seconds, section))
            elif isinstance(item, Emphasis):
                walk(item.children, section)
            else:
                stretch.append(item)

    for section in script.sections:
        if script.meta.speak_headings and section.heading is not None:
            stretch.extend(section.heading)
            end_stretch(section.number)
        for paragraph in section.paragraphs:
            walk(paragraph.items, section.number)
            end_stretch(section.number)
    return tokens


@SETTINGS
@given(scripts())
def test_plans_follow_the_timing_model(script):
    meta = script.meta
    if script.bell_seconds is None:
        script = replace(script, bell_seconds=CHIME_SECONDS)
    plans = plan_script(script)
    for plan in plans.values():
        items = plan.items
        assert items[0] == Silence("lead_in", meta.lead_in)
        assert items[-1] == Silence("tail", meta.tail)

        # Each stretch of silence lies between two anchors: the lead-in or a segment before
        # it, a segment or the tail after it. Between two segments it is the explicit
        # pauses if there are any, otherwise one implicit silence of the right kind.
        segments = [i for i, item in enumerate(items) if isinstance(item, SpeechSegment)]
        for before, after in pairwise([0, *segments, len(items) - 1]):
            gap = list(items[before + 1 : after])
            assert all(isinstance(g, Silence | Bell) for g in gap)
            explicit = [g for g in gap if isinstance(g, Bell) or g.source == "pause"]
            if before in segments and after in segments and not explicit:
                new_section = items[before].section != items[after].section
                expected = (
                    Silence("section", meta.section_pause)
                    if new_section
                    else Silence("paragraph", meta.paragraph_pause)
                )
                assert gap == [expected]
            else:
                assert gap == explicit

        # Every pause and bell tag appears once, where it was written relative to the
        # speech; a bell lasts its ring rounded up to 0.1 s unless the tag gives a length.
        planned = [
            ("speech", i.section)
            if isinstance(i, SpeechSegment)
            else ("bell", i.seconds, i.section)
            if isinstance(i, Bell)
            else ("pause", i.seconds, i.section)
            for i in items
            if isinstance(i, SpeechSegment | Bell) or i.source == "pause"
        ]
        assert planned == _reading_order(script, plan.locale)

        # Segments are in reading order, never empty, and numbered within their section.
        order = [(s.section, s.paragraph) for s in plan.speech]
        assert order == sorted(order)
        assert all(s.printed and s.spoken and s.sentences for s in plan.speech)
        ids = [s.id for s in plan.speech]
        assert len(set(ids)) == len(ids)
        assert all(s.id.startswith(f"S{s.section}-") for s in plan.speech)

    # The same ID names the same place in every locale.
    places: dict[str, tuple[int, int, int, int]] = {}
    for plan in plans.values():
        for s in plan.speech:
            assert places.setdefault(s.id, (s.section, s.paragraph, s.line, s.col)) == (
                s.section, s.paragraph, s.line, s.col,
            )  # fmt: skip


@SETTINGS
@given(scripts())
def test_speak_headings_adds_exactly_the_non_empty_headings(script):
    script = replace(script, bell_seconds=script.bell_seconds or CHIME_SECONDS)
    spoken = replace(script, meta=replace(script.meta, speak_headings=True))
    silent = replace(script, meta=replace(script.meta, speak_headings=False))
    for locale in script.meta.locales:
        with_headings = plan_script(spoken)[locale].speech
        without = plan_script(silent)[locale].speech
        headings = [s for s in with_headings if s.paragraph == -1]
        assert len(with_headings) == len(without) + len(headings)
        assert all(s.id.endswith("-01") for s in headings)
