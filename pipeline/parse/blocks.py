"""Body blocks: the lines after the front matter -> sections of paragraphs.

Comments are removed line by line (keeping each character's original column), lines are
grouped into headings and paragraphs, and each paragraph's text is handed to the inline
parser.
"""

from __future__ import annotations

import re

from pipeline.model import Inline, Paragraph, Section
from pipeline.parse.errorlog import ErrorLog
from pipeline.parse.inline import InlineParser, InlineRules
from pipeline.parse.runs import Line, Run


def strip_comments(raw_lines: list[str], first: int, errors: ErrorLog) -> list[Line]:
    """Body lines without comments; lines that held nothing but comments are dropped,
    so that a comment never turns into a blank line that would split a paragraph."""
    out: list[Line] = []
    opened: tuple[int, int] | None = None  # where the comment still open began
    for number, raw in enumerate(raw_lines, start=first):
        chars: list[str] = []
        cols: list[int] = []
        had_comment = opened is not None
        i = 0
        while i < len(raw):
            if opened is not None:
                close = raw.find("-->", i)
                if close < 0:
                    break
                opened, i = None, close + 3
            elif raw[i] == "\\" and i + 1 < len(raw):
                chars += raw[i : i + 2]
                cols += [i + 1, i + 2]
                i += 2
            elif raw.startswith("<!--", i):
                opened, had_comment, i = (number, i + 1), True, i + 4
            else:
                chars.append(raw[i])
                cols.append(i + 1)
                i += 1
        text = "".join(chars)
        if not (had_comment and not text.strip()):
            out.append(Line(number, text, cols))
    if opened is not None:
        errors.add(*opened, "unclosed comment: end it with '-->'")
    return out


_HEADING = re.compile(r"(#+)([ \t]+)(.*)")
_BLOCK_PROBLEMS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(`{3,}|~{3,})"), "unsupported Markdown: code block"),
    (
        re.compile(r"([-*_])[ \t]*(\1[ \t]*){2,}"),
        "unsupported Markdown: horizontal rule (start a new section with '# ' instead)",
    ),
    (
        re.compile(r"=+[ \t]*"),
        "unsupported Markdown: heading underline (start the heading line with '# ' instead)",
    ),
    (re.compile(r"[-*+][ \t].*|[-*+]"), "unsupported Markdown: list"),
    (re.compile(r"\d{1,9}[.)]([ \t].*)?"), "unsupported Markdown: numbered list"),
    (re.compile(r">.*"), "unsupported Markdown: block quote"),
    (re.compile(r"\|.*"), "unsupported Markdown: table"),
)


def _block_problem(stripped: str) -> str | None:
    for pattern, message in _BLOCK_PROBLEMS:
        if pattern.fullmatch(stripped):
            return message
    if stripped.startswith("#"):
        if stripped.strip("#"):
            return "a heading needs a space after its '#'"
        return "empty heading"
    return None


class BodyParser:
    """Groups body lines into sections and paragraphs and parses their inline text."""

    def __init__(self, errors: ErrorLog, locales: tuple[str, ...] | None, default_pause: float):
        self.errors = errors
        self.rules = InlineRules(errors, locales, default_pause)

    def parse(self, raw_lines: list[str], first: int, need_text: bool) -> tuple[Section, ...]:
        errors_before = len(self.errors.items)
        lines = strip_comments(raw_lines, first, self.errors)
        sections: list[Section] = []
        paragraphs: list[Paragraph] = []
        heading: tuple[tuple[Inline, ...], int, int] | None = None  # (inlines, level, line)
        pending: list[Line] = []

        def end_paragraph() -> None:
            if pending:
                paragraphs.append(self._paragraph(pending))
                pending.clear()

        def end_section() -> None:
            end_paragraph()
            if heading is not None:
                inlines, level, line = heading
                number = sum(1 for s in sections if s.heading is not None) + 1
                sections.append(Section(number, inlines, level, line, tuple(paragraphs)))
            elif paragraphs:
                sections.append(Section(0, None, 0, paragraphs[0].line, tuple(paragraphs)))
            paragraphs.clear()

        for line in lines:
            stripped = line.text.strip()
            if not stripped:
                end_paragraph()
                continue
            indent = len(line.text) - len(line.text.lstrip())
            heading_match = _HEADING.fullmatch(line.text, indent)
            if heading_match and heading_match[3].strip():
                end_section()
                heading = self._heading(line, heading_match)
                continue
            problem = _block_problem(stripped)
            if problem:
                self.errors.add(line.number, line.cols[indent], problem)
                continue
            pending.append(line)
        end_section()

        quiet = len(self.errors.items) == errors_before
        if need_text and quiet and not any(s.paragraphs or s.heading for s in sections):
            self.errors.add(first, 1, "the script has no text")
        return tuple(sections)

    def _heading(self, line: Line, match: re.Match[str]) -> tuple[tuple[Inline, ...], int, int]:
        start = match.start(3)
        run = Run.from_lines([(line, start, len(line.text))]).stripped()
        inlines = InlineParser(self.rules, run, where="heading").parse()
        return inlines, len(match[1]), line.number

    def _paragraph(self, lines: list[Line]) -> Paragraph:
        pieces = []
        for line in lines:
            start = len(line.text) - len(line.text.lstrip())
            end = len(line.text.rstrip())
            pieces.append((line, start, end))
        run = Run.from_lines(pieces)
        return Paragraph(lines[0].number, InlineParser(self.rules, run, where="paragraph").parse())
