"""Times as people read them: ``m:ss``, or ``h:mm:ss`` from an hour.

One formatter for every place a time is printed (``voicetrack check`` and ``build``, the PDF's
chapter times, the resource page and its players), so a track's length reads the same in each.
"""

from __future__ import annotations

import math


def format_clock(seconds: float, *, nearest: bool = False) -> str:
    """``m:ss`` (``h:mm:ss`` from an hour) in whole seconds.

    A position in a track is rounded down, as players show one, so that seeking to the
    printed time never lands after the spot; ``nearest`` rounds to the nearest second
    instead, for a length or an estimate. Negative times print as ``0:00``.
    """
    whole = round(seconds) if nearest else math.floor(seconds + 1e-6)
    hours, rest = divmod(max(int(whole), 0), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
