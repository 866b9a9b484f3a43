"""The README's promise on the real sample scripts: `voicetrack build` renders every script in
scripts_src/ in both locales on the voices that ship with the package, and the tracks meet
the contract (loudness, true peak, exact silences, one chapter per section)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from mutagen.id3 import ID3

from pipeline.check import find_scripts
from pipeline.cli import main
from pipeline.parse import load_script
from pipeline.plan import plan_locale

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = find_scripts([ROOT / "scripts_src"])


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("samples")
    shutil.copytree(ROOT / "scripts_src", project / "scripts_src")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        # No neural British voice is installed here: en-GB falls back to espeak-ng.
        patch.setenv("VOICETRACK_DATA_DIR", str(project / ".data"))
        patch.setenv("HIBARI_HOME", str(project / ".hibari"))
        result = CliRunner().invoke(main, ["build", "--quiet", "--jobs", "2"])
    assert result.exit_code == 0, result.output
    return project


def test_there_are_sample_scripts() -> None:
    assert len(SCRIPTS) >= 3


def test_check_passes_on_the_sample_scripts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(main, ["check"])
    assert result.exit_code == 0, result.output
    assert result.stdout.rstrip().endswith(f"{len(SCRIPTS)} scripts OK")


@pytest.mark.slow
@pytest.mark.parametrize("locale", ["en-GB", "en-US"])
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_every_sample_track_meets_the_contract(built: Path, script: Path, locale: str) -> None:
    slug = script.stem
    folder = built / "out" / slug
    data = json.loads((folder / f"{slug}.{locale}.json").read_text(encoding="utf-8"))
    for kind in ("mp3", "vtt", "pdf"):
        assert (folder / data["files"][kind]).stat().st_size > 0

    assert data["locale"] == locale
    assert data["voice"]["role"] == "narrator"
    if locale == "en-US":
        assert (data["voice"]["engine"], data["voice"]["model"]) == ("hibari", "heart")
        assert data["voice"]["fallback"] is False
    else:
        assert (data["voice"]["engine"], data["voice"]["model"]) == ("espeak-ng", "en-gb-x-rp")
        assert data["voice"]["fallback"] is True
        assert data["voice_hint"] == "voicetrack voices install emma"

    assert data["loudness"]["integrated_lufs"] == pytest.approx(-16.0, abs=1.0)
    assert data["loudness"]["true_peak_dbtp"] <= -1.0

    plan = plan_locale(load_script(built / "scripts_src" / script.name, built), locale)
    planned = [(i.source, i.seconds) for i in plan.items if i.kind == "silence"]
    written = [
        (s["source"], s["end"] - s["start"]) for s in data["segments"] if s["kind"] == "silence"
    ]
    assert [s for s, _ in written] == [s for s, _ in planned]
    assert [d for _, d in written] == pytest.approx([d for _, d in planned], abs=0.0011)

    sections_with_speech = {i.section for i in plan.speech}
    chapters = ID3(folder / data["files"]["mp3"]).getall("CHAP")
    assert len(chapters) == len(data["chapters"]) == len(sections_with_speech)
