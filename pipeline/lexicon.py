"""Pronunciation lexicons: ``lexicon.toml`` files -> :class:`Lexicon` -> spoken text.

A lexicon file has an ``[all]`` table and optional per-locale tables (``[en-GB]``) mapping a
word, as printed, to how it should be spoken. Files from a script's folder up to the project
root are merged, the nearest file winning per key and scope. Replacement is for whole words,
case-sensitive, in one pass (a replacement is never replaced again).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path

from pipeline.errors import CONTROL_HINT, ScriptError, SourceError, control_characters
from pipeline.locales import canonical_locale
from pipeline.model import Lexicon
from pipeline.paths import display_path, inside_root, read_source
from pipeline.tomlpos import KeyPositions, decode_error

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

LEXICON_FILE = "lexicon.toml"
ALL = "all"


def parse_lexicon(text: str, path: str) -> Lexicon:
    """The entries of one lexicon file; a ScriptError listing every problem in it otherwise."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        line, col, message = decode_error(error, text)
        raise ScriptError.at(path, line, col, f"invalid lexicon: {message}") from None

    positions = KeyPositions(text)
    errors: list[SourceError] = []
    scopes: dict[str, dict[str, str]] = {}

    def fail(table: str | None, key: str, message: str) -> None:
        line, col = positions.key(table, key)
        errors.append(SourceError(path, line, col, message))

    for name, table in data.items():
        if not isinstance(table, dict):
            fail(None, name, f"'{name}' is outside a table: put words under [all] or [en-GB]")
            continue
        scope = ALL if name == ALL else canonical_locale(name)
        if scope is None:
            fail(None, name, f"unknown table [{name}]: use [all] or a locale such as [en-GB]")
            continue
        if scope in scopes:
            fail(None, name, f"table [{name}] is given twice")
            continue
        entries: dict[str, str] = {}
        for word, spoken in table.items():
            problem = _entry_problem(word, spoken)
            if problem:
                fail(name, word, problem)
            else:
                entries[word] = spoken.strip()
        scopes[scope] = entries

    if errors:
        raise ScriptError(errors)
    return _lexicon_from(scopes)


def merge_lexicons(nearest_first: Iterable[Lexicon]) -> Lexicon:
    """One lexicon from several, the earlier (nearer) ones winning per scope and word."""
    scopes: dict[str, dict[str, str]] = {}
    for lexicon in reversed(list(nearest_first)):
        for scope, entries in lexicon.by_scope:
            scopes.setdefault(scope, {}).update(entries)
    return _lexicon_from(scopes)


def lexicon_files(script_dir: Path, root: Path) -> list[Path]:
    """Existing lexicon files from ``script_dir`` up to ``root``, nearest first.

    A folder outside the root has none: its scripts are refused and nothing of it is read.
    """
    script_dir, root = script_dir.resolve(), root.resolve()
    if not script_dir.is_relative_to(root):
        return []  # such a script is refused, and nothing beside it is read
    folders = [script_dir, *(p for p in script_dir.parents if p.is_relative_to(root))]
    return [f / LEXICON_FILE for f in folders if (f / LEXICON_FILE).is_file()]


def load_lexicon(script_dir: Path, root: Path) -> Lexicon:
    """The merged lexicon for scripts in ``script_dir``; every file's problems in one error."""
    found: list[Lexicon] = []
    errors: list[SourceError] = []
    for file in lexicon_files(script_dir, root):
        shown = display_path(file, root)
        if inside_root(root, file) is None:
            message = f"{LEXICON_FILE} is a link to a file outside the project root"
            errors.append(SourceError(shown, 1, 1, message))
            continue
        try:
            found.append(parse_lexicon(read_source(file, shown, "lexicon"), shown))
        except ScriptError as error:
            errors.extend(error.errors)
    if errors:
        raise ScriptError(errors)
    return merge_lexicons(found)


def apply_lexicon(text: str, mapping: Mapping[str, str]) -> str:
    """``text`` with every whole-word, case-sensitive occurrence of a key replaced."""
    if not mapping:
        return text
    pattern = _word_pattern(tuple(sorted(mapping, key=lambda word: (-len(word), word))))
    return pattern.sub(lambda match: mapping[match.group(0)], text)


@lru_cache(maxsize=64)
def _word_pattern(words_longest_first: tuple[str, ...]) -> re.Pattern[str]:
    # Longest first so that "Paul Gilbert" wins over "Paul"; the lookarounds make the
    # match whole-word even for keys that start or end with punctuation.
    alternatives = "|".join(re.escape(word) for word in words_longest_first)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")


def _entry_problem(word: str, spoken: object) -> str | None:
    if not word.strip() or word != word.strip():
        return f"word {word!r} must not be empty or start or end with a space"
    if not isinstance(spoken, str):
        return f"the spoken form of '{word}' must be a quoted string"
    if not spoken.strip():
        return f"the spoken form of '{word}' is empty"
    for _, control in control_characters(word + spoken):
        return f"the spoken form of '{word}' holds {control} ({CONTROL_HINT})"
    return None


def _lexicon_from(scopes: Mapping[str, Mapping[str, str]]) -> Lexicon:
    return Lexicon(
        tuple(
            (scope, tuple(sorted(entries.items())))
            for scope, entries in sorted(scopes.items())
            if entries
        )
    )
