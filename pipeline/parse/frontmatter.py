"""Front matter: the ``key: value`` lines between the two ``---`` lines ->
:class:`~pipeline.model.FrontMatter`, with where each value was written."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import PurePath

from pipeline.durations import parse_duration
from pipeline.locales import canonical_locale
from pipeline.model import DEFAULT_LOCALES, FrontMatter
from pipeline.parse.errorlog import ErrorLog
from pipeline.parse.inline import MAX_PAUSE

DEFAULTS = FrontMatter(title="")
#: Loudness targets a spoken track can sensibly have: quieter is lost in a room's noise,
#: louder cannot keep the true peak at -1 dBTP without crushing the voice.
LOUDNESS_RANGE = (-30.0, -10.0)
FRONT_MATTER_KEYS = tuple(f.name for f in fields(FrontMatter))
COVER_SUFFIXES = (".jpg", ".jpeg", ".png")
SOUND_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".m4a")
#: How far below the voice a bed may sit (LU), and how far it may dip under speech (dB).
BED_LEVEL_RANGE = (-60.0, 0.0)
BED_DUCK_RANGE = (0.0, 30.0)


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
class Head:
    """What the body parser needs from the front matter, even when it has errors."""

    meta: FrontMatter | None
    positions: dict[str, tuple[int, int]]  # where each key's value is written
    body_start: int  # 1-based line where the body starts
    locales_to_check: tuple[str, ...] | None  # None when the locales are unknown
    pause: float = DEFAULTS.pause  # length of a bare [pause]
    closed: bool = True  # False when the front matter never ends (so there is no body)


_KEY_LINE = re.compile(r"(\s*)([A-Za-z_][\w-]*)\s*:(.*)")


def read_front_matter(lines: list[str], errors: ErrorLog) -> Head:
    values: dict[str, object] = {}
    positions: dict[str, tuple[int, int]] = {}
    if lines[0].strip() != "---":
        errors.add(
            1,
            1,
            "the script must start with front matter: a line '---', then "
            "'title: …', then another line '---'",
        )
        return Head(None, positions, 1, DEFAULT_LOCALES)
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        errors.add(1, 1, "the front matter is not closed: add a line '---' after it")
        return Head(None, positions, len(lines) + 1, DEFAULT_LOCALES, closed=False)

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
    return Head(meta, positions, end + 2, locales, pause)  # type: ignore[arg-type]


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
    # Everything wrong with the path is reported together: by cover_text_problems, and by
    # cover_problems once the file system is at hand.
    return _scalar(key, value).text.strip()


def cover_text_problems(path: str) -> list[str]:
    problems = []
    if _absolute(path):
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
    if _absolute(path):
        raise _Problem("about must be a path relative to the script's folder", scalar.offset)
    return path


def _absolute(path: str) -> bool:
    return PurePath(path).is_absolute() or re.match(r"[A-Za-z]:[\\/]", path) is not None


def _bell_value(key: str, value: _Scalar | _List) -> str:
    scalar = _scalar(key, value)
    written = scalar.text.strip()
    if written.lower() == DEFAULTS.bell:
        return DEFAULTS.bell
    return _sound_path(key, written, scalar.offset, also=f"{DEFAULTS.bell} or ")


def _bed_value(key: str, value: _Scalar | _List) -> str:
    scalar = _scalar(key, value)
    return _sound_path(key, scalar.text.strip(), scalar.offset)


def _sound_path(key: str, path: str, offset: int, also: str = "") -> str:
    """``path`` when it can name a sound file; whether the file is one is checked when the
    script is loaded."""
    if _absolute(path):
        raise _Problem(f"{key} must be {also}a path relative to the script's folder", offset)
    if not path.lower().endswith(SOUND_SUFFIXES):
        raise _Problem(
            f"{key} must be {also}a sound file (.wav, .flac, .mp3, .ogg or .m4a), not {path}",
            offset,
        )
    return path


def _bed_level_value(key: str, value: _Scalar | _List) -> float:
    level, offset = _number(key, value, unit="LU")
    low, high = BED_LEVEL_RANGE
    if not low <= level <= high:
        raise _Problem(
            f"bed_level must be from {low:g} to {high:g} LU, the bed's loudness below the "
            f"voice (not {level:g})",
            offset,
        )
    return level


def _bed_duck_value(key: str, value: _Scalar | _List) -> float:
    duck, offset = _number(key, value, unit="dB")
    low, high = BED_DUCK_RANGE
    if not low <= duck <= high:
        raise _Problem(f"bed_duck must be from {low:g} to {high:g} dB (not {duck:g})", offset)
    return duck


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
    "bell": _bell_value,
    "bed": _bed_value,
    "bed_level": _bed_level_value,
    "bed_duck": _bed_duck_value,
}
assert set(_CONVERTERS) == set(FRONT_MATTER_KEYS), "every front-matter key needs a converter"
