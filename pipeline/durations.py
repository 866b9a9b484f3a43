"""Durations as script writers type them: ``750ms``, ``3s``, ``1.5s``, ``2m``, ``1m30s``, ``3``.

Takes text, gives seconds as a float; :func:`format_duration` goes the other way and its
output always parses back to exactly the same float.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

_NUMBER = r"(?:\d+(?:\.\d+)?|\.\d+)"
_SIMPLE = re.compile(rf"({_NUMBER})\s*(ms|s|m)?", re.IGNORECASE)
_MINUTES_SECONDS = re.compile(rf"({_NUMBER})\s*m\s*({_NUMBER})\s*s", re.IGNORECASE)

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0}
FORMS = "750ms, 3s, 1.5s, 2m, 1m30s, or a number of seconds"


def parse_duration(text: str) -> float:
    """Seconds in ``text``; a ValueError whose message names the accepted forms otherwise."""
    stripped = text.strip()
    both = _MINUTES_SECONDS.fullmatch(stripped)
    if both:
        return float(both.group(1)) * 60.0 + float(both.group(2))
    simple = _SIMPLE.fullmatch(stripped)
    if simple:
        number, unit = simple.groups()
        if unit is None or unit.lower() == "s":
            return float(number)
        if unit.lower() == "ms":
            # Divide rather than multiply by 0.001 so that "750ms" is exactly 0.75.
            return float(number) / 1000.0
        return float(number) * 60.0
    if stripped.startswith("-"):
        raise ValueError(f"duration {text.strip()!r} is negative; durations are 0 or more")
    raise ValueError(f"{text.strip()!r} is not a duration (write it like {FORMS})")


def format_duration(seconds: float) -> str:
    """The canonical spelling of ``seconds``: ``1m30s``, ``750ms`` or ``2.5s``.

    Whole minutes and seconds use ``m``/``s``, whole milliseconds under a second use
    ``ms``, and anything else the shortest decimal that reads back as the same float.
    """
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"cannot write {seconds!r} as a duration")
    if seconds >= 60 and seconds == int(seconds):
        minutes, rest = divmod(int(seconds), 60)
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if seconds < 1:
        millis = seconds * 1000.0
        if millis == int(millis) and int(millis) / 1000.0 == seconds and seconds > 0:
            return f"{int(millis)}ms"
    return f"{plain_decimal(seconds)}s"


def plain_decimal(value: float) -> str:
    """Shortest decimal that reads back as ``value``, never with an exponent:
    1e-05 -> '0.00001', 3.0 -> '3'."""
    text = format(Decimal(repr(value)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text
