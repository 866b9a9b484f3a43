"""The one scanner of TOML key positions, shared by voice profiles, lexicons and settings."""

from __future__ import annotations

import sys

import pytest

from pipeline.tomlpos import KeyPositions, decode_error

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

TEXT = """description = "calm"   # a comment with speed = 3
"top-quoted" = 1

  [ en-GB ]
engine = "piper"
  speed = 0.9
fallback = [
  { engine = "espeak-ng", model = "en-gb" },
  {engine="hibari", "model" = "fable"},
]

["en-US"]
'engine' = "hibari"
"""


def test_keys_are_found_in_their_table() -> None:
    positions = KeyPositions(TEXT)
    assert positions.key(None, "description") == (1, 1)
    assert positions.key(None, "top-quoted") == (2, 1)
    assert positions.key("en-GB", "engine") == (5, 1)
    assert positions.key("en-GB", "speed") == (6, 3)
    assert positions.key("en-US", "engine") == (13, 1)


def test_tables_are_found_at_their_bracket() -> None:
    positions = KeyPositions(TEXT)
    assert positions.table("en-GB") == (4, 3)
    assert positions.table("en-US") == (12, 1)
    # a top-level name written as a header is found there when asked for as a key
    assert positions.key(None, "en-US") == (12, 1)


def test_missing_keys_fall_back_to_their_table_or_the_start() -> None:
    positions = KeyPositions(TEXT)
    assert positions.key("en-GB", "gain_db") == (4, 3)
    assert positions.key(None, "nowhere") == (1, 1)
    assert positions.table("fr-FR") == (1, 1)
    # a key of one table is not found in another
    assert positions.key("en-US", "speed") == (12, 1)


def test_fallback_entries_and_their_keys() -> None:
    positions = KeyPositions(TEXT)
    assert positions.fallback("en-GB", 0, None) == (8, 3)
    assert positions.fallback("en-GB", 0, "model") == (8, 27)
    assert positions.fallback("en-GB", 1, "engine") == (9, 4)
    assert positions.fallback("en-GB", 1, "model") == (9, 21)
    # an entry past the end: the fallback key itself
    assert positions.fallback("en-GB", 5, "model") == (7, 1)
    # no fallback in the table: the table's header
    assert positions.fallback("en-US", 0, None) == (12, 1)


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("[all]\nCFT = \n", (2, 7), "Invalid value"),
        # at the end of the document: the start of its last line
        ('a = "b"\nc = [1,', (2, 1), "Invalid value"),
        ('a = "unterminated\n', (1, 18), "Illegal character '\\n'"),
    ],
)
def test_syntax_errors_lose_tomllibs_own_position_text(
    text: str, where: tuple[int, int], message: str
) -> None:
    with pytest.raises(tomllib.TOMLDecodeError) as caught:
        tomllib.loads(text)
    line, col, text_of_error = decode_error(caught.value, text)
    assert (line, col) == where
    assert text_of_error == message
