"""The text of a script -> :class:`~pipeline.model.Script`, without the file system.

The front matter is read first, since the body needs from it the script's locales and the
length of a bare ``[pause]``; then the body. Every error of both parts is collected.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePath

from pipeline.errors import CONTROL_HINT, ScriptError, SourceError, control_characters
from pipeline.model import BellTag, Emphasis, Inline, Lexicon, Script, Section
from pipeline.parse.blocks import BodyParser
from pipeline.parse.errorlog import ErrorLog
from pipeline.parse.frontmatter import DEFAULTS, cover_text_problems, read_front_matter

NO_LEXICON = Lexicon()


def parse_script(text: str, path: str, lexicon: Lexicon = NO_LEXICON) -> Script:
    """The Script written in ``text``; ``path`` is used for the slug and in messages."""
    script, errors, _ = parse_text(text, path, lexicon)
    if errors or script is None:
        raise ScriptError(errors)
    return script


def parse_text(
    text: str, path: str, lexicon: Lexicon
) -> tuple[Script | None, list[SourceError], dict[str, tuple[int, int]]]:
    """The Script (None if the front matter is unusable), every error, and where each
    front-matter key's value was written."""
    lines = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    errors = ErrorLog(path)
    for number, line in enumerate(lines, start=1):
        for offset, control in control_characters(line):
            errors.add(number, offset + 1, f"{control} is not allowed (delete it; {CONTROL_HINT})")
    head = read_front_matter(lines, errors)
    if head.meta is not None and head.meta.cover is not None:
        for problem in cover_text_problems(head.meta.cover):
            errors.add(*head.positions["cover"], problem)
    body = BodyParser(errors, head.locales_to_check, head.pause)
    sections = body.parse(lines[head.body_start - 1 :], head.body_start, need_text=head.closed)
    script = None
    if head.meta is not None:
        script = Script(
            path=path,
            slug=PurePath(path).stem,
            meta=head.meta,
            sections=sections,
            lexicon=lexicon,
            body_line=head.body_start,
            positions=tuple((key, *where) for key, where in head.positions.items()),
            bell_seconds=_bowl_seconds() if _rings_whole(sections, head.meta.bell) else None,
        )
    return script, errors.items, head.positions


def _rings_whole(sections: Iterable[Section], bell: str) -> bool:
    """Whether the built-in bowl is the bell and some ``[bell]`` lets it ring whole, so that
    its length is needed. (A bell file's length is measured when the script is loaded.)"""
    if bell != DEFAULTS.bell:
        return False

    # A walk with a stack of its own: emphasis may nest deeper than Python's recursion.
    stack: list[Inline] = [item for s in sections for p in s.paragraphs for item in p.items]
    while stack:
        item = stack.pop()
        if isinstance(item, BellTag) and item.seconds is None:
            return True
        if isinstance(item, Emphasis):
            stack.extend(item.children)
    return False


def _bowl_seconds() -> float:
    from pipeline import sound  # only a script that rings the bowl needs it

    return sound.bowl_seconds()
