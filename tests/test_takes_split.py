"""Splitting synthetic therapist sessions, read by real engine voices, into takes.

Each session is the test script read by a voice the pipeline does not use for en-GB, with a
reader's timing, hesitations, a noise floor and mains hum (see test_takes_support). The
splitter must find every segment's speech within 150 ms of where it was placed.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import soundfile as sf
from test_takes_support import SCRIPT, plan_from, read_session, write_session

from pipeline.takes.align import AlignmentError
from pipeline.takes.split import format_table, split_recording
from pipeline.takes.store import read_audio, read_takes_json, takes_status

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TOLERANCE = 0.150
SEEDS = {"joe": range(6), "espeak-us": range(3)}


def cut_errors(result, session) -> dict[str, tuple[float, float]]:
    return {
        row.segment_id: (
            row.start - session.truth[row.segment_id][0],
            row.end - session.truth[row.segment_id][1],
        )
        for row in result.segments
    }


def test_every_cut_is_within_150_ms_of_the_speech(tmp_path):
    plan = plan_from()
    errors = []
    for voice, seeds in SEEDS.items():
        for seed in seeds:
            session = read_session(plan, seed, voice=voice)
            recording = write_session(session, tmp_path / voice / f"{seed}.wav")
            result = split_recording(recording, plan, root=tmp_path, role="dr-lee", write=False)
            where = f"{voice} seed {seed}\n{format_table(result)}"

            found = cut_errors(result, session)
            assert list(found) == [s.id for s in plan.speech], where
            errors.extend(abs(e) for pair in found.values() for e in pair)
            assert max(max(abs(a), abs(b)) for a, b in found.values()) <= TOLERANCE, where
            # The handles stay inside the tolerance too: a take is its speech plus a little.
            for row in result.segments:
                start, end = session.truth[row.segment_id]
                assert abs(row.cut_start - start) <= TOLERANCE, where
                assert abs(row.cut_end - end) <= TOLERANCE, where
            # A reading that matches its script is not flagged.
            assert result.flagged == (), where
    # Nothing is written without write=True.
    assert not (tmp_path / "takes").exists() and not (tmp_path / "voices").exists()
    print(
        f"\ncut error over {len(errors)} cuts: max {max(errors) * 1000:.0f} ms, "
        f"mean {np.mean(errors) * 1000:.1f} ms"
    )


def test_split_writes_takes_records_and_a_voice_profile(tmp_path):
    plan = plan_from()
    session = read_session(plan, 11)
    # A stereo field recorder: both channels carry the voice.
    stereo = np.stack([session.samples, session.samples * 0.9], axis=1)
    recording = tmp_path / "recordings" / "session.wav"
    recording.parent.mkdir(parents=True)
    sf.write(recording, stereo, session.rate, subtype="PCM_24")

    result = split_recording(recording, plan, root=tmp_path, role="dr-lee")

    folder = tmp_path / "takes" / "dr-lee" / "settling"
    assert result.folder == folder
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"{s.id}.flac" for s in plan.speech] + ["takes.json"]
    )
    records = read_takes_json(folder)
    source = read_audio(recording)
    for row in result.segments:
        take = read_audio(folder / f"{row.segment_id}.flac")
        # The take is exactly the recording between the cut points (24-bit lossless).
        start = int(round(row.cut_start * source.sample_rate))
        expected = source.samples[start : start + len(take.samples)]
        assert take.sample_rate == source.sample_rate
        assert abs(len(take.samples) / take.sample_rate - (row.cut_end - row.cut_start)) < 2e-3
        assert np.max(np.abs(take.samples - expected)) < 1e-5
        record = records[row.segment_id]
        assert record.source == "recordings/session.wav"
        assert record.start == pytest.approx(row.cut_start, abs=1e-3)
        assert record.end == pytest.approx(row.cut_end, abs=1e-3)
        assert record.text == next(s.printed for s in plan.speech if s.id == row.segment_id)
    raw = json.loads((folder / "takes.json").read_text(encoding="utf-8"))
    assert list(raw["segments"]) == [s.id for s in plan.speech]

    profile = tomllib.loads((tmp_path / "voices" / "dr-lee.toml").read_text(encoding="utf-8"))
    assert profile["en-GB"] == {"engine": "takes", "dir": "takes/dr-lee"}
    assert result.profile == tmp_path / "voices" / "dr-lee.toml"
    assert takes_status(plan, tmp_path / "takes" / "dr-lee").complete
    # No temporary file is left behind by the atomic writes.
    leftovers = [p for p in tmp_path.rglob("*") if p.name.startswith(".")]
    assert leftovers == []


def test_the_voice_profile_loads_as_a_takes_voice(tmp_path):
    from pipeline.voices import load_profiles, resolve_voice

    plan = plan_from()
    recording = write_session(read_session(plan, 12), tmp_path / "session.wav")
    split_recording(recording, plan, root=tmp_path, role="dr-lee")
    profiles = load_profiles(tmp_path)
    assert profiles["dr-lee"].choices("en-GB")[0].engine == "takes"
    voice = resolve_voice("dr-lee", "en-GB", tmp_path, profiles)
    assert voice.spec.dir == "takes/dr-lee" and not voice.fallback


def test_re_recording_some_segments_replaces_only_their_takes(tmp_path):
    plan = plan_from()
    first = write_session(read_session(plan, 13), tmp_path / "first.wav")
    split_recording(first, plan, root=tmp_path, role="dr-lee")
    folder = tmp_path / "takes" / "dr-lee" / "settling"
    before = read_takes_json(folder)

    # A second session with just S1-03 and S1-04, read with its own timing.
    subset = plan_from(tuple(r for r in SCRIPT if r[0] in ("S1-03", "S1-04")))
    session = read_session(subset, 14)
    again = write_session(session, tmp_path / "again.wav")
    result = split_recording(again, plan, root=tmp_path, role="dr-lee", segments={"S1-03", "S1-04"})

    assert [r.segment_id for r in result.segments] == ["S1-03", "S1-04"]
    for row in result.segments:
        start, end = session.truth[row.segment_id]
        assert abs(row.start - start) <= TOLERANCE and abs(row.end - end) <= TOLERANCE
    after = read_takes_json(folder)
    assert after["S1-03"].source == "again.wav" and after["S1-04"].source == "again.wav"
    assert {k: v for k, v in after.items() if k not in ("S1-03", "S1-04")} == {
        k: v for k, v in before.items() if k not in ("S1-03", "S1-04")
    }


def test_a_skipped_segment_is_flagged(tmp_path):
    """The reader left out S1-04 ("Breathe in."): the take given to it cannot fit its text."""
    plan = plan_from()
    skipped = plan_from(tuple(r for r in SCRIPT if r[0] != "S1-04"))
    recording = write_session(read_session(skipped, 15), tmp_path / "session.wav")
    result = split_recording(recording, plan, root=tmp_path, role="dr-lee", write=False)
    assert result.flagged, format_table(result)
    assert any("far too" in flag for row in result.flagged for flag in row.flags)


def test_an_added_sentence_is_flagged(tmp_path):
    """The reader added a sentence of their own to S2-01."""
    plan = plan_from()
    extra = "Let that moment fill your whole attention, slowly and kindly."
    ad_lib = plan_from(
        tuple((sid, s + (extra,) if sid == "S2-01" else s, p) for sid, s, p in SCRIPT)
    )
    recording = write_session(read_session(ad_lib, 16), tmp_path / "session.wav")
    result = split_recording(recording, plan, root=tmp_path, role="dr-lee", write=False)
    flagged = {row.segment_id for row in result.flagged}
    assert "S2-01" in flagged, format_table(result)


def test_a_recording_of_something_else_is_refused(tmp_path):
    plan = plan_from()
    one = plan_from(SCRIPT[:2])
    recording = write_session(read_session(one, 17, hesitations=0), tmp_path / "short.wav")
    with pytest.raises(AlignmentError, match="segments"):
        split_recording(recording, plan, root=tmp_path, role="dr-lee")
    assert not (tmp_path / "takes").exists()


def test_a_compressed_recording_is_decoded_with_ffmpeg(tmp_path):
    from pipeline.ffmpeg import run_ffmpeg

    plan = plan_from()
    session = read_session(plan, 18)
    wav = write_session(session, tmp_path / "session.wav")
    m4a = tmp_path / "session.m4a"
    run_ffmpeg(["-v", "error", "-i", str(wav), "-c:a", "aac", "-b:a", "128k", str(m4a)])
    result = split_recording(m4a, plan, root=tmp_path, role="dr-lee")
    worst = max(max(abs(a), abs(b)) for a, b in cut_errors(result, session).values())
    # AAC adds a short priming delay; the cuts are still well inside the tolerance.
    assert worst <= TOLERANCE, format_table(result)
    take = read_audio(result.segments[0].path)
    assert take.sample_rate == 44100


def test_a_bad_role_or_folder_is_refused_before_anything_is_cut(tmp_path):
    from pipeline.errors import VoiceError

    plan = plan_from()
    recording = tmp_path / "missing.wav"  # never read: the checks come first
    with pytest.raises(VoiceError, match="cannot be a voice role"):
        split_recording(recording, plan, root=tmp_path, role="../lee")
    with pytest.raises(VoiceError, match="not inside the project root"):
        split_recording(recording, plan, root=tmp_path, role="lee", takes_dir=tmp_path.parent)
    assert list(tmp_path.iterdir()) == []
