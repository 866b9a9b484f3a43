"""Parse stage: the text of a script -> :class:`~pipeline.model.Script`.

:func:`parse_script` is pure: it takes the text, the path to show in messages and the
lexicon, and gives a Script or raises one :class:`~pipeline.errors.ScriptError` holding every
problem in the file, each at its 1-based line and column. :func:`load_script` adds the file
system: it reads the script and the lexicon files above it and checks the cover image.

The body is read in three passes: comments are removed line by line (keeping each
character's original column), lines are grouped into headings and paragraphs, and each
paragraph's characters are scanned into inline nodes.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path, PurePath
from typing import Literal

from pipeline.durations import parse_duration
from pipeline.errors import CONTROL_HINT, ScriptError, SourceError, control_characters
from pipeline.lexicon import display_path, load_lexicon
from pipeline.locales import canonical_locale
from pipeline.model import (
    DEFAULT_LOCALES,
    Emphasis,
    FrontMatter,
    Inline,
    Lexicon,
    Paragraph,
    Pause,
    Say,
    Script,
    Section,
    Text,
    Variant,
)
from pipeline.paths import inside_root, read_source

NO_LEXICON = Lexicon()
DEFAULTS = FrontMatter(title="")
MAX_PAUSE = 600.0  # seconds; one pause tag may not be longer
MAX_EMPHASIS_DEPTH = 20  # emphasis inside emphasis; no reading needs more than a few
#: Loudness targets a spoken track can sensibly have: quieter is lost in a room's noise,
#: louder cannot keep the true peak at -1 dBTP without crushing the voice.
LOUDNESS_RANGE = (-30.0, -10.0)
BREAK_STRENGTHS = {
    "none": 0.0,
    "x-weak": 0.25,
    "weak": 0.5,
    "medium": 1.0,
    "strong": 2.0,
    "x-strong": 3.0,
}
ESCAPABLE = frozenset("[]{}|*_<\\")
FRONT_MATTER_KEYS = tuple(f.name for f in fields(FrontMatter))
COVER_SUFFIXES = (".jpg", ".jpeg", ".png")
SCRIPT_OUTSIDE_ROOT = (
    "the script is outside the project root (scripts are read only from inside it)"
)
ABOUT_SUFFIX = ".about.md"  # <slug>.about.md beside a script is its page text, not a script


# --------------------------------------------------------------------------- entry points


def parse_script(text: str, path: str, lexicon: Lexicon = NO_LEXICON) -> Script:
    """The Script written in ``text``; ``path`` is used for the slug and in messages."""
    script, errors, _ = _parse(text, path, lexicon)
    if errors or script is None:
        raise ScriptError(errors)
    return script


def load_script(path: Path, root: Path) -> Script:
    """Read and parse the script at ``path`` with the lexicons between it and ``root``.

    Paths in the Script and in errors are relative to ``root``. The script (symlinks
    resolved) must be inside ``root``, or it is refused unread; so must its cover image.
    """
    shown = display_path(path, root)
    if inside_root(root, path) is None:
        raise ScriptError.at(shown, 1, 1, SCRIPT_OUTSIDE_ROOT)
    errors: list[SourceError] = []
    try:
        lexicon = load_lexicon(path.parent, root)
    except ScriptError as error:
        errors.extend(error.errors)
        lexicon = NO_LEXICON
    try:
        text = _read_text(path, shown)
    except ScriptError as error:
        raise ScriptError([*errors, *error.errors]) from None
    script, script_errors, positions = _parse(text, shown, lexicon)
    errors.extend(script_errors)
    if script is not None and script.meta.cover is not None:
        line, col = positions["cover"]
        for problem in cover_problems(script.meta.cover, path.parent, root):
            errors.append(SourceError(shown, line, col, problem))
    if script is not None:
        errors.extend(_about_errors(script, path, root, positions))
    if errors or script is None:
        raise ScriptError(errors)
    return script


def cover_problems(cover: str, script_dir: Path, root: Path) -> list[str]:
    """Why the file ``cover`` (relative to the script's folder) cannot be used, if it cannot.
    A cover outside the root is not opened at all."""
    resolved = inside_root(root, script_dir / cover)
    if resolved is None:
        return [f"cover {cover} is outside the project root"]
    if not resolved.is_file():
        return [f"cover image {cover} not found"]
    try:
        with open(resolved, "rb") as file:
            head = file.read(len(PNG_SIGNATURE))
    except OSError as error:
        return [f"cover image {cover} cannot be read: {error.strerror or error}"]
    if image_type(head) is None:
        return [f"cover image {cover} is not a JPEG or PNG file (its first bytes are neither's)"]
    return []


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"


def image_type(data: bytes) -> str | None:
    """The MIME type of a JPEG or PNG image from its first bytes; None for anything else."""
    if data.startswith(PNG_SIGNATURE):
        return "image/png"
    if data.startswith(JPEG_SIGNATURE):
        return "image/jpeg"
    return None


def is_script_name(path: PurePath) -> bool:
    """False for a page text (``<slug>.about.md``), which sits beside the scripts."""
    return not path.name.endswith(ABOUT_SUFFIX)


def about_file(script: Script, root: Path) -> Path | None:
    """The page text of ``script``: its ``about:`` file, else ``<slug>.about.md`` beside the
    script if there is one, else None."""
    folder = (root / script.path).parent
    if script.meta.about is not None:
        return folder / script.meta.about
    default = folder / f"{script.slug}{ABOUT_SUFFIX}"
    return default if default.is_file() else None


def _about_errors(
    script: Script, path: Path, root: Path, positions: dict[str, tuple[int, int]]
) -> list[SourceError]:
    """A named ``about:`` file must exist inside the root and be UTF-8; a problem is reported
    on the ``about:`` line (or, for the default file, in that file)."""
    shown = display_path(path, root)
    about = script.meta.about
    target = about_file(script, root)
    if target is None:
        return []
    resolved = inside_root(root, target)
    if about is not None:
        line, col = positions["about"]
        if resolved is None:
            return [SourceError(shown, line, col, f"about {about} is outside the project root")]
        if not resolved.is_file():
            return [SourceError(shown, line, col, f"about file {about} not found")]
    elif resolved is None:
        message = f"{target.name} is a link to a file outside the project root"
        return [SourceError(display_path(target, root), 1, 1, message)]
    try:
        _read_text(target, display_path(target, root))
    except ScriptError as error:
        if about is None:
            return list(error.errors)
        problem = error.errors[0]
        where = f"line {problem.line}, column {problem.col}"
        return [
            SourceError(shown, line, col, f"about file {about} is {problem.message} at {where}")
        ]
    return []


def _read_text(path: Path, shown: str, what: str = "script") -> str:
    return read_source(path, shown, what)


def _parse(
    text: str, path: str, lexicon: Lexicon
) -> tuple[Script | None, list[SourceError], dict[str, tuple[int, int]]]:
    """The Script (None if the front matter is unusable), every error, and where each
    front-matter key's value was written."""
    lines = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    errors = _Errors(path)
    for number, line in enumerate(lines, start=1):
        for offset, control in control_characters(line):
            errors.add(number, offset + 1, f"{control} is not allowed (delete it; {CONTROL_HINT})")
    head = _read_front_matter(lines, errors)
    if head.meta is not None and head.meta.cover is not None:
        for problem in _cover_text_problems(head.meta.cover):
            errors.add(*head.positions["cover"], problem)
    body = _BodyParser(errors, head.locales_to_check, head.pause)
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


@dataclass
class _Errors:
    path: str
    items: list[SourceError] = field(default_factory=list)

    def add(self, line: int, col: int, message: str) -> None:
        self.items.append(SourceError(self.path, line, col, message))


# --------------------------------------------------------------------------- front matter


class _Problem(Exception):
    """A front-matter value is wrong; ``offset`` is its column offset within the value."""

    def __init__(self, message: str, offset: int = 0):
        super().__init__(message)
        self.message = message
        self.offset = offset


@dataclass
class _Scalar:
    text: str
    offset: int  # column offset of the value within the text after the colon


@dataclass
class _List:
    items: list[_Scalar]
    offset: int


@dataclass
class _Head:
    """What the body parser needs from the front matter, even when it has errors."""

    meta: FrontMatter | None
    positions: dict[str, tuple[int, int]]  # where each key's value is written
    body_start: int  # 1-based line where the body starts
    locales_to_check: tuple[str, ...] | None  # None when the locales are unknown
    pause: float = DEFAULTS.pause  # length of a bare [pause]
    closed: bool = True  # False when the front matter never ends (so there is no body)


_KEY_LINE = re.compile(r"(\s*)([A-Za-z_][\w-]*)\s*:(.*)")


def _read_front_matter(lines: list[str], errors: _Errors) -> _Head:
    values: dict[str, object] = {}
    positions: dict[str, tuple[int, int]] = {}
    if lines[0].strip() != "---":
        errors.add(
            1,
            1,
            "the script must start with front matter: a line '---', then "
            "'title: …', then another line '---'",
        )
        return _Head(None, positions, 1, DEFAULT_LOCALES)
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        errors.add(1, 1, "the front matter is not closed: add a line '---' after it")
        return _Head(None, positions, len(lines) + 1, DEFAULT_LOCALES, closed=False)

    failed: set[str] = set()
    for index in range(1, end):
        number, raw = index + 1, lines[index]
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        match = _KEY_LINE.fullmatch(raw)
        if not match:
            col = len(raw) - len(raw.lstrip()) + 1
            errors.add(number, col, "expected 'key: value'")
            continue
        key, key_col = match[2], len(match[1]) + 1
        value_col = match.start(3) + 1
        if key not in FRONT_MATTER_KEYS:
            errors.add(number, key_col, _unknown_key_message(key))
            continue
        if key in positions:
            errors.add(
                number, key_col, f"'{key}' is given twice (first on line {positions[key][0]})"
            )
            continue
        positions[key] = (number, value_col + len(match[3]) - len(match[3].lstrip()))
        try:
            values[key] = _CONVERTERS[key](key, _lex_value(match[3]))
        except _Problem as problem:
            failed.add(key)
            errors.add(number, value_col + problem.offset, problem.message)

    meta = None
    if "title" not in values and "title" not in failed:
        errors.add(1, 1, "the front matter has no 'title'")
    elif "title" in values:
        meta = FrontMatter(**values)  # type: ignore[arg-type]
    locales = None if "locales" in failed else values.get("locales", DEFAULT_LOCALES)
    pause = values.get("pause", DEFAULTS.pause)
    return _Head(meta, positions, end + 2, locales, pause)  # type: ignore[arg-type]


def _unknown_key_message(key: str) -> str:
    close = difflib.get_close_matches(key.lower(), FRONT_MATTER_KEYS, n=1, cutoff=0.6)
    if close:
        return f"unknown key '{key}'; did you mean '{close[0]}'?"
    return f"unknown key '{key}' (known keys: {', '.join(FRONT_MATTER_KEYS)})"


def _lex_value(raw: str) -> _Scalar | _List:
    """Split the text after ``key:`` into a scalar or a ``[a, b]`` list, dropping comments."""
    i = _skip_spaces(raw, 0)
    if i < len(raw) and raw[i] == "[":
        items, i = _lex_list(raw, i)
        value: _Scalar | _List = _List(items, _skip_spaces(raw, 0))
    elif i < len(raw) and raw[i] in "\"'":
        value, i = _lex_quoted(raw, i)
    else:
        cut = _comment_start(raw, i)
        return _Scalar(raw[i:cut].rstrip(), i)
    rest = _skip_spaces(raw, i)
    if rest < len(raw) and raw[rest] != "#":
        raise _Problem("unexpected text after the value", rest)
    return value


def _lex_list(raw: str, start: int) -> tuple[list[_Scalar], int]:
    items: list[_Scalar] = []
    i = start + 1
    while True:
        i = _skip_spaces(raw, i)
        if i >= len(raw):
            raise _Problem("unclosed '[': end the list with ']'", start)
        if raw[i] == "]":
            return items, i + 1
        if raw[i] in "\"'":
            item, i = _lex_quoted(raw, i)
        else:
            j = i
            while j < len(raw) and raw[j] not in ",]":
                j += 1
            item, i = _Scalar(raw[i:j].rstrip(), i), j
        items.append(item)
        i = _skip_spaces(raw, i)
        if i < len(raw) and raw[i] == ",":
            i += 1
        elif i < len(raw) and raw[i] != "]":
            raise _Problem("expected ',' or ']' in the list", i)


def _lex_quoted(raw: str, start: int) -> tuple[_Scalar, int]:
    quote, out, i = raw[start], [], start + 1
    while i < len(raw):
        c = raw[i]
        if quote == '"' and c == "\\" and i + 1 < len(raw) and raw[i + 1] in '"\\':
            out.append(raw[i + 1])
            i += 2
        elif c == quote and quote == "'" and raw.startswith("''", i):
            out.append("'")
            i += 2
        elif c == quote:
            return _Scalar("".join(out), start), i + 1
        else:
            out.append(c)
            i += 1
    raise _Problem(f"unclosed quote {quote}", start)


def _skip_spaces(raw: str, i: int) -> int:
    while i < len(raw) and raw[i] in " \t":
        i += 1
    return i


def _comment_start(raw: str, i: int) -> int:
    """Where a ``#`` comment starts: at the value's start or after a space, as in YAML."""
    for j in range(i, len(raw)):
        if raw[j] == "#" and (j == i or raw[j - 1] in " \t"):
            return j
    return len(raw)


def _scalar(key: str, value: _Scalar | _List) -> _Scalar:
    if isinstance(value, _List):
        raise _Problem(
            f"'{key}' takes one value, not a list (quote it to keep the brackets)", value.offset
        )
    if not value.text.strip():
        raise _Problem(f"'{key}' has no value", value.offset)
    return value


def _text_value(key: str, value: _Scalar | _List) -> str:
    return _scalar(key, value).text.strip()


#: What a voice role's name may be, in a script or on the command line: it names the file
#: voices/<role>.toml and the folder takes/<role>/, so it can hold no path.
ROLE_NAME = re.compile(r"[A-Za-z0-9][\w-]*")


def is_role_name(name: str) -> bool:
    return ROLE_NAME.fullmatch(name) is not None


def _voice_value(key: str, value: _Scalar | _List) -> str:
    scalar = _scalar(key, value)
    if not is_role_name(scalar.text):
        raise _Problem(
            "voice must be a role name of letters, digits, '-' and '_', like narrator",
            scalar.offset,
        )
    return scalar.text


def _track_value(key: str, value: _Scalar | _List) -> int:
    scalar = _scalar(key, value)
    if not re.fullmatch(r"\d+", scalar.text) or int(scalar.text) < 1:
        raise _Problem(
            f"track must be a whole number, 1 or more (not {scalar.text})", scalar.offset
        )
    return int(scalar.text)


def _number(key: str, value: _Scalar | _List, unit: str = "") -> tuple[float, int]:
    scalar = _scalar(key, value)
    text = re.sub(rf"\s*{unit}$", "", scalar.text, flags=re.IGNORECASE) if unit else scalar.text
    if not re.fullmatch(r"[-+]?(\d+(\.\d*)?|\.\d+)", text):
        raise _Problem(f"{key} must be a number, not {scalar.text}", scalar.offset)
    return float(text), scalar.offset


def _rate_value(key: str, value: _Scalar | _List) -> float:
    rate, offset = _number(key, value)
    if not 0.5 <= rate <= 2.0:
        raise _Problem(f"rate must be from 0.5 to 2.0 (not {rate:g})", offset)
    return rate


def _loudness_value(key: str, value: _Scalar | _List) -> float:
    lufs, offset = _number(key, value, unit="LUFS")
    low, high = LOUDNESS_RANGE
    if not low <= lufs <= high:
        raise _Problem(f"loudness must be from {low:g} to {high:g} LUFS (not {lufs:g})", offset)
    return lufs


def _duration_value(key: str, value: _Scalar | _List) -> float:
    scalar = _scalar(key, value)
    try:
        seconds = parse_duration(scalar.text)
    except ValueError as error:
        raise _Problem(str(error), scalar.offset) from None
    if key == "pause" and seconds > MAX_PAUSE:
        raise _Problem(
            f"pause {scalar.text} is longer than the 10-minute limit for one pause", scalar.offset
        )
    return seconds


def _boolean_value(key: str, value: _Scalar | _List) -> bool:
    scalar = _scalar(key, value)
    word = scalar.text.lower()
    if word in ("true", "yes", "on"):
        return True
    if word in ("false", "no", "off"):
        return False
    raise _Problem(f"{key} must be true or false (not {scalar.text})", scalar.offset)


def _locales_value(key: str, value: _Scalar | _List) -> tuple[str, ...]:
    items = value.items if isinstance(value, _List) else [_scalar(key, value)]
    if not items:
        raise _Problem("locales must name at least one locale, like [en-GB, en-US]", value.offset)
    tags: list[str] = []
    for item in items:
        tag = canonical_locale(item.text)
        if tag is None:
            raise _Problem(f"'{item.text}' is not a locale tag (like en-GB)", item.offset)
        if tag in tags:
            raise _Problem(f"locale {tag} is listed twice", item.offset)
        tags.append(tag)
    return tuple(tags)


def _cover_value(key: str, value: _Scalar | _List) -> str:
    # Everything wrong with the path is reported together: by _cover_text_problems, and by
    # cover_problems once the file system is at hand.
    return _scalar(key, value).text.strip()


def _cover_text_problems(path: str) -> list[str]:
    problems = []
    if PurePath(path).is_absolute() or re.match(r"[A-Za-z]:[\\/]", path):
        problems.append("cover must be a path relative to the script's folder")
    if not path.lower().endswith(COVER_SUFFIXES):
        problems.append("cover must be a JPEG or PNG image (.jpg, .jpeg or .png)")
    return problems


def _techniques_value(key: str, value: _Scalar | _List) -> tuple[str, ...]:
    items = value.items if isinstance(value, _List) else [_scalar(key, value)]
    names: list[str] = []
    for item in items:
        name = " ".join(item.text.split())
        if not name:
            raise _Problem("a technique cannot be empty", item.offset)
        if name.casefold() in (n.casefold() for n in names):
            raise _Problem(f"technique {name!r} is listed twice", item.offset)
        names.append(name)
    return tuple(names)


def _about_value(key: str, value: _Scalar | _List) -> str:
    scalar = _scalar(key, value)
    path = scalar.text.strip()
    if PurePath(path).is_absolute() or re.match(r"[A-Za-z]:[\\/]", path):
        raise _Problem("about must be a path relative to the script's folder", scalar.offset)
    return path


_Converter = Callable[[str, "_Scalar | _List"], object]
_CONVERTERS: dict[str, _Converter] = {
    "title": _text_value,
    "collection": _text_value,
    "track": _track_value,
    "author": _text_value,
    "description": _text_value,
    "locales": _locales_value,
    "voice": _voice_value,
    "pause": _duration_value,
    "sentence_pause": _duration_value,
    "paragraph_pause": _duration_value,
    "section_pause": _duration_value,
    "lead_in": _duration_value,
    "tail": _duration_value,
    "rate": _rate_value,
    "speak_headings": _boolean_value,
    "loudness": _loudness_value,
    "cover": _cover_value,
    "techniques": _techniques_value,
    "about": _about_value,
}
assert set(_CONVERTERS) == set(FRONT_MATTER_KEYS), "every front-matter key needs a converter"


# --------------------------------------------------------------------------- body: lines


@dataclass
class _Line:
    """One body line with comments removed; ``cols[i]`` is the source column of ``text[i]``."""

    number: int
    text: str
    cols: list[int]


def _strip_comments(raw_lines: list[str], first: int, errors: _Errors) -> list[_Line]:
    """Body lines without comments; lines that held nothing but comments are dropped,
    so that a comment never turns into a blank line that would split a paragraph."""
    out: list[_Line] = []
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
            out.append(_Line(number, text, cols))
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


# --------------------------------------------------------------------------- body: runs


@dataclass
class _Run:
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
    def from_lines(cls, pieces: list[tuple[_Line, int, int]]) -> _Run:
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

    def slice(self, start: int, end: int) -> _Run:
        return _Run(
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

    def stripped(self) -> _Run:
        start, end = 0, len(self.chars)
        while start < end and self.chars[start] in " \t":
            start += 1
        while end > start and self.chars[end - 1] in " \t":
            end -= 1
        return self.slice(start, end)


# --------------------------------------------------------------------------- body: blocks


class _BodyParser:
    """Groups body lines into sections and paragraphs and parses their inline text."""

    def __init__(self, errors: _Errors, locales: tuple[str, ...] | None, default_pause: float):
        self.errors = errors
        self.locales = locales
        self.default_pause = default_pause

    def parse(self, raw_lines: list[str], first: int, need_text: bool) -> tuple[Section, ...]:
        errors_before = len(self.errors.items)
        lines = _strip_comments(raw_lines, first, self.errors)
        sections: list[Section] = []
        paragraphs: list[Paragraph] = []
        heading: tuple[tuple[Inline, ...], int, int] | None = None  # (inlines, level, line)
        pending: list[_Line] = []

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

    def _heading(self, line: _Line, match: re.Match[str]) -> tuple[tuple[Inline, ...], int, int]:
        start = match.start(3)
        run = _Run.from_lines([(line, start, len(line.text))]).stripped()
        inlines = _InlineParser(self, run, where="heading").parse()
        return inlines, len(match[1]), line.number

    def _paragraph(self, lines: list[_Line]) -> Paragraph:
        pieces = []
        for line in lines:
            start = len(line.text) - len(line.text.lstrip())
            end = len(line.text.rstrip())
            pieces.append((line, start, end))
        run = _Run.from_lines(pieces)
        return Paragraph(lines[0].number, _InlineParser(self, run, where="paragraph").parse())


# --------------------------------------------------------------------------- body: inlines


@dataclass
class _Delimiter:
    """A run of emphasis markers, waiting for a partner."""

    char: str
    length: int  # of the run as written
    count: int  # markers of the run not yet paired
    can_open: bool
    can_close: bool
    at: int = 0  # index in the run, for errors


_ENTITY = re.compile(r"&(#\d+|#[xX][\da-fA-F]+|[A-Za-z][A-Za-z\d]*);")
_ELEMENT_NAME = re.compile(r"[/!?]?[\w:-]*")
_PAUSE_WORD = re.compile(r"\s*([^\s:]*)")
_SAY_TARGET = re.compile(r"\s*say\s*:(.*)", re.IGNORECASE | re.DOTALL)
_BREAK_ATTRIBUTE = re.compile(r"\s*([A-Za-z-]+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
Where = Literal["paragraph", "heading", "branch"]


class _InlineParser:
    """Scans one run (paragraph, heading or variant branch) into inline nodes."""

    def __init__(self, body: _BodyParser, run: _Run, where: Where):
        self.body = body
        self.run = run
        self.where = where
        self.nodes: list[str | _Delimiter | Inline] = []

    def error(self, i: int, message: str) -> None:
        line, col = self.run.pos[min(i, len(self.run) - 1)]
        self.body.errors.add(line, col, message)

    def parse(self) -> tuple[Inline, ...]:
        run, i = self.run, 0
        handlers: dict[str, Callable[[int], int]] = {
            "*": self._delimiter,
            "_": self._delimiter,
            "[": self._bracket,
            "{": self._variant,
            "<": self._angle,
            "]": lambda i: self._stray(i, "unexpected ']' (write \\] for a literal bracket)"),
            "}": lambda i: self._stray(i, "unexpected '}' (write \\} for a literal brace)"),
            "|": lambda i: self._stray(
                i, "unexpected '|' outside a variant (write \\| for a literal bar)"
            ),
            "`": self._backtick,
            "&": self._ampersand,
            "~": self._tilde,
        }
        while i < len(run):
            handler = None if run.escaped[i] else handlers.get(run.chars[i])
            if handler is None:
                self.nodes.append(run.chars[i])
                i += 1
            else:
                i = handler(i)
        nodes, too_deep = _resolve_emphasis(self.nodes)
        if too_deep is not None:
            self.error(too_deep, f"emphasis is nested more than {MAX_EMPHASIS_DEPTH} deep")
        return _finish(nodes)

    # -- single characters

    def _stray(self, i: int, message: str) -> int:
        self.error(i, message)
        return i + 1

    def _backtick(self, i: int) -> int:
        self.error(i, "unsupported Markdown: code")
        close = self.run.find("`", i + 1)
        return close + 1 if close > 0 else i + 1

    def _ampersand(self, i: int) -> int:
        match = _ENTITY.match(self.run.chars, i)
        if match and not any(self.run.escaped[i : match.end()]):
            self.error(
                i, f"unsupported Markdown: HTML entity {match[0]} (type the character itself)"
            )
            return match.end()
        self.nodes.append("&")
        return i + 1

    def _tilde(self, i: int) -> int:
        if self.run.markup(i + 1, "~"):
            self.error(i, "unsupported Markdown: strikethrough")
            close = self.run.find_text("~~", i + 2)
            return close + 2 if close > 0 else i + 2
        self.nodes.append("~")
        return i + 1

    def _delimiter(self, i: int) -> int:
        run, char = self.run, self.run.chars[i]
        end = i
        while run.markup(end, char):
            end += 1
        # Who may open and close follows CommonMark's flanking rules, which writers know
        # from every Markdown editor: "a * b" is literal, "*a*" is emphasis, "snake_case"
        # is a word, and "**" next to punctuation leans towards its word.
        before = run.chars[i - 1] if i > 0 else " "
        after = run.chars[end] if end < len(run) else " "
        left = not after.isspace() and (
            not _punctuation(after) or before.isspace() or _punctuation(before)
        )
        right = not before.isspace() and (
            not _punctuation(before) or after.isspace() or _punctuation(after)
        )
        if char == "_":
            can_open = left and (not right or _punctuation(before))
            can_close = right and (not left or _punctuation(after))
        else:
            can_open, can_close = left, right
        self.nodes.append(_Delimiter(char, end - i, end - i, can_open, can_close, i))
        return end

    # -- [pause …] tags and [printed](say: spoken)

    def _bracket(self, i: int) -> int:
        run = self.run
        close = run.find("[]", i + 1)
        if close < 0 or run.chars[close] == "[":
            self.error(i, "unclosed '[' (write \\[ for a literal bracket)")
            return i + 1
        if run.markup(close + 1, "("):
            return self._link(i, close)
        content = run.chars[i + 1 : close]
        source = run.source(i, close + 1)
        if any(run.escaped[i + 1 : close]):
            self.error(i, f"unknown tag {source}")
            return close + 1
        seconds = self._pause_seconds(i, content, source)
        if seconds is not None:
            self._pause(i, seconds, source)
        return close + 1

    def _pause_seconds(self, i: int, content: str, source: str) -> float | None:
        word_match = _PAUSE_WORD.match(content)
        assert word_match is not None
        word, rest = word_match[1], content[word_match.end() :]
        if word.lower() != "pause":
            self.error(i, _unknown_tag_message(source, word, rest))
            return None
        if rest and not (rest[0].isspace() or rest.lstrip().startswith(":")):
            self.error(i, _unknown_tag_message(source, word, rest))
            return None
        duration = rest.strip().removeprefix(":").strip()
        if not duration:
            if ":" in rest:
                self.error(i, f"{source} needs a duration after ':', like [pause:3s]")
                return None
            return self.body.default_pause
        return self._duration(i, source, duration)

    def _duration(self, i: int, source: str, text: str) -> float | None:
        try:
            seconds = parse_duration(text)
        except ValueError as error:
            self.error(i, f"invalid pause {source}: {error}")
            return None
        if seconds > MAX_PAUSE:
            self.error(i, f"{source} is longer than the 10-minute limit for one pause")
            return None
        return seconds

    def _pause(self, i: int, seconds: float, source: str) -> None:
        if self.where in ("heading", "branch"):
            place = "a heading" if self.where == "heading" else "a variant"
            self.error(i, f"pauses are not allowed in {place}")
            return
        line, col = self.run.pos[i]
        self.nodes.append(Pause(seconds, source, line, col))

    def _link(self, i: int, close: int) -> int:
        run = self.run
        if i > 0 and run.markup(i - 1, "!"):
            end = run.find(")", close + 2)
            self.error(i - 1, "unsupported Markdown: image")
            return end + 1 if end > 0 else close + 1
        end = run.find(")", close + 2)
        printed_text = run.source(i + 1, close)
        if end < 0:
            self.error(close + 1, f"unclosed '(' after [{printed_text}]")
            return close + 1
        target = _SAY_TARGET.fullmatch(run.chars[close + 2 : end])
        if target is None or any(run.escaped[close + 2 : close + 2 + target.start(1)]):
            self.error(
                i,
                f"unsupported link target ({run.source(close + 2, end)}): only (say: …) is allowed",
            )
            return end + 1
        printed = self._say_part(run.slice(i + 1, close), i, "printed text in [ ]")
        spoken = self._say_part(
            run.slice(close + 2 + target.start(1), end), i, "spoken text after 'say:'"
        )
        if printed and spoken:
            self.nodes.append(Say(printed, spoken))
        return end + 1

    def _say_part(self, part: _Run, at: int, what: str) -> str | None:
        bad = part.find("[]{}|<`")
        if bad >= 0:
            char = part.chars[bad]
            message = f"'{char}' is not allowed in a say-substitution"
            if char in ESCAPABLE:
                message += f" (write \\{char} for a literal one)"
            line, col = part.pos[bad]
            self.body.errors.add(line, col, message)
            return None
        text = _collapse(part.chars).strip()
        if not text:
            self.error(at, f"say-substitution has no {what}")
            return None
        return text

    # -- {en-GB: … | en-US: …}

    def _variant(self, i: int) -> int:
        run = self.run
        close = run.find("{}", i + 1)
        if close < 0:
            self.error(
                i,
                "unclosed '{' (a variant must end with '}' in the same paragraph; "
                "write \\{ for a literal brace)",
            )
            return len(run)
        if run.chars[close] == "{":
            self.error(close, "variants cannot be nested")
            return self._past_matching_brace(i)
        branches = self._branches(i, close)
        if branches is not None:
            line, col = run.pos[i]
            self.nodes.append(Variant(branches, line, col))
        return close + 1

    def _past_matching_brace(self, i: int) -> int:
        """Just past the ``}`` matching the ``{`` at ``i``, counting nested braces."""
        depth = 0
        for j in range(i, len(self.run)):
            if self.run.markup(j, "{"):
                depth += 1
            elif self.run.markup(j, "}"):
                depth -= 1
                if depth == 0:
                    return j + 1
        return len(self.run)

    def _branches(self, i: int, close: int) -> tuple[tuple[str, tuple[Inline, ...]], ...] | None:
        run = self.run
        bounds, start = [], i + 1
        while True:
            bar = run.find("|", start, close)
            bounds.append((start, close if bar < 0 else bar))
            if bar < 0:
                break
            start = bar + 1
        if len(bounds) == 1 and not run.chars[i + 1 : close].strip():
            self.error(i, "empty variant: write {en-GB: colour | en-US: color}")
            return None
        branches: list[tuple[str, tuple[Inline, ...]]] = []
        ok = True
        for start, end in bounds:
            branch = self._branch(run.slice(start, end), start, [t for t, _ in branches])
            if branch is None:
                ok = False
            else:
                branches.append(branch)
        return tuple(branches) if ok else None

    def _branch(
        self, part: _Run, offset: int, seen: list[str]
    ) -> tuple[str, tuple[Inline, ...]] | None:
        colon = part.find(":")
        lead = len(part.chars) - len(part.chars.lstrip())
        at = offset + min(lead, max(len(part) - 1, 0))
        if colon < 0:
            self.error(
                at, "each variant branch starts with a locale, like {en-GB: colour | en-US: color}"
            )
            return None
        written = part.chars[:colon].strip()
        tag = canonical_locale(written)
        if tag is None:
            self.error(at, f"'{written}' is not a locale tag (like en-GB)")
            return None
        locales = self.body.locales
        if locales is not None and tag not in locales:
            self.error(
                at, f"locale {tag} is not one of this script's locales ({', '.join(locales)})"
            )
            return None
        if tag in seen:
            self.error(at, f"locale {tag} has two branches in this variant")
            return None
        text = part.slice(colon + 1, len(part)).stripped()
        return tag, _InlineParser(self.body, text, where="branch").parse()

    # -- <break …/> and other HTML

    def _angle(self, i: int) -> int:
        run = self.run
        after = run.chars[i + 1 : i + 2]
        if re.match(r"break[\s/>]", run.chars[i + 1 : i + 7], re.IGNORECASE):
            return self._break(i)
        if after and (after.isalpha() or after in "/!?"):
            name = _ELEMENT_NAME.match(run.chars, i + 1)
            shown = name[0] if name else ""
            self.error(
                i,
                f"unsupported Markdown: HTML <{shown}> (only <!-- comments --> and "
                "<break/> are allowed)",
            )
            # Skip the element's closing tag too, so one element is one error.
            closing = run.find_text(f"</{shown}>", i + 1) if shown.isalnum() else -1
            end = closing + len(shown) + 2 if closing > 0 else run.find(">", i + 1)
            return end + 1 if end > 0 else i + 1
        self.nodes.append("<")
        return i + 1

    def _break(self, i: int) -> int:
        run = self.run
        end = run.find(">", i + 1)
        if end < 0:
            self.error(i, "unclosed <break> tag: end it with '/>'")
            return len(run)
        source = run.source(i, end + 1)
        body = run.chars[i + 6 : end].rstrip()
        body = body[:-1] if body.endswith("/") else body
        attributes: dict[str, str] = {}
        pos = 0
        while pos < len(body):
            match = _BREAK_ATTRIBUTE.match(body, pos)
            if match is None:
                if body[pos:].strip():
                    self.error(
                        i,
                        f'malformed {source}: write <break/>, <break time="3s"/> '
                        'or <break strength="medium"/>',
                    )
                    return end + 1
                break
            name = match[1].lower()
            if name not in ("time", "strength") or name in attributes:
                self.error(
                    i, f"unknown or repeated <break> attribute '{match[1]}' (use time or strength)"
                )
                return end + 1
            attributes[name] = match[2] if match[2] is not None else match[3]
            pos = match.end()
        seconds = self._break_seconds(i, source, attributes)
        if seconds is not None:
            self._pause(i, seconds, source)
        return end + 1

    def _break_seconds(self, i: int, source: str, attributes: dict[str, str]) -> float | None:
        if "time" in attributes and "strength" in attributes:
            self.error(i, f"{source} has both time and strength: use one")
            return None
        if "time" in attributes:
            return self._duration(i, source, attributes["time"])
        if "strength" in attributes:
            strength = attributes["strength"].strip().lower()
            if strength not in BREAK_STRENGTHS:
                self.error(
                    i,
                    f"unknown <break> strength '{attributes['strength']}' (use "
                    f"{', '.join(BREAK_STRENGTHS)})",
                )
                return None
            return BREAK_STRENGTHS[strength]
        return self.body.default_pause


def _unknown_tag_message(source: str, word: str, rest: str) -> str:
    """``unknown tag [pasue 3s]; did you mean [pause 3s]?`` where a pause tag is close."""
    suggestion = None
    lowered = word.lower()
    if lowered.startswith("pause") and _is_duration(lowered[5:] + rest):
        suggestion = f"[pause {(word[5:] + rest).strip()}]"
    elif difflib.get_close_matches(lowered, ["pause"], n=1, cutoff=0.6):
        suggestion = f"[pause{rest}]" if not rest.strip() or rest[0] in " \t:" else None
    if suggestion:
        return f"unknown tag {source}; did you mean {suggestion}?"
    return (
        f"unknown tag {source} (the only tag is [pause], as in [pause 3s]; write \\[ for a "
        "literal bracket)"
    )


def _is_duration(text: str) -> bool:
    try:
        parse_duration(text)
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------- emphasis


def _resolve_emphasis(
    nodes: list[str | _Delimiter | Inline],
) -> tuple[list[str | Inline], int | None]:
    """Pair emphasis markers: each closer takes the nearest opener of the same character;
    markers left between a pair, and markers without a partner, are literal text.

    Linear in the number of nodes, as CommonMark's delimiter algorithm is: nodes move into
    an Emphasis once, the openers a search passes over are taken into the pair it finds,
    and a search that finds nothing leaves a floor that later searches of its kind stop at.

    Also gives where emphasis first nests deeper than MAX_EMPHASIS_DEPTH (None if nowhere):
    later stages walk the nesting recursively.
    """
    out: list[str | _Delimiter | Inline] = []
    openers: dict[str, list[int]] = {"*": [], "_": []}  # indexes into ``out``, in order
    floors: dict[tuple[str, bool, int], int] = {}  # closer kind -> openers below: no partner
    depths: dict[int, int] = {}  # id of an Emphasis made here -> its depth
    too_deep: list[int] = []
    for node in nodes:
        if isinstance(node, _Delimiter):
            if node.can_close:
                _close(node, out, openers, floors, depths, too_deep)
            if node.can_open and node.count:
                openers[node.char].append(len(out))
        out.append(node)
    return _literal_delimiters(out), (too_deep[0] if too_deep else None)


def _close(
    closer: _Delimiter,
    out: list[str | _Delimiter | Inline],
    openers: dict[str, list[int]],
    floors: dict[tuple[str, bool, int], int],
    depths: dict[int, int],
    too_deep: list[int],
) -> None:
    """Pair ``closer`` with the openers before it while it has markers left."""
    stack = openers[closer.char]
    kind = (closer.char, closer.can_open, closer.length % 3)
    while closer.count:
        floor = floors.get(kind, 0)
        found = next(
            (
                k
                for k in range(len(stack) - 1, floor - 1, -1)
                if not _multiple_of_three(_opener_at(out, stack[k]), closer)
            ),
            None,
        )
        if found is None:
            floors[kind] = len(stack)
            return
        at = stack[found]
        opener = _opener_at(out, at)
        use = 2 if closer.char == "*" and opener.count >= 2 and closer.count >= 2 else 1
        inner = _literal_delimiters(out[at + 1 :])
        del out[at + 1 :]
        del stack[found + 1 :]
        for other in openers.values():  # openers inside the pair are literal now
            while other and other[-1] > at:
                other.pop()
        opener.count -= use
        closer.count -= use
        if not opener.count:
            stack.pop()
        for key in floors:  # a floor never stands above openers pushed after it
            floors[key] = min(floors[key], len(openers[key[0]]))
        emphasis = Emphasis("**" if use == 2 else closer.char, _finish(inner))  # type: ignore[arg-type]
        depth = 1 + max((depths.get(id(n), 0) for n in inner if isinstance(n, Emphasis)), default=0)
        depths[id(emphasis)] = depth
        if depth > MAX_EMPHASIS_DEPTH and not too_deep:
            too_deep.append(opener.at)
        out.append(emphasis)


def _opener_at(out: list[str | _Delimiter | Inline], index: int) -> _Delimiter:
    opener = out[index]
    assert isinstance(opener, _Delimiter)
    return opener


def _multiple_of_three(opener: _Delimiter, closer: _Delimiter) -> bool:
    """CommonMark's "rule of three": it keeps ``*a**b**c*`` from pairing ``*`` with ``**``."""
    both = (opener.can_open and opener.can_close) or (closer.can_open and closer.can_close)
    total = opener.length + closer.length
    return both and total % 3 == 0 and not (opener.length % 3 == 0 and closer.length % 3 == 0)


def _punctuation(char: str) -> bool:
    return unicodedata.category(char)[0] in "PS"


def _literal_delimiters(nodes: list[str | _Delimiter | Inline]) -> list[str | Inline]:
    return [n.char * n.count if isinstance(n, _Delimiter) else n for n in nodes]


def _finish(nodes: list[str | Inline]) -> tuple[Inline, ...]:
    """Merge adjacent characters into Text nodes, whitespace runs collapsed to one space."""
    out: list[Inline] = []
    buffer: list[str] = []
    for node in nodes:
        if isinstance(node, str):
            buffer.append(node)
            continue
        if buffer:
            out.append(Text(_collapse("".join(buffer))))
            buffer = []
        out.append(node)
    if buffer:
        out.append(Text(_collapse("".join(buffer))))
    return tuple(n for n in out if not (isinstance(n, Text) and not n.text))


_WHITESPACE = re.compile(r"[ \t\n\r\f\v]+")


def _collapse(text: str) -> str:
    return _WHITESPACE.sub(" ", text)
