"""Body text with its source positions: lines with comments removed, and runs of characters
with escapes resolved, each character remembering where it was written."""

from __future__ import annotations

from dataclasses import dataclass, field

ESCAPABLE = frozenset("[]{}|*_<\\")


@dataclass
class Line:
    """One body line with comments removed; ``cols[i]`` is the source column of ``text[i]``."""

    number: int
    text: str
    cols: list[int]


@dataclass
class Run:
    """Characters of a paragraph or heading with escapes resolved.

    ``escaped[i]`` marks a character that can never be markup; ``raw[i]`` is how it was
    written (for tags' source text); ``pos[i]`` is its source (line, column).
    """

    chars: str
    escaped: list[bool]
    raw: list[str]
    pos: list[tuple[int, int]]
    _found: dict[str, tuple[int, int]] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_lines(cls, pieces: list[tuple[Line, int, int]]) -> Run:
        """Join line slices ``(line, start, end)`` with a space, as a line break reads."""
        chars: list[str] = []
        escaped: list[bool] = []
        raw: list[str] = []
        pos: list[tuple[int, int]] = []
        for n, (line, start, end) in enumerate(pieces):
            if n:
                previous = pieces[n - 1][0]
                chars.append(" ")
                escaped.append(False)
                raw.append(" ")
                pos.append((previous.number, (previous.cols[-1] + 1) if previous.cols else 1))
            i = start
            while i < end:
                c = line.text[i]
                if c == "\\" and i + 1 < end and line.text[i + 1] in ESCAPABLE:
                    chars.append(line.text[i + 1])
                    escaped.append(True)
                    raw.append(line.text[i : i + 2])
                    i += 2
                else:
                    chars.append(c)
                    # A backslash before anything else is a literal backslash.
                    escaped.append(c == "\\")
                    raw.append(c)
                    i += 1
                pos.append((line.number, line.cols[i - len(raw[-1])]))
        return cls("".join(chars), escaped, raw, pos)

    def __len__(self) -> int:
        return len(self.chars)

    def slice(self, start: int, end: int) -> Run:
        return Run(
            self.chars[start:end], self.escaped[start:end], self.raw[start:end], self.pos[start:end]
        )

    def source(self, start: int, end: int) -> str:
        return "".join(self.raw[start:end])

    def markup(self, i: int, char: str) -> bool:
        """Whether position ``i`` holds an unescaped ``char``."""
        return i < len(self.chars) and self.chars[i] == char and not self.escaped[i]

    def find(self, targets: str, start: int = 0, end: int | None = None) -> int:
        """Index of the first unescaped character of ``targets`` from ``start``, or -1."""
        if end is not None:
            return self._scan(targets, start, end)
        # Searches to the end remember what they found, so that a construct repeated
        # without its closing character (``[a](`` a thousand times) is not quadratic.
        known = self._found.get(targets)
        if known is not None and known[0] <= start and (known[1] < 0 or start <= known[1]):
            return known[1]
        found = self._scan(targets, start, len(self.chars))
        self._found[targets] = (start, found)
        return found

    def find_text(self, text: str, start: int) -> int:
        """Index of ``text`` (escaped or not) from ``start``, or -1; remembered as find is."""
        key = "\0" + text
        known = self._found.get(key)
        if known is not None and known[0] <= start and (known[1] < 0 or start <= known[1]):
            return known[1]
        found = self.chars.find(text, start)
        self._found[key] = (start, found)
        return found

    def _scan(self, targets: str, start: int, stop: int) -> int:
        for i in range(start, stop):
            if self.chars[i] in targets and not self.escaped[i]:
                return i
        return -1

    def stripped(self) -> Run:
        start, end = 0, len(self.chars)
        while start < end and self.chars[start] in " \t":
            start += 1
        while end > start and self.chars[end - 1] in " \t":
            end -= 1
        return self.slice(start, end)
