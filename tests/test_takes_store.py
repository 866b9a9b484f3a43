"""The takes folder: takes.json, status (missing, stale, untracked), profiles, audio files."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest
import soundfile as sf
from test_takes_support import plan_from, segment, with_say

from pipeline.errors import VoiceError
from pipeline.model import LocalePlan, Sentence, SpeechSegment
from pipeline.takes.store import (
    TakeError,
    TakeRecord,
    adopt_takes,
    ensure_takes_profile,
    read_audio,
    read_takes_json,
    reading_text,
    record_for,
    takes_folder,
    takes_status,
    write_audio,
    write_takes_json,
)


def tone(seconds: float = 0.5, rate: int = 48000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def with_text(plan: LocalePlan, segment_id: str, *sentences: str) -> LocalePlan:
    items = tuple(
        segment(segment_id, *sentences, line=i.line)
        if isinstance(i, SpeechSegment) and i.id == segment_id
        else i
        for i in plan.items
    )
    return LocalePlan(plan.script, plan.locale, plan.sections, items)


def recorded(tmp_path, plan: LocalePlan, ids: list[str], suffix: str = ".wav"):
    """Takes for ``ids`` in the layout takes/<role>/<slug>/, with their records."""
    folder = tmp_path / "takes" / "dr-lee" / plan.script.slug
    folder.mkdir(parents=True, exist_ok=True)
    by_id = {s.id: s for s in plan.speech}
    for sid in ids:
        sf.write(folder / f"{sid}{suffix}", tone(), 48000)
    write_takes_json(folder, {sid: record_for(by_id[sid]) for sid in ids})
    return tmp_path / "takes" / "dr-lee"


def test_status_lists_missing_takes(tmp_path):
    plan = plan_from()
    takes = recorded(tmp_path, plan, ["S1-01", "S1-02", "S2-03"])
    status = takes_status(plan, takes)
    assert status.ok == ("S1-01", "S1-02", "S2-03")
    assert status.missing == ("S1-03", "S1-04", "S1-05", "S2-01", "S2-02")
    assert not status.complete
    assert status.folder == takes / "settling"


def test_status_marks_a_take_stale_when_its_text_changes(tmp_path):
    plan = plan_from()
    takes = recorded(tmp_path, plan, [s.id for s in plan.speech])
    assert takes_status(plan, takes).complete

    edited = with_text(plan, "S1-02", "Find a comfortable position, and rest your hands.")
    status = takes_status(edited, takes)
    assert status.stale == ("S1-02",)
    entry = next(e for e in status.entries if e.segment_id == "S1-02")
    assert entry.reason == "the printed text has changed"
    assert entry.recorded.text.startswith("Find a comfortable position, and let")
    assert not status.complete and status.missing == ()


def test_spacing_and_curly_quotes_do_not_make_a_take_stale(tmp_path):
    plan = plan_from()
    takes = recorded(tmp_path, plan, ["S1-01"])
    folder = takes / "settling"
    records = read_takes_json(folder)
    records["S1-01"] = TakeRecord(text="Welcome  to this short\npractice.")
    write_takes_json(folder, records)
    assert takes_status(plan, takes).ok == ("S1-01",)

    curly = with_text(plan, "S1-01", "Welcome to this short practice \u2014 it\u2019s yours.")
    records["S1-01"] = TakeRecord(text="Welcome to this short practice - it's yours.")
    write_takes_json(folder, records)
    assert takes_status(curly, takes).ok == ("S1-01",)


def test_a_changed_say_substitution_makes_a_take_stale_and_the_lexicon_does_not(tmp_path):
    plan = with_say(plan_from(), "S1-04", "CFT", "compassion focused therapy")
    takes = recorded(tmp_path, plan, ["S1-04"])
    assert read_takes_json(takes / "settling")["S1-04"].spoken == "compassion focused therapy"

    # Same printed text, a different spoken form: the reader must say something else.
    changed = with_say(plan, "S1-04", "CFT", "compassion-focused therapy, or CFT")
    status = takes_status(changed, takes)
    assert status.stale == ("S1-04",)
    assert status.entries[3].reason == "what is said has changed"

    # A lexicon entry changes only the engines' spoken text, not what a person reads.
    lexicon = [
        SpeechSegment(**{**vars(s), "spoken": s.spoken.replace("therapy", "thair-a-pee")})
        if s.id == "S1-04"
        else s
        for s in plan.items
        if isinstance(s, SpeechSegment)
    ]
    assert lexicon[3].spoken != plan.speech[3].spoken
    assert reading_text(lexicon[3]) == reading_text(plan.speech[3])


def test_takes_without_a_record_are_untracked_and_can_be_adopted(tmp_path):
    plan = plan_from()
    folder = tmp_path / "takes" / "dr-lee" / "settling"
    folder.mkdir(parents=True)
    sf.write(folder / "S1-01.wav", tone(), 48000)
    sf.write(folder / "S1-02.flac", tone(), 48000)
    status = takes_status(plan, folder.parent)
    assert status.untracked == ("S1-01", "S1-02")
    assert status.usable == ("S1-01", "S1-02")

    assert adopt_takes(plan, folder.parent) == ("S1-01", "S1-02")
    assert takes_status(plan, folder.parent).ok == ("S1-01", "S1-02")
    record = read_takes_json(folder)["S1-01"]
    assert record.text == "Welcome to this short practice." and record.source is None
    assert "start" not in json.loads((folder / "takes.json").read_text())["segments"]["S1-01"]


def test_orphans_duplicates_and_odd_names_are_reported(tmp_path):
    plan = plan_from()
    takes = recorded(tmp_path, plan, ["S1-01"])
    folder = takes / "settling"
    sf.write(folder / "S9-01.wav", tone(), 48000)  # a segment since removed from the script
    sf.write(folder / "notes.wav", tone(), 48000)
    sf.write(folder / "S1-01.flac", tone(), 48000)
    later = time.time() + 10
    os.utime(folder / "S1-01.flac", (later, later))
    status = takes_status(plan, takes)
    assert status.orphans == ("S9-01", "notes")
    assert status.entries[0].path == folder / "S1-01.flac"  # the newest take wins
    assert any("S1-01: several takes" in w and "S1-01.wav" in w for w in status.warnings)
    assert any("notes.wav" in w for w in status.warnings)


def test_a_take_that_links_out_of_its_folder_is_not_read(tmp_path):
    plan = plan_from()
    takes = recorded(tmp_path / "project", plan, ["S1-01"])
    elsewhere = tmp_path / "elsewhere.wav"
    sf.write(elsewhere, tone(), 48000)
    (takes / "settling" / "S1-02.wav").symlink_to(elsewhere)
    status = takes_status(plan, takes)
    assert status.ok == ("S1-01",)
    assert "S1-02" in status.missing
    assert "S1-02.wav: a link to a file outside the takes folder; not used" in status.warnings


def test_a_takes_json_that_links_out_of_its_folder_is_not_read(tmp_path):
    folder = tmp_path / "takes" / "settling"
    folder.mkdir(parents=True)
    (tmp_path / "records.json").write_text('{"segments": {}}', encoding="utf-8")
    (folder / "takes.json").symlink_to(tmp_path / "records.json")
    with pytest.raises(TakeError, match="a link to a file outside the takes folder; not read"):
        read_takes_json(folder)


def test_takes_json_round_trips_and_rejects_malformed_entries(tmp_path):
    records = {
        "S2-01": TakeRecord("B.", "B.", "rec/session.wav", 3.25, 4.5),
        "S1-10": TakeRecord("A."),
        "S1-02": TakeRecord("Ä — é.", "Ä — é."),
    }
    path = write_takes_json(tmp_path, records)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert list(data["segments"]) == ["S1-02", "S1-10", "S2-01"]  # script order, not text order
    assert "Ä — é." in path.read_text(encoding="utf-8")  # readable, not \u-escaped
    assert read_takes_json(tmp_path) == records

    path.write_text('{"segments": {"S1-01": {"start": 1.0}}}', encoding="utf-8")
    with pytest.raises(TakeError, match='S1-01: each take needs a "text"'):
        read_takes_json(tmp_path)
    path.write_text('{"segments": {"S1-01": {"text": "A.", "start": "soon"}}}', encoding="utf-8")
    with pytest.raises(TakeError, match='"start" must be a number'):
        read_takes_json(tmp_path)
    path.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(TakeError, match="expected an object"):
        read_takes_json(tmp_path)
    assert read_takes_json(tmp_path / "nowhere") == {}


def test_the_profile_is_created_once_and_never_overwritten(tmp_path):
    takes = tmp_path / "takes" / "dr-lee"
    path, note = ensure_takes_profile(tmp_path, "dr-lee", "en-GB", takes)
    assert path == tmp_path / "voices" / "dr-lee.toml" and note is None
    text = path.read_text(encoding="utf-8")
    assert '[en-GB]\nengine = "takes"\ndir = "takes/dr-lee"\n' in text

    assert ensure_takes_profile(tmp_path, "dr-lee", "en-GB", takes) == (None, None)
    path2, note = ensure_takes_profile(tmp_path, "dr-lee", "en-US", takes)
    assert path2 is None and "has no takes voice for en-US" in note and "[en-US]" in note
    assert path.read_text(encoding="utf-8") == text

    _, note = ensure_takes_profile(tmp_path, "dr-lee", "en-GB", tmp_path / "takes" / "other")
    assert "plays takes from 'takes/dr-lee', not 'takes/other'" in note

    with pytest.raises(VoiceError, match="not inside the project root"):
        ensure_takes_profile(tmp_path, "dr-lee", "en-GB", tmp_path.parent / "elsewhere")
    with pytest.raises(VoiceError, match="cannot be a voice role"):
        ensure_takes_profile(tmp_path, "../x", "en-GB", takes)


def test_takes_folder_defaults_to_the_role(tmp_path):
    from pipeline.model import VoiceSpec

    assert takes_folder(VoiceSpec("takes"), tmp_path, "dr-lee") == tmp_path / "takes" / "dr-lee"
    assert takes_folder(VoiceSpec("takes", dir="voice/me"), tmp_path, "x") == tmp_path / "voice/me"


@pytest.mark.parametrize("suffix", [".mp3", ".m4a", ".ogg"])
def test_compressed_takes_are_decoded(tmp_path, suffix):
    from pipeline.ffmpeg import run_ffmpeg

    wav = tmp_path / "tone.wav"
    sf.write(wav, tone(1.0), 48000)
    other = tmp_path / f"tone{suffix}"
    codec = {".mp3": "libmp3lame", ".m4a": "aac", ".ogg": "libvorbis"}[suffix]
    run_ffmpeg(["-v", "error", "-i", str(wav), "-c:a", codec, str(other)])
    audio = read_audio(other)
    assert audio.sample_rate == 44100
    # Decoder padding differs by codec, and lossy coding moves the level a little.
    assert abs(audio.seconds - 1.0) < 0.06
    middle = audio.samples[len(audio.samples) // 4 : 3 * len(audio.samples) // 4]
    rms = float(np.sqrt(np.mean(middle**2)))
    assert rms == pytest.approx(0.3 / np.sqrt(2), rel=0.08)


def test_takes_are_written_losslessly_and_atomically(tmp_path):
    x = np.random.default_rng(0).uniform(-0.5, 0.5, 4800).astype(np.float32)
    path = write_audio(tmp_path / "S1-01.flac", x, 48000)
    back = read_audio(path)
    assert np.max(np.abs(back.samples - x)) < 2**-22
    assert [p.name for p in tmp_path.iterdir()] == ["S1-01.flac"]
    with pytest.raises(TakeError, match="written as .flac or .wav"):
        write_audio(tmp_path / "S1-01.mp3", x, 48000)
    with pytest.raises(TakeError, match="cannot read audio"):
        (tmp_path / "bad.wav").write_bytes(b"not audio")
        read_audio(tmp_path / "bad.wav")


def test_reading_text_speaks_substitutions_and_keeps_emphasis_text():
    from pipeline.model import Emphasis, Say, Text

    seg = SpeechSegment(
        id="S1-01",
        section=1,
        paragraph=0,
        line=1,
        col=1,
        inlines=(
            Text("Try "),
            Emphasis("*", (Text("gently"),)),
            Text(" with "),
            Say("CFT", "C F T"),
        ),
        printed="Try gently with CFT",
        spoken="Try gently with C F T",
        sentences=(Sentence("Try gently with CFT", "Try gently with C F T"),),
    )
    assert reading_text(seg) == "Try gently with C F T"


def test_the_takes_dir_of_a_role_comes_from_its_profile(tmp_path):
    from pipeline.takes.store import takes_dir_for

    # No profile yet (before the first split): the default folder.
    assert takes_dir_for(tmp_path, "dr-lee", "en-GB") == tmp_path / "takes" / "dr-lee"
    (tmp_path / "voices").mkdir()
    (tmp_path / "voices" / "dr-lee.toml").write_text(
        '[en-GB]\nengine = "takes"\ndir = "recorded/lee-gb"\n\n'
        '[en-US]\nengine = "espeak-ng"\nmodel = "en-us"\n',
        encoding="utf-8",
    )
    assert takes_dir_for(tmp_path, "dr-lee", "en-GB") == tmp_path / "recorded" / "lee-gb"
    assert takes_dir_for(tmp_path, "dr-lee", "en-US") == tmp_path / "takes" / "dr-lee"
