"""Pronunciation suggestions: a word heard as another word -> the lexicon line that may fix it.

When the voice says a word so that a listener (the recogniser) hears another one, the word
either has a lexicon entry, whose respelling may be what goes wrong, or has none, and a
respelling may help. Either way the suggestion names a ``lexicon.toml`` and a line: the
entry in effect for the track's locale, or where a new entry would go.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

from pipeline.lexicon import LEXICON_FILE, display_path, lexicon_files
from pipeline.listen.normalise import normalise

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_TABLE = re.compile(r"^\s*\[\s*\"?([^\]\"]+?)\"?\s*\]\s*(?:#.*)?$")
_KEY = re.compile(r"^\s*(\"(?:[^\"\\]|\\.)*\"|'[^']*'|[A-Za-z0-9_-]+)\s*=")


@dataclass(frozen=True)
class Suggestion:
    """A word the voice may be mispronouncing, and where in a lexicon to fix it."""

    segment_id: str
    written: str  # the script's word, normalised
    heard: str
    lexicon: str  # the lexicon file, as messages show it
    line: int | None  # the entry's line, or the table's line a new entry goes under
    entry: str | None  # the entry in effect, as written in the file, if there is one
    table: str  # the table it is (or would be) in

    def __str__(self) -> str:
        if self.entry is not None:
            return (
                f"{self.segment_id}: {self.written!r} was heard as {self.heard!r}; "
                f"{self.lexicon}:{self.line}: {self.entry} may be what the voice says "
                "wrong: check this respelling"
            )
        where = f"{self.lexicon}:{self.line}" if self.line else self.lexicon
        return (
            f"{self.segment_id}: {self.written!r} was heard as {self.heard!r}; if the voice "
            f"mispronounces it, a respelling under [{self.table}] in {where} may fix it, "
            f'e.g. {self.written} = "…"'
        )


@dataclass(frozen=True)
class _Entry:
    path: Path
    table: str
    key: str
    line: int
    text: str


def lexicon_entries(script: Path, root: Path, locale: str) -> dict[str, _Entry]:
    """The lexicon entries in effect for ``locale``, keyed by their normalised word, each
    with the file and line it is written on (a [locale] entry wins over [all], and the
    nearest file wins within a table, as the build applies them)."""
    files = lexicon_files(script.parent, root)
    effective: dict[str, _Entry] = {}
    for table in ("all", locale):  # the locale's table last: it wins
        for path in reversed(files):  # nearest last: it wins
            for entry in _entries(path):
                if entry.table == table:
                    effective[normalise(entry.key)] = entry
    return effective


def _entries(path: Path) -> list[_Entry]:
    text = path.read_text(encoding="utf-8")
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return []  # the build has already refused it
    entries = []
    table = ""
    for number, line in enumerate(text.splitlines(), start=1):
        header = _TABLE.match(line)
        if header:
            table = header.group(1)
            continue
        key = _KEY.match(line)
        if key and table:
            raw = key.group(1)
            word = tomllib.loads(f"{raw} = 0")
            entries.append(_Entry(path, table, next(iter(word)), number, line.strip()))
    return entries


def suggest(
    segment_id: str,
    written: str,
    heard: str,
    *,
    script: Path,
    root: Path,
    locale: str,
    entries: dict[str, _Entry],
) -> Suggestion:
    entry = entries.get(written)
    if entry is not None:
        return Suggestion(
            segment_id,
            written,
            heard,
            display_path(entry.path, root),
            entry.line,
            entry.text,
            entry.table,
        )
    files = lexicon_files(script.parent, root)
    nearest = files[0] if files else script.parent / LEXICON_FILE
    line = None
    if nearest.is_file():
        for number, text in enumerate(nearest.read_text(encoding="utf-8").splitlines(), 1):
            header = _TABLE.match(text)
            if header and header.group(1) == locale:
                line = number
    return Suggestion(segment_id, written, heard, display_path(nearest, root), line, None, locale)
