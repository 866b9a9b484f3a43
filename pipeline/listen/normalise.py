"""Text normalisation before words are compared: text -> lower-case words, one spelling each.

What a listener hears does not show how a word is spelled, so neither side of a comparison
may count spelling as an error. Whisper's own English normaliser (packaged as
``whisper-normalizer``) does most of it: case and punctuation, British to American
spelling, numbers written as digits or words, contractions, titles, hesitations. Two things
it leaves, which scripts use and recognisers write either way, are handled here:

- initials: "CFT", "C F T" and "C.F.T." are one word, ``cft``;
- the abbreviations a narrator reads out: "e.g." is "for example", "i.e." is "that is".
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

#: Abbreviations as the library's normaliser leaves them (its punctuation already removed).
_READ_OUT = {("e", "g"): ("for", "example"), ("i", "e"): ("that", "is")}


@lru_cache(maxsize=1)
def _library_normaliser() -> Any:
    from whisper_normalizer.english import EnglishTextNormalizer

    return EnglishTextNormalizer()


def normalise(text: str) -> str:
    """``text`` as space-separated, comparable words."""
    return " ".join(normalise_words(text))


def normalise_words(text: str) -> list[str]:
    # The library reads "..." but not the one-character ellipsis, and keeps the stray
    # full stops of both (they may be decimal points): neither is a word.
    words = _library_normaliser()(text.replace("\u2026", "...")).split()
    words = [word for word in words if any(c.isalnum() for c in word)]
    return _join_initials(_read_out(words))


def _read_out(words: list[str]) -> list[str]:
    out: list[str] = []
    k = 0
    while k < len(words):
        pair = tuple(words[k : k + 2])
        if pair in _READ_OUT:
            out.extend(_READ_OUT[pair])  # type: ignore[index]
            k += 2
        else:
            out.append(words[k])
            k += 1
    return out


_LETTER = re.compile(r"^[a-z]$")


def _join_initials(words: list[str]) -> list[str]:
    """Runs of two or more single letters are one spelled-out word ("c f t" -> "cft").
    A lone "a" stays a word: it is the article far more often than a letter."""
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if len(run) >= 2:
            out.append("".join(run))
        else:
            out.extend(run)
        run.clear()

    for word in words:
        if _LETTER.match(word):
            run.append(word)
        else:
            flush()
            out.append(word)
    flush()
    return out
