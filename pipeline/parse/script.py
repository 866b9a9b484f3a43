"""The text of a script -> :class:`~pipeline.model.Script`, without the file system.

The front matter is read first, since the body needs from it the script's locales and the
length of a bare ``[pause]``; then the body. Every error of both parts is collected.
"""

from __future__ import annotations

from pathlib import PurePath

from pipeline.errors import CONTROL_HINT, ScriptError, SourceError, control_characters
from pipeline.model import Lexicon, Script
from pipeline.parse.blocks import BodyParser
from pipeline.parse.errorlog import ErrorLog
from pipeline.parse.frontmatter import cover_text_problems, read_front_matter

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
        )
    return script, errors.items, head.positions
