"""Durations: the forms writers type, and a canonical spelling that reads back exactly."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("750ms", 0.75),
        ("3s", 3.0),
        ("1.5s", 1.5),
        ("2m", 120.0),
        ("1m30s", 90.0),
        ("3", 3.0),
        ("0", 0.0),
        (".5s", 0.5),
        ("2.5m", 150.0),
        ("1m 30s", 90.0),
        (" 4 s ", 4.0),
        ("3S", 3.0),
        ("1M30S", 90.0),
    ],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "s", "3x", "1h", "three", "1m30", "3s2m", "1e3", "3 0s"])
def test_invalid_durations_name_the_accepted_forms(text):
    with pytest.raises(ValueError, match=r"is not a duration \(write it like 750ms, 3s"):
        parse_duration(text)


def test_negative_durations_are_refused():
    with pytest.raises(ValueError, match="negative"):
        parse_duration("-1s")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0, "0s"),
        (0.75, "750ms"),
        (3.0, "3s"),
        (1.5, "1.5s"),
        (90.0, "1m30s"),
        (120.0, "2m"),
        (59.0, "59s"),
        (60.5, "60.5s"),
        (1e-05, "0.00001s"),
    ],
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


@pytest.mark.parametrize("seconds", [-1.0, float("nan"), float("inf")])
def test_format_duration_refuses_what_is_not_a_duration(seconds):
    with pytest.raises(ValueError):
        format_duration(seconds)


@settings(max_examples=200)
@given(st.floats(min_value=0, max_value=1e6, allow_nan=False))
def test_format_duration_reads_back_exactly(seconds):
    assert parse_duration(format_duration(seconds)) == seconds
