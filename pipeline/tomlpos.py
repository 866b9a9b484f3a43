"""Where a key of a TOML file was written, for ``path:line:col`` messages.

text -> KeyPositions (table headers, keys, fallback entries -> line and column)
TOMLDecodeError -> line, column and message without tomllib's own "(at line ...)"

tomllib keeps no positions for the values it returns, only for syntax errors, so every reader
of a TOML input (voice profiles, lexicons, ``voicetrack.toml``) finds its keys here.
"""

from __future__ import annotations

import bisect
import re
import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

_AT_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_AT_END = re.compile(r"\s*\(at end of document\)$")


def decode_error(error: tomllib.TOMLDecodeError, text: str) -> tuple[int, int, str]:
    """The line, column and message of a syntax error in ``text``. An error at the end of
    the document is placed at the start of its last line."""
    message = getattr(error, "msg", None) or str(error)
    line = getattr(error, "lineno", None)
    col = getattr(error, "colno", None)
    full = str(error)
    match = _AT_POSITION.search(full)
    if not (isinstance(line, int) and isinstance(col, int)):
        if match:
            line, col = int(match[1]), int(match[2])
        else:
            line, col = max(text.count("\n") + (0 if text.endswith("\n") else 1), 1), 1
    message = _AT_END.sub("", _AT_POSITION.sub("", message))
    return line, col, message


class KeyPositions:
    """Finds where a key was written, since tomllib reports positions only for syntax errors.

    A light scan of the text, not a second parser: it understands table headers, ``key =``
    at the start of a line, and the inline tables of a ``fallback = [...]`` array, skipping
    strings and comments.  When it cannot find a key it falls back to the table header.
    """

    _HEADER = re.compile(r"^[ \t]*\[(?!\[)[ \t]*(\"[^\"\n]*\"|'[^'\n]*'|[^\]\n]*?)[ \t]*\]", re.M)

    def __init__(self, text: str):
        self.text = text
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        headers = [
            (m.group(1).strip("\"'"), text.index("[", m.start()), m.end())
            for m in self._HEADER.finditer(text)
        ]
        self.top = (0, headers[0][1] if headers else len(text))
        self.tables: dict[str, tuple[int, int, int]] = {}  # name -> (header, body, end)
        for i, (name, start, end) in enumerate(headers):
            stop = headers[i + 1][1] if i + 1 < len(headers) else len(text)
            self.tables.setdefault(name, (start, end, stop))

    def where(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.line_starts, offset) - 1
        return line + 1, offset - self.line_starts[line] + 1

    def table(self, name: str) -> tuple[int, int]:
        """Where the header ``[name]`` is written (its bracket); the start of the file when
        there is none."""
        span = self.tables.get(name)
        return self.where(span[0]) if span else (1, 1)

    def _region(self, table: str | None) -> tuple[int, int] | None:
        if table is None:
            return self.top
        span = self.tables.get(table)
        return (span[1], span[2]) if span else None

    def _key_offset(self, table: str | None, key: str) -> int | None:
        region = self._region(table)
        if region is None:
            return None
        pattern = re.compile(
            rf"^[ \t]*(?:\"{re.escape(key)}\"|'{re.escape(key)}'|{re.escape(key)})[ \t]*=", re.M
        )
        match = pattern.search(self.text, region[0], region[1])
        if not match:
            return None
        return match.start() + len(match.group(0)) - len(match.group(0).lstrip())

    def key(self, table: str | None, key: str) -> tuple[int, int]:
        """Where ``key = ...`` is written in ``table`` (None: before the first header).

        A top-level name written as a table header (``[en-GB]``) is found at its header.
        Not found: the table's header, or the start of the file.
        """
        offset = self._key_offset(table, key)
        if offset is not None:
            return self.where(offset)
        if table is None and key in self.tables:
            return self.table(key)
        return self.table(table) if table else (1, 1)

    def fallback(self, table: str, index: int, key: str | None) -> tuple[int, int]:
        """Position of ``key`` in the ``index``-th entry of ``[table].fallback`` (or of the
        entry itself when ``key`` is None)."""
        start = self._key_offset(table, "fallback")
        if start is None:
            return self.table(table)
        entries = self._array_entries(self.text.index("=", start) + 1)
        if index >= len(entries):
            return self.where(start)
        entry_start, entry_end = entries[index]
        if key is not None:
            pattern = re.compile(rf"(?<![\w\"'-])(?:\"{re.escape(key)}\"|{re.escape(key)})[ \t]*=")
            match = pattern.search(self.text, entry_start, entry_end)
            if match:
                return self.where(match.start())
        return self.where(entry_start)

    def _array_entries(self, offset: int) -> list[tuple[int, int]]:
        """Spans of the top-level items of the array starting after ``offset``."""
        text = self.text
        entries: list[tuple[int, int]] = []
        depth = 0
        item_start: int | None = None
        i = offset
        while i < len(text):
            ch = text[i]
            if ch in "\"'":
                i = _skip_string(text, i)
                if depth == 1 and item_start is None:
                    item_start = i
                continue
            if ch == "#":
                i = text.find("\n", i)
                i = len(text) if i < 0 else i
                continue
            if ch in "[{":
                depth += 1
                if depth == 2 and item_start is None:
                    item_start = i
            elif ch in "]}":
                depth -= 1
                if depth == 1 and item_start is not None:
                    entries.append((item_start, i + 1))
                    item_start = None
                if depth == 0:
                    break
            elif depth == 1 and not ch.isspace() and ch != "," and item_start is None:
                item_start = i
            elif depth == 1 and ch == "," and item_start is not None:
                entries.append((item_start, i))
                item_start = None
            i += 1
        return entries


def _skip_string(text: str, i: int) -> int:
    """Offset just after the TOML string starting at ``i`` (basic, literal or multi-line)."""
    quote = text[i]
    triple = text.startswith(quote * 3, i)
    end_mark = quote * 3 if triple else quote
    j = i + len(end_mark)
    while j < len(text):
        if quote == '"' and text[j] == "\\":
            j += 2
            continue
        if text.startswith(end_mark, j):
            return j + len(end_mark)
        if not triple and text[j] == "\n":
            return j
        j += 1
    return j
