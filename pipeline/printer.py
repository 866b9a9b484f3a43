"""Print a :class:`~pipeline.model.Script` back to script source.

``parse_script(print_script(s), s.path, s.lexicon)`` equals ``s`` except for line and column
numbers (compare with :func:`without_positions`). The output is canonical rather than a copy
of the original file: every front-matter value that differs from its default, one line per
paragraph, markup characters in text escaped, and pause and bell tags as they were written.
"""

from __future__ import annotations

import re
from dataclasses import fields, replace
from typing import Any

from pipeline.durations import format_duration, plain_decimal
from pipeline.model import (
    BellTag,
    Emphasis,
    FrontMatter,
    Inline,
    Paragraph,
    Pause,
    Say,
    Script,
    Section,
    Text,
    Variant,
)
from pipeline.parse import ESCAPABLE

_DURATION_KEYS = ("pause", "sentence_pause", "paragraph_pause", "section_pause", "lead_in", "tail")


def print_script(script: Script) -> str:
    """Script source that parses back to ``script``."""
    blocks = [_front_matter(script.meta)]
    for section in script.sections:
        if section.heading is not None:
            blocks.append("#" * max(section.level, 1) + " " + print_inlines(section.heading))
        blocks.extend(print_inlines(p.items) for p in section.paragraphs)
    return "\n\n".join(blocks) + "\n"


def print_inlines(items: tuple[Inline, ...]) -> str:
    """Inline nodes as source text on one line."""
    return "".join(_inline(item) for item in items)


def _inline(item: Inline) -> str:
    if isinstance(item, Text):
        return escape(item.text)
    if isinstance(item, Emphasis):
        return item.marker + print_inlines(item.children) + item.marker
    if isinstance(item, Say):
        return f"[{escape(item.printed)}](say: {escape(item.spoken)})"
    if isinstance(item, Variant):
        branches = (f"{tag}: {print_inlines(children)}" for tag, children in item.branches)
        return "{" + " | ".join(branches) + "}"
    if isinstance(item, Pause):
        return item.source or f"[pause {format_duration(item.seconds)}]"
    if isinstance(item, BellTag):
        if item.source:
            return item.source
        return "[bell]" if item.seconds is None else f"[bell {format_duration(item.seconds)}]"
    raise TypeError(f"not an inline node: {item!r}")


def escape(text: str) -> str:
    """``text`` with every character that could be read as markup escaped."""
    return "".join("\\" + c if c in ESCAPABLE else c for c in text)


def _front_matter(meta: FrontMatter) -> str:
    lines = ["---"]
    default = FrontMatter(title=meta.title)
    for f in fields(FrontMatter):
        value = getattr(meta, f.name)
        if f.name == "title" or value != getattr(default, f.name):
            lines.append(f"{f.name}: {_value(f.name, value)}")
    lines.append("---")
    return "\n".join(lines)


def _value(key: str, value: Any) -> str:
    if key in _DURATION_KEYS:
        return format_duration(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "[" + ", ".join(_list_item(item) for item in value) + "]"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return plain_decimal(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _list_item(item: str) -> str:
    if re.fullmatch(r"[\w][\w .-]*", item) and item == item.strip():
        return item
    return '"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"'


def without_positions(script: Script) -> Script:
    """``script`` with every line and column set to 0, for comparing parse results."""
    return replace(
        script,
        body_line=0,
        sections=tuple(_section(s) for s in script.sections),
    )


def _section(section: Section) -> Section:
    return replace(
        section,
        line=0,
        heading=None if section.heading is None else _strip(section.heading),
        paragraphs=tuple(Paragraph(0, _strip(p.items)) for p in section.paragraphs),
    )


def _strip(items: tuple[Inline, ...]) -> tuple[Inline, ...]:
    out: list[Inline] = []
    for item in items:
        if isinstance(item, Pause | BellTag):
            out.append(replace(item, line=0, col=0))
        elif isinstance(item, Variant):
            branches = tuple((tag, _strip(children)) for tag, children in item.branches)
            out.append(Variant(branches, 0, 0))
        elif isinstance(item, Emphasis):
            out.append(Emphasis(item.marker, _strip(item.children)))
        else:
            out.append(item)
    return tuple(out)
