"""Own-voice takes for a real script file: parse, plan, split a reading, edit, re-check."""

from __future__ import annotations

import pytest
from test_takes_support import read_session, write_session

from pipeline.engines.takes import TakesEngine
from pipeline.model import VoiceSpec
from pipeline.parse import load_script
from pipeline.plan import plan_locale
from pipeline.takes.split import split_recording
from pipeline.takes.store import read_takes_json, takes_status

SCRIPT = """---
title: Ease
pause: 3s
---

# Arriving

Welcome to this short practice. [pause]
Find a comfortable position, and let your eyes close if that feels right.

Notice the weight of your body on the {en-GB: chair | en-US: couch}. Let it be supported. [pause 5s]
Breathe in. [pause 2s] And breathe out.

# Resting

Now bring to mind [CFT](say: compassion focused therapy) practice. [pause 20s]
When you are ready, gently open your eyes.
"""


@pytest.fixture
def project(tmp_path):
    (tmp_path / "scripts_src").mkdir()
    (tmp_path / "scripts_src" / "ease.md").write_text(SCRIPT, encoding="utf-8")
    return tmp_path


def plan_of(root, locale="en-GB"):
    return plan_locale(load_script(root / "scripts_src" / "ease.md", root), locale)


def test_a_reading_of_a_script_file_becomes_a_complete_set_of_takes(project):
    plan = plan_of(project)
    session = read_session(plan, 31)
    recording = write_session(session, project / "recordings" / "ease.wav")
    result = split_recording(recording, plan, root=project, role="dr-lee")

    assert [row.segment_id for row in result.segments] == [s.id for s in plan.speech]
    for row in result.segments:
        start, end = session.truth[row.segment_id]
        assert abs(row.start - start) <= 0.15 and abs(row.end - end) <= 0.15
    records = read_takes_json(project / "takes" / "dr-lee" / "ease")
    assert records["S2-01"].text == "Now bring to mind CFT practice."
    assert records["S2-01"].spoken == "Now bring to mind compassion focused therapy practice."
    assert takes_status(plan, project / "takes" / "dr-lee").complete

    # The American track's text differs in one segment: that take does not fit it.
    us = takes_status(plan_of(project, "en-US"), project / "takes" / "dr-lee")
    assert us.stale == ("S1-03",)

    # Editing the script makes exactly the edited segment stale.
    edited = SCRIPT.replace("gently open your eyes", "slowly open your eyes")
    (project / "scripts_src" / "ease.md").write_text(edited, encoding="utf-8")
    status = takes_status(plan_of(project), project / "takes" / "dr-lee")
    assert status.stale == ("S2-02",) and status.missing == ()

    engine = TakesEngine(VoiceSpec(engine="takes", dir="takes/dr-lee"), project)
    rendered = engine.recorded_segments(plan_of(project), "dr-lee", allow_missing=True)
    assert rendered.unrendered == ("S2-02",)
    assert set(rendered.segments) == {s.id for s in plan.speech} - {"S2-02"}
