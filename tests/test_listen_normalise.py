"""Normalisation before comparing words: spelling, numbers, case and punctuation are no errors."""

from __future__ import annotations

import pytest

pytest.importorskip(
    "whisper_normalizer", reason="needs the listen extra: pip install -e '.[listen]'"
)

from pipeline.listen.normalise import normalise  # noqa: E402


@pytest.mark.parametrize(
    ("written", "heard"),
    [
        ("Notice the colour of your favourite chair.", "notice the color of your favorite chair"),
        ("Count to twenty-five, then three breaths…", "Count to 25. Then 3 breaths."),
        ("This is CFT.", "This is C.F.T."),
        ("This is CFT.", "this is c f t"),
        ("Notice a sound, e.g. a bird.", "Notice a sound, for example, a bird."),
        ("You're doing well.", "you are doing well"),
    ],
)
def test_both_spellings_normalise_alike(written: str, heard: str) -> None:
    assert normalise(written) == normalise(heard)


def test_different_words_stay_different() -> None:
    assert normalise("Breathe in.") != normalise("Breathe out.")
    assert normalise("a moment") == "a moment"  # a lone "a" is a word, not an initial
