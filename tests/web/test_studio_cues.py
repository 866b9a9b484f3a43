"""The studio's cue after each segment: what follows it in the script."""

from __future__ import annotations

import pytest

pytest.importorskip("django", reason="voicetrack serve's tests need the web extra")

from pipeline.model import Bell, Silence  # noqa: E402
from pipeline.web.studio.recording import pause_cue  # noqa: E402


def test_a_bell_after_a_segment_is_cued_as_a_bell() -> None:
    assert pause_cue(Bell(3.0, line=5, explicit=True)) == "Bell, 3 s"
    assert pause_cue(Bell(10.0, line=5, explicit=False)) == "Bell, 10 s"
    assert pause_cue(Silence("pause", 2.0)) == "Pause, 2 s"
    assert pause_cue(None) == ""
