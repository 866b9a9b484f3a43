"""`voicetrack build --watch`: what is watched, how changes are noticed, and that the CLI
reports a broken script and goes on watching."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline import watch as watch_module
from pipeline.cli import main
from pipeline.watch import changed_files, snapshot, watch, watched_files

SCRIPT = """\
---
title: Settling
voice: tones
locales: [en-GB]
---

Welcome. Take a moment to arrive. [pause 3s]
"""
TONES = '[en-GB]\nengine = "fake"\nmodel = "gb"\n'


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    tmp_path = tmp_path.resolve()
    (tmp_path / "scripts_src").mkdir()
    (tmp_path / "voices").mkdir()
    (tmp_path / "scripts_src" / "settling.md").write_text(SCRIPT, encoding="utf-8")
    (tmp_path / "voices" / "tones.toml").write_text(TONES, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def touch(path: Path, text: str) -> None:
    """Write ``text`` and move the modification time on, however coarse the file system's."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(before + 2_000_000_000, before + 2_000_000_000))


def test_a_build_reads_scripts_lexicons_files_beside_them_and_voices(project: Path) -> None:
    (project / "lexicon.toml").write_text('[words]\nCFT = "C F T"\n', encoding="utf-8")
    (project / "scripts_src" / "cover.png").write_bytes(b"png")
    (project / "scripts_src" / ".settling.md.swp").write_bytes(b"editor state")
    (project / "out").mkdir()
    (project / "out" / "old.mp3").write_bytes(b"")
    files = {p.relative_to(project.resolve()).as_posix() for p in watched_files([], project)}
    assert files == {
        "lexicon.toml",
        "scripts_src/cover.png",
        "scripts_src/settling.md",
        "voices/tones.toml",
    }


def test_changes_are_files_added_removed_or_modified(project: Path) -> None:
    script = project / "scripts_src" / "settling.md"
    before = snapshot(watched_files([], project))
    touch(script, SCRIPT + "\nA new closing line.\n")
    new = project / "scripts_src" / "another.md"
    new.write_text(SCRIPT, encoding="utf-8")
    (project / "voices" / "tones.toml").unlink()
    after = snapshot(watched_files([], project))
    assert changed_files(before, after) == sorted([script, new, project / "voices" / "tones.toml"])
    assert changed_files(after, after) == []


def test_watch_calls_rebuild_once_the_files_have_settled(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = project / "scripts_src" / "settling.md"
    stop = threading.Event()
    calls: list[list[Path]] = []
    looked = threading.Event()  # the watcher has taken its first snapshot
    real_snapshot = watch_module.snapshot

    def snapshot_and_tell(files):
        found = real_snapshot(files)
        looked.set()
        return found

    monkeypatch.setattr(watch_module, "snapshot", snapshot_and_tell)

    def rebuild(changed: list[Path]) -> None:
        calls.append(changed)
        if len(calls) == 2:
            stop.set()

    worker = threading.Thread(
        target=watch, args=([], project, rebuild), kwargs={"interval": 0.05, "stop": stop}
    )
    worker.start()
    assert looked.wait(20)
    time.sleep(0.2)
    assert calls == []  # nothing changed yet
    touch(script, SCRIPT + "\nOne more line.\n")
    deadline = time.monotonic() + 20
    while not calls and time.monotonic() < deadline:
        time.sleep(0.02)
    assert calls == [[script]]
    lexicon = project / "scripts_src" / "lexicon.toml"
    lexicon.write_text('[words]\nCFT = "C F T"\n', encoding="utf-8")
    worker.join(timeout=20)
    assert not worker.is_alive()
    assert calls[1] == [lexicon]


def test_build_watch_reports_a_broken_script_and_goes_on(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = project / "scripts_src" / "settling.md"
    mp3 = project / "out" / "settling" / "settling.en-GB.mp3"
    seen: dict[str, object] = {}

    def two_saves(paths, root, rebuild, **_):
        seen["first build"] = mp3.is_file()
        touch(script, SCRIPT.replace("[pause 3s]", "[pasue 3s]"))
        rebuild([script])  # reported, and the watch goes on
        seen["after the typo"] = mp3.stat().st_mtime_ns
        touch(script, SCRIPT.replace("arrive.", "arrive, gently."))
        rebuild([script])
        raise KeyboardInterrupt  # the person presses Ctrl-C

    monkeypatch.setattr(watch_module, "watch", two_saves)
    result = CliRunner().invoke(main, ["build", "-q", "--watch"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert seen["first build"] is True
    assert "scripts_src/settling.md:7:35: unknown tag [pasue 3s]" in result.stderr
    assert result.stderr.count("changed: scripts_src/settling.md") == 2
    assert mp3.stat().st_mtime_ns != seen["after the typo"]  # rebuilt after the fix
    assert result.stderr.rstrip().endswith("stopped watching")
    assert result.stdout.count("1 track (1 rendered, 0 up to date)") == 2
