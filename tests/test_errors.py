"""Errors keep everything a person needs, also after crossing to another process."""

from __future__ import annotations

import pickle

import pytest

from pipeline.engines.takes import TakesIncomplete
from pipeline.errors import (
    EncodeError,
    InstallError,
    PipelineError,
    ScriptError,
    SourceError,
    VoiceUnavailable,
)


@pytest.mark.parametrize(
    "error",
    [
        ScriptError([SourceError("a.md", 3, 7, "unknown tag [pasue]")]),
        VoiceUnavailable("emma is not installed", hint="voicetrack voices install emma"),
        EncodeError("ffmpeg failed", ["ffmpeg", "-i", "-"], 1, "Invalid data"),
        InstallError("offline", hint="download it by hand"),
        TakesIncomplete("takes are missing", missing=["S1-02"], stale=["S2-01"]),
    ],
    ids=lambda e: type(e).__name__,
)
def test_errors_survive_pickling_whole(error: PipelineError) -> None:
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error)
    assert str(again) == str(error)
    assert again.__dict__ == error.__dict__
    assert again.exit_status == error.exit_status


def test_exit_statuses_separate_bad_input_from_failed_renders() -> None:
    assert ScriptError([]).exit_status == 2
    assert TakesIncomplete("x", [], []).exit_status == 2
    assert EncodeError("x").exit_status == 1
    assert VoiceUnavailable("x").exit_status == 1


def test_a_process_error_shows_its_command_status_and_stderr_tail() -> None:
    stderr = "\n".join(f"line {i}" for i in range(40))
    message = str(EncodeError("ffmpeg failed", ["ffmpeg", "-i", "in.wav"], 234, stderr))
    assert "command: ffmpeg -i in.wav" in message
    assert "exit status: 234" in message
    assert "line 39" in message and "line 10" not in message
