"""The build end to end on the fake engine: outputs, timing, loudness, cache and atomicity."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest
from mutagen.id3 import ID3

from pipeline.build import BuildOptions, build
from pipeline.engines.fake import FakeEngine
from pipeline.errors import EncodeError, ScriptError
from pipeline.parse import load_script
from pipeline.paths import file_digest
from pipeline.plan import plan_locale
from tests.audio_helpers import decode, find_silences, lufs

SCRIPT = """\
---
title: Evening Wind-Down
collection: Test Collection
track: 3
author: Test Author
description: A short exercise for the end of the day.
voice: tones
pause: 2s
lead_in: 1s
tail: 2s
---

<!-- a producer note -->
Welcome to this practice. [pause] Settle into a comfortable position.

Let your {en-GB: favourite | en-US: favorite} chair hold you. [pause 3s]

# Breathing

Breathe in slowly. Breathe out gently. [pause 4s][pause 1s]
Notice the air.

# Closing

When you are ready, open your eyes.
"""

TONES = """\
description = "test tones"

[en-GB]
engine = "fake"
model = "gb"

[en-US]
engine = "fake"
model = "us"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "scripts_src").mkdir()
    (tmp_path / "voices").mkdir()
    (tmp_path / "scripts_src" / "wind-down.md").write_text(SCRIPT, encoding="utf-8")
    (tmp_path / "voices" / "tones.toml").write_text(TONES, encoding="utf-8")
    FakeEngine.reset_calls()
    return tmp_path


def options(project: Path, **overrides) -> BuildOptions:
    return BuildOptions(root=project, out_dir=project / "out", **overrides)


def run(project: Path, **overrides):
    return build(sorted((project / "scripts_src").glob("*.md")), options(project, **overrides))


def outputs(project: Path) -> dict[str, int]:
    """Every output file with its modification time in nanoseconds."""
    folder = project / "out" / "wind-down"
    return {p.name: p.stat().st_mtime_ns for p in sorted(folder.iterdir())}


def manifest(project: Path, locale: str) -> dict:
    path = project / "out" / "wind-down" / f"wind-down.{locale}.json"
    return json.loads(path.read_text(encoding="utf-8"))


def test_build_writes_every_output_per_locale(project: Path) -> None:
    results = run(project)
    assert sorted((r.job.slug, r.job.locale) for r in results) == [
        ("wind-down", "en-GB"),
        ("wind-down", "en-US"),
    ]
    assert sorted(outputs(project)) == sorted(
        f"wind-down.{locale}.{kind}"
        for locale in ("en-GB", "en-US")
        for kind in ("json", "mp3", "pdf", "vtt")
    )
    data = manifest(project, "en-US")
    assert data["format"] == 1
    assert data["script"] == "scripts_src/wind-down.md"
    assert data["voice"] == {"role": "tones", "engine": "fake", "model": "us", "fallback": False}
    assert data["files"] == {
        "mp3": "wind-down.en-US.mp3",
        "vtt": "wind-down.en-US.vtt",
        "pdf": "wind-down.en-US.pdf",
    }
    texts = [s["text"] for s in data["segments"] if s["kind"] == "speech"]
    assert "Let your favorite chair hold you." in texts
    assert "Let your favourite chair hold you." in [
        s["text"] for s in manifest(project, "en-GB")["segments"] if s["kind"] == "speech"
    ]


def test_manifest_silences_follow_the_plan_and_cover_the_track(project: Path) -> None:
    run(project, locales=("en-GB",))
    data = manifest(project, "en-GB")
    segments = data["segments"]
    assert segments[0]["start"] == 0.0
    for before, after in zip(segments, segments[1:], strict=False):
        assert after["start"] == before["end"]
    assert segments[-1]["end"] == data["duration"]
    plan = plan_locale(load_script(project / "scripts_src/wind-down.md", project), "en-GB")
    planned = [(i.source, i.seconds) for i in plan.items if i.kind == "silence"]
    written = [
        (s["source"], round(s["end"] - s["start"], 3)) for s in segments if s["kind"] == "silence"
    ]
    assert [source for source, _ in written] == [source for source, _ in planned]
    for (_, want), (_, got) in zip(planned, written, strict=True):
        assert got == pytest.approx(want, abs=0.0015)


def test_silences_survive_encoding_within_50_ms(project: Path) -> None:
    run(project, locales=("en-GB",))
    data = manifest(project, "en-GB")
    samples = decode(project / "out/wind-down/wind-down.en-GB.mp3")
    assert len(samples) / 44100 == pytest.approx(data["duration"], abs=0.05)
    measured = find_silences(samples, min_seconds=0.9)  # longer than a sentence gap (0.6 s)
    expected = [
        (s["start"], s["end"])
        for s in data["segments"]
        if s["kind"] == "silence" and s["end"] - s["start"] >= 0.9
    ]
    # Adjacent silence entries (a pause after a pause, lead-in) merge into one stretch.
    merged: list[list[float]] = []
    for start, end in expected:
        if merged and abs(merged[-1][1] - start) < 1e-6:
            merged[-1][1] = end
        else:
            merged.append([start, end])
    assert len(measured) == len(merged)
    for (got_start, got_end), (want_start, want_end) in zip(measured, merged, strict=True):
        assert got_start == pytest.approx(want_start, abs=0.05)
        assert got_end == pytest.approx(want_end, abs=0.05)


def test_loudness_and_tags_on_the_encoded_file(project: Path) -> None:
    run(project, locales=("en-US",))
    mp3 = project / "out/wind-down/wind-down.en-US.mp3"
    data = manifest(project, "en-US")
    assert data["loudness"]["integrated_lufs"] == pytest.approx(-16.0, abs=1.0)
    assert data["loudness"]["true_peak_dbtp"] <= -1.0
    assert lufs(decode(mp3)) == pytest.approx(-16.0, abs=1.0)
    tags = ID3(mp3)
    assert str(tags["TIT2"]) == "Evening Wind-Down"
    assert str(tags["TALB"]) == "Test Collection"
    assert str(tags["TRCK"]) == "3"
    assert str(tags["TPE1"]) == "Test Author"
    chapters = sorted(tags.getall("CHAP"), key=lambda c: c.start_time)
    titles = [str(c.sub_frames["TIT2"]) for c in chapters]
    assert titles == ["Evening Wind-Down", "Breathing", "Closing"]
    assert chapters[0].start_time == 0
    for chapter, listed in zip(chapters, data["chapters"], strict=True):
        assert chapter.start_time == pytest.approx(listed["start"] * 1000, abs=1)


def test_captions_have_one_cue_per_sentence(project: Path) -> None:
    run(project, locales=("en-GB",))
    vtt = (project / "out/wind-down/wind-down.en-GB.vtt").read_text(encoding="utf-8")
    plan = plan_locale(load_script(project / "scripts_src/wind-down.md", project), "en-GB")
    sentences = [s.printed for seg in plan.speech for s in seg.sentences]
    assert vtt.startswith("WEBVTT")
    assert vtt.count(" --> ") == len(sentences)
    assert [line for line in vtt.splitlines() if line in sentences] == sentences


def test_rebuild_with_nothing_changed_synthesises_and_writes_nothing(project: Path) -> None:
    run(project)
    first = outputs(project)
    assert FakeEngine.calls > 0
    FakeEngine.reset_calls()
    results = run(project)
    assert FakeEngine.calls == 0
    assert all(r.up_to_date and r.synthesised == 0 for r in results)
    assert outputs(project) == first


def test_editing_one_sentence_synthesises_only_that_sentence(project: Path) -> None:
    run(project)
    FakeEngine.reset_calls()
    script = project / "scripts_src/wind-down.md"
    script.write_text(SCRIPT.replace("Notice the air.", "Notice the cool air."), encoding="utf-8")
    results = run(project)
    assert FakeEngine.texts == ["Notice the cool air.", "Notice the cool air."]
    assert [(r.synthesised, r.up_to_date) for r in results] == [(1, False), (1, False)]
    assert all(r.cached > 0 for r in results)


def test_a_rebuild_starts_mastering_where_the_last_build_landed(project: Path) -> None:
    run(project, locales=("en-GB",))
    cold = manifest(project, "en-GB")["mastering"]
    assert set(cold) >= {"makeup_db", "level_offset_db", "peak_offset_db", "gain_passes"}
    script = project / "scripts_src/wind-down.md"
    script.write_text(SCRIPT.replace("Notice the air.", "Notice the cool air."), encoding="utf-8")
    run(project, locales=("en-GB",))
    edited = manifest(project, "en-GB")
    # The last gain still lands on target: no search at all, and one encode.
    assert (edited["mastering"]["gain_passes"], edited["mastering"]["encodes"]) == (0, 1)
    assert edited["loudness"]["integrated_lufs"] == pytest.approx(-16.0, abs=0.3)

    # Without the last build's piece map, the search starts from the manifest's hint and
    # takes one pass.
    pieces = project / "out/.cache/pieces/wind-down.en-GB.json"
    assert pieces.is_file()
    pieces.unlink()
    script.write_text(SCRIPT.replace("Notice the air.", "Notice the warm air."), encoding="utf-8")
    run(project, locales=("en-GB",))
    hinted = manifest(project, "en-GB")
    assert (hinted["mastering"]["gain_passes"], hinted["mastering"]["encodes"]) == (1, 1)
    assert hinted["loudness"]["integrated_lufs"] == pytest.approx(-16.0, abs=0.3)

    # A wrong hint costs the search passes to find the gain again, unless --force, which
    # starts from scratch.
    path = project / "out/wind-down/wind-down.en-GB.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["mastering"]["makeup_db"] = 4.0
    data["build_key"] = "changed"
    path.write_text(json.dumps(data), encoding="utf-8")
    pieces.unlink()
    run(project, locales=("en-GB",))
    assert manifest(project, "en-GB")["mastering"]["gain_passes"] > 1
    path.write_text(json.dumps(data), encoding="utf-8")
    run(project, locales=("en-GB",), force=True)
    assert manifest(project, "en-GB")["mastering"]["gain_passes"] == cold["gain_passes"]


def test_an_edit_re_encodes_only_the_pieces_it_changes(project: Path) -> None:
    run(project, locales=("en-GB",))
    pieces = project / "out/.cache/pieces/wind-down.en-GB.json"
    before = json.loads(pieces.read_text(encoding="utf-8"))["pieces"]
    assert len(before) >= 4  # the pauses of 2 s and more cut the track into pieces
    script = project / "scripts_src/wind-down.md"
    edited = SCRIPT.replace("open your eyes.", "slowly open your eyes.")
    script.write_text(edited, encoding="utf-8")
    run(project, locales=("en-GB",))
    after = json.loads(pieces.read_text(encoding="utf-8"))["pieces"]
    # Every piece before the last sentence keeps its frames; the last is new.
    assert [p[0] for p in after[:-1]] == [p[0] for p in before[:-1]]
    assert after[-1][0] != before[-1][0]
    mp3 = project / "out/wind-down/wind-down.en-GB.mp3"
    assert json.loads(pieces.read_text(encoding="utf-8"))["file_digest"] == file_digest(mp3)
    data = manifest(project, "en-GB")
    assert data["loudness"]["integrated_lufs"] == pytest.approx(-16.0, abs=0.3)
    assert data["loudness"]["true_peak_dbtp"] <= -1.0
    assert data["mastering"]["gain_passes"] == 0  # the last gain, kept
    # With --force nothing is taken from the last build: the gain is searched for again.
    run(project, locales=("en-GB",), force=True)
    assert manifest(project, "en-GB")["mastering"]["gain_passes"] > 0


def test_force_synthesises_everything_again(project: Path) -> None:
    run(project, locales=("en-GB",))
    first = FakeEngine.calls
    FakeEngine.reset_calls()
    run(project, locales=("en-GB",), force=True)
    assert FakeEngine.calls == first


def test_a_killed_synthesis_leaves_only_whole_cache_entries(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = FakeEngine.synthesize
    calls = {"n": 0}

    def dies_on_the_fourth(self, text, speed=1.0):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real(self, text, speed)

    monkeypatch.setattr(FakeEngine, "synthesize", dies_on_the_fourth)
    with pytest.raises(KeyboardInterrupt):
        run(project, locales=("en-GB",))
    cache = project / "out/.cache/sentences"
    entries = list(cache.rglob("*"))
    files = [p for p in entries if p.is_file()]
    assert len(files) == 3
    assert all(p.suffix == ".flac" and not p.name.startswith(".") for p in files)
    assert not (project / "out/wind-down").exists() or not list(
        (project / "out/wind-down").iterdir()
    )
    monkeypatch.setattr(FakeEngine, "synthesize", real)
    FakeEngine.reset_calls()
    results = run(project, locales=("en-GB",))
    assert results[0].cached == 3


def test_failure_mid_encode_keeps_the_previous_outputs(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(project, locales=("en-GB",))
    before = {p.name: p.read_bytes() for p in (project / "out/wind-down").iterdir()}
    (project / "scripts_src/wind-down.md").write_text(
        SCRIPT.replace("Notice the air.", "Notice the warm air."), encoding="utf-8"
    )
    import pipeline.encode

    real = pipeline.encode._run_encoder

    def half_written(feed, sr, output, bitrate, header=True):
        def first_block_only(write):
            sent = []

            def write_once(block):
                if not sent:
                    write(block)
                    sent.append(len(block))

            feed(write_once)
            assert sent  # something really was written

        real(first_block_only, sr, output, bitrate, header)
        raise EncodeError("simulated encoder crash", ["ffmpeg", "-i", "-"], 1, "boom")

    monkeypatch.setattr(pipeline.encode, "_run_encoder", half_written)
    with pytest.raises(EncodeError):
        run(project, locales=("en-GB",))
    after = {p.name: p.read_bytes() for p in (project / "out/wind-down").iterdir()}
    assert after == before


def test_an_invalid_script_stops_the_build_before_anything_is_written(project: Path) -> None:
    (project / "scripts_src" / "broken.md").write_text(
        "---\ntitle: Broken\n---\nHello. [pasue 3s]\n", encoding="utf-8"
    )
    with pytest.raises(ScriptError) as caught:
        run(project)
    assert [str(e) for e in caught.value.errors][0].startswith("scripts_src/broken.md:4:8: ")
    assert not (project / "out").exists()
    assert FakeEngine.calls == 0


def test_a_fallback_voice_is_reported_with_the_command_that_fixes_it(
    project: Path, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    monkeypatch.setenv("VOICETRACK_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    (project / "voices" / "tones.toml").write_text(
        TONES.replace(
            '[en-GB]\nengine = "fake"\nmodel = "gb"',
            '[en-GB]\nengine = "hibari"\nmodel = "emma"\n'
            'fallback = [{ engine = "fake", model = "gb" }]',
        ),
        encoding="utf-8",
    )
    results = run(project, locales=("en-GB",))
    assert results[0].voice.fallback
    assert results[0].fallback_hint and "voicetrack voices install emma" in results[0].fallback_hint
    data = manifest(project, "en-GB")
    assert data["voice"]["engine"] == "fake"
    assert data["voice"]["fallback"] is True
    assert "voicetrack voices install emma" in data["voice_hint"]


def test_parallel_jobs_give_the_same_tracks(project: Path) -> None:
    run(project)
    serial = {loc: manifest(project, loc) for loc in ("en-GB", "en-US")}
    FakeEngine.reset_calls()
    results = run(project, jobs=2, force=True)
    assert len(results) == 2
    for locale, data in serial.items():
        again = manifest(project, locale)
        assert again["segments"] == data["segments"]
        assert again["duration"] == data["duration"]


def test_warnings_from_parallel_workers_reach_the_parent(
    project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run(project)
    entries = sorted((project / "out" / ".cache" / "sentences").rglob("*.flac"))
    for entry in entries[:2]:
        entry.write_bytes(b"not audio")
    for path in (project / "out" / "wind-down").glob("*.json"):
        path.unlink()  # so both tracks render again, through the cache
    with caplog.at_level(logging.WARNING, logger="pipeline"):
        run(project, jobs=2)
    dropped = [r for r in caplog.records if "unreadable cache entry" in r.getMessage()]
    assert len(dropped) == 2
    # Logged in the workers, shown by the parent: the only process with a console.
    assert all(r.process != os.getpid() for r in dropped)


def test_every_track_sample_count_matches_its_manifest(project: Path) -> None:
    run(project, locales=("en-US",))
    samples = decode(project / "out/wind-down/wind-down.en-US.mp3")
    data = manifest(project, "en-US")
    # The manifest keeps milliseconds: half a millisecond is 22 samples.
    assert abs(len(samples) - data["duration"] * 44100) <= 22.05
    assert np.max(np.abs(samples)) < 1.0
    assert not [p for p in (project / "out/wind-down").iterdir() if p.name.startswith(".")]
    assert os.listdir(project / "out/wind-down")


def test_a_cache_entry_is_used_only_for_the_sentence_it_was_made_for(
    project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run(project, locales=("en-GB",))
    data = manifest(project, "en-GB")
    entries = sorted((project / "out" / ".cache" / "sentences").rglob("*.flac"))
    # Another sentence's audio filed under this one's key: it decodes, but is not this.
    sizes = {entry: entry.stat().st_size for entry in entries}
    longest = max(entries, key=sizes.__getitem__)
    shortest = min(entries, key=sizes.__getitem__)
    shortest.write_bytes(longest.read_bytes())
    (project / "out" / "wind-down" / "wind-down.en-GB.json").unlink()
    FakeEngine.reset_calls()
    with caplog.at_level(logging.WARNING, logger="pipeline"):
        (result,) = run(project, locales=("en-GB",))
    assert FakeEngine.calls == 1 and result.synthesised == 1
    assert any("holds the audio of" in r.getMessage() for r in caplog.records)
    assert manifest(project, "en-GB")["segments"] == data["segments"]


def track_file(project: Path, name: str) -> Path:
    return project / "out" / "wind-down" / name


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]), id="cut"),
        pytest.param(lambda p: p.write_bytes(b""), id="emptied"),
        # Same size, one byte changed: caught by the digest, the file being newer.
        pytest.param(lambda p: p.write_bytes(b"X" + p.read_bytes()[1:]), id="same-size"),
    ],
)
@pytest.mark.parametrize("kind", ["mp3", "pdf", "vtt"])
def test_a_damaged_output_is_not_up_to_date(project: Path, kind: str, damage) -> None:
    run(project, locales=("en-GB",))
    path = track_file(project, f"wind-down.en-GB.{kind}")
    whole = path.read_bytes()
    damage(path)
    (result,) = run(project, locales=("en-GB",))
    assert not result.up_to_date
    record = manifest(project, "en-GB")["outputs"][path.name]
    assert record == {
        "bytes": path.stat().st_size,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }
    if kind == "vtt":
        assert path.read_bytes() == whole
    elif kind == "pdf":
        assert path.read_bytes().rstrip().endswith(b"%%EOF")
    else:
        samples = decode(path)
        assert len(samples) / 44100 == pytest.approx(
            manifest(project, "en-GB")["duration"], abs=0.01
        )
    (again,) = run(project, locales=("en-GB",))
    assert again.up_to_date


def test_an_mp3_beside_the_manifest_of_another_build_is_rebuilt(project: Path) -> None:
    # What a kill between the renames of a build leaves: the new MP3, the old manifest.
    script = project / "scripts_src" / "wind-down.md"
    run(project, locales=("en-GB",))
    old_manifest = track_file(project, "wind-down.en-GB.json").read_bytes()
    script.write_text(SCRIPT.replace("[pause 3s]", "[pause 6s]"), encoding="utf-8")
    run(project, locales=("en-GB",))
    track_file(project, "wind-down.en-GB.json").write_bytes(old_manifest)
    script.write_text(SCRIPT, encoding="utf-8")
    (result,) = run(project, locales=("en-GB",))
    assert not result.up_to_date
    duration = len(decode(track_file(project, "wind-down.en-GB.mp3"))) / 44100
    assert duration == pytest.approx(manifest(project, "en-GB")["duration"], abs=0.01)


def test_the_manifest_records_the_files_it_belongs_with(project: Path) -> None:
    run(project, locales=("en-US",))
    data = manifest(project, "en-US")
    assert sorted(data["outputs"]) == sorted(data["files"].values())
    for name, record in data["outputs"].items():
        path = track_file(project, name)
        assert record["bytes"] == path.stat().st_size
        assert record["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_pdfs_alone_keep_a_built_tracks_measured_pdf(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from pipeline.cli import main

    run(project, locales=("en-GB",))
    built = track_file(project, "wind-down.en-GB.pdf").read_bytes()
    monkeypatch.chdir(project)
    result = CliRunner().invoke(main, ["pdf"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"kept {Path('out/wind-down/wind-down.en-GB.pdf')} (times measured by the last build)",
        f"wrote {Path('out/wind-down/wind-down.en-US.pdf')}",  # never built: estimated
    ]
    assert track_file(project, "wind-down.en-GB.pdf").read_bytes() == built
    (again,) = run(project, locales=("en-GB",))
    assert again.up_to_date


def dead_pid() -> int:
    import subprocess
    import sys

    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(finished.stdout)


def test_the_next_build_removes_what_a_killed_build_left(project: Path) -> None:
    run(project, locales=("en-GB",))
    folder = project / "out" / "wind-down"
    # As atomic_path names them, by a writer that has died: no one holds their lock.
    left = [
        folder / f".wind-down.en-GB.{dead_pid()}.k3l9x0_a.tmp.{kind}" for kind in ("mp3", "json")
    ]
    left.append(folder / ".wind-down.en-GB.q8w2e6r4.tmp.pdf")  # named by an earlier version
    for path in left:
        path.write_bytes(b"half a file")
    (result,) = run(project, locales=("en-GB",))
    assert result.up_to_date
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) == []


def test_the_next_build_leaves_a_running_builds_temporary_files(project: Path) -> None:
    from pipeline.atomic import atomic_path

    run(project, locales=("en-GB",))
    folder = project / "out" / "wind-down"
    with atomic_path(folder / "wind-down.en-GB.mp3") as being_written:
        being_written.write_bytes(b"the start of an MP3")
        run(project, locales=("en-GB",), force=True)
        assert being_written.read_bytes() == b"the start of an MP3"


def test_a_cache_entry_that_does_not_name_its_key_is_made_again(project: Path) -> None:
    import soundfile as sf

    run(project, locales=("en-GB",))
    entry = sorted((project / "out" / ".cache" / "sentences").rglob("*.flac"))[0]
    samples, rate = sf.read(entry, dtype="float32")
    sf.write(entry, samples, rate, subtype="PCM_16")  # as entries were once written: no key
    track_file(project, "wind-down.en-GB.json").unlink()
    FakeEngine.reset_calls()
    (result,) = run(project, locales=("en-GB",))
    assert FakeEngine.calls == 1 and result.synthesised == 1


def test_the_next_build_removes_cache_entries_a_killed_build_was_writing(project: Path) -> None:
    run(project, locales=("en-GB",))
    entry = sorted((project / "out" / ".cache" / "sentences").rglob("*.flac"))[0]
    dead = entry.with_name(f".{entry.stem}.{dead_pid()}.tmp.flac")
    live = entry.with_name(f".{entry.stem}.{os.getpid()}.tmp.flac")  # a build still writing
    for path in (dead, live):
        path.write_bytes(b"half an entry")
    run(project, locales=("en-GB",))
    assert not dead.exists() and live.exists()
