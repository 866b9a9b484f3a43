"""The one m:ss formatter."""

from __future__ import annotations

import pytest

from pipeline.timefmt import format_clock


@pytest.mark.parametrize(
    ("seconds", "down", "nearest"),
    [
        (0, "0:00", "0:00"),
        (0.4, "0:00", "0:00"),
        (59.6, "0:59", "1:00"),
        (60, "1:00", "1:00"),
        (61.5, "1:01", "1:02"),
        (599.9999999, "10:00", "10:00"),  # float noise below a whole second is that second
        (3599.5, "59:59", "1:00:00"),
        (3600, "1:00:00", "1:00:00"),
        (3661.2, "1:01:01", "1:01:01"),
        (36000, "10:00:00", "10:00:00"),
        (-0.5, "0:00", "0:00"),
    ],
)
def test_positions_round_down_and_lengths_to_the_nearest_second(
    seconds: float, down: str, nearest: str
) -> None:
    assert format_clock(seconds) == down
    assert format_clock(seconds, nearest=True) == nearest
