"""The command line end to end: build, pdf, voices and the own-voice takes workflow."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from pypdf import PdfReader

from pipeline.cli import main
from pipeline.engines.fake import FakeEngine
from pipeline.errors import EncodeError

SCRIPT = """\
---
title: Settling
voice: tones
---

Welcome. Take a moment to arrive. [pause 3s]

# Breathing

Breathe in slowly, and let the breath go. [pause 5s]
Notice how you feel now.
"""

TONES = """\
[en-GB]
engine = "fake"
model = "gb"

[en-US]
engine = "fake"
model = "us"
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "scripts_src").mkdir()
    (tmp_path / "voices").mkdir()
    (tmp_path / "scripts_src" / "settling.md").write_text(SCRIPT, encoding="utf-8")
    (tmp_path / "voices" / "tones.toml").write_text(TONES, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    FakeEngine.reset_calls()
    return tmp_path


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def manifest(project: Path, locale: str) -> dict:
    text = (project / "out" / "settling" / f"settling.{locale}.json").read_text(encoding="utf-8")
    return json.loads(text)


def test_build_renders_every_track_and_prints_a_summary(project: Path) -> None:
    result = invoke("build", "--quiet")
    assert result.exit_code == 0, result.output
    assert "settling" in result.stdout and "en-GB" in result.stdout and "en-US" in result.stdout
    assert "2 tracks (2 rendered, 0 up to date)" in result.stdout
    for locale in ("en-GB", "en-US"):
        for kind in ("mp3", "vtt", "pdf", "json"):
            assert (project / "out" / "settling" / f"settling.{locale}.{kind}").is_file()
    again = invoke("build", "--quiet")
    assert again.exit_code == 0
    assert "2 tracks (0 rendered, 2 up to date)" in again.stdout
    assert again.stdout.count("up to date") == 3


def test_the_summary_lists_each_script_with_its_locales_within_80_columns(
    project: Path,
) -> None:
    # A second script whose British voice is missing, so that a fallback is shown.
    (project / "voices" / "missing.toml").write_text(
        '[en-GB]\nengine = "piper"\nmodel = "en_GB-nobody-medium"\n'
        'fallback = [{ engine = "fake", model = "gb" }]\n\n'
        '[en-US]\nengine = "fake"\nmodel = "us"\n',
        encoding="utf-8",
    )
    long_name = project / "scripts_src" / "a-rather-long-name-for-an-exercise.md"
    long_name.write_text(SCRIPT.replace("voice: tones", "voice: missing"), encoding="utf-8")
    result = invoke("build", "--quiet")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    table = lines[: next(i for i, line in enumerate(lines) if line.startswith("4 tracks"))]
    assert all(len(line) <= 80 for line in table), result.stdout
    assert lines[-1].startswith("* fallback voice; for the first choice: voicetrack voices")
    header = lines[0].split()
    assert header == ["locale", "voice", "length", "LUFS", "dBTP", "new/cached", "time"]
    for name in ("a-rather-long-name-for-an-exercise", "settling"):
        at = lines.index(name)
        assert [line.split()[0] for line in lines[at + 1 : at + 3]] == ["en-GB", "en-US"]
    fallback = lines[lines.index("a-rather-long-name-for-an-exercise") + 1]
    assert "fake:gb *" in fallback and "*" not in lines[lines.index("settling") + 1]
    # The columns line up across scripts: every row's numbers end at the same place.
    rows = [line for line in lines if line.startswith("  en-")]
    assert len({len(row) for row in rows}) == 1


def test_install_commands_are_printed_as_written(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "[coqui]" in a pip command looks like console markup; it must survive as text.
    import pipeline.engines.coqui as coqui

    monkeypatch.setattr(coqui, "coqui_available", lambda: False)
    (project / "voices" / "cloned.toml").write_text(
        '[en-GB]\nengine = "coqui"\nmodel = "tts_models/en/vctk/vits"\nspeaker = "p225"\n'
        'fallback = [{ engine = "fake", model = "gb" }]\n\n'
        '[en-US]\nengine = "fake"\nmodel = "us"\n',
        encoding="utf-8",
    )
    listing = invoke("voices")
    assert listing.exit_code == 0, listing.output
    assert (
        "  cloned (en-GB) coqui:tts_models/en/vctk/vits: pip install 'voicetrack[coqui]'"
        in listing.stdout.splitlines()
    )
    result = invoke("build", "-q", "--voice", "cloned", "--locale", "en-GB")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == (
        "* fallback voice; for the first choice: pip install 'voicetrack[coqui]'"
    )


def test_build_options_select_locale_and_output_folder(project: Path) -> None:
    result = invoke("build", "-q", "--locale", "en-US", "--out", "elsewhere")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (project / "elsewhere" / "settling").iterdir()) == [
        "settling.en-US.json",
        "settling.en-US.mp3",
        "settling.en-US.pdf",
        "settling.en-US.vtt",
    ]
    assert not (project / "out" / "settling").exists()


def test_an_invalid_script_exits_2_and_leaves_earlier_outputs_alone(project: Path) -> None:
    assert invoke("build", "-q").exit_code == 0
    folder = project / "out" / "settling"
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    script = project / "scripts_src" / "settling.md"
    script.write_text(SCRIPT.replace("[pause 5s]", "[pasue 5s]"), encoding="utf-8")
    result = invoke("build", "-q")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        "scripts_src/settling.md:10:43: unknown tag [pasue 5s]; did you mean [pause 5s]?"
    )
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before
    assert result.stdout == ""


def test_a_render_failure_exits_1_with_the_command_and_its_stderr(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pipeline.encode

    def failing(samples, sr, output, bitrate, header=True):
        raise EncodeError(
            "ffmpeg could not encode the track",
            ["ffmpeg", "-f", "f32le", "-i", "-", str(output)],
            187,
            "Unknown encoder 'libmp3lame'",
        )

    monkeypatch.setattr(pipeline.encode, "_run_encoder", failing)
    result = invoke("build", "-q", "--locale", "en-GB")
    assert result.exit_code == 1
    assert "ffmpeg could not encode the track" in result.stderr
    assert "command: ffmpeg -f f32le -i -" in result.stderr
    assert "exit status: 187" in result.stderr
    assert "Unknown encoder 'libmp3lame'" in result.stderr
    assert not (project / "out" / "settling" / "settling.en-GB.mp3").exists()


def test_unknown_voice_role_is_an_input_error(project: Path) -> None:
    result = invoke("build", "-q", "--voice", "tonez")
    assert result.exit_code == 2
    assert "unknown voice role 'tonez'" in result.stderr
    assert "tones" in result.stderr


def test_a_locale_no_script_has_is_an_input_error(project: Path) -> None:
    for command in (["build", "-q"], ["pdf"]):
        result = invoke(*command, "--locale", "en-GB", "--locale", "en-AU")
        assert result.exit_code == 2, result.output
        assert result.stderr == (
            "Error: --locale en-AU: no script has this locale (the scripts have en-GB, en-US)\n"
        )
    assert not (project / "out").exists()


def test_two_scripts_with_one_slug_do_not_build(project: Path) -> None:
    (project / "drafts").mkdir()
    (project / "drafts" / "settling.md").write_text(SCRIPT, encoding="utf-8")
    result = invoke("build", "-q", "scripts_src", "drafts")
    assert result.exit_code == 2
    assert result.stderr == (
        "drafts/settling.md:1:1: scripts_src/settling.md has the same name (settling), and "
        "both would be built into one folder; rename one\n"
    )
    assert not (project / "out").exists()


ROLE_RULE = "a role name is letters, digits, '-' and '_', like narrator"


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["build", "-q", "--voice", "../../x"], "--voice"),
        (["build", "-q", "--voice", "tones", "--fill-missing", "a/b"], "--fill-missing"),
        (["takes", "sheet", "scripts_src/settling.md", "--voice", "../../x"], "--voice"),
        (["takes", "status", "scripts_src/settling.md", "--voice", "../x"], "--voice"),
        (
            ["takes", "sheet", "scripts_src/settling.md", "--voice", "me", "--guide-voice", ".."],
            "--guide-voice",
        ),
    ],
)
def test_role_names_on_the_command_line_follow_the_rule_for_voice(
    project: Path, args: list[str], option: str
) -> None:
    around = sorted(project.parent.iterdir())
    result = invoke(*args)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == f"Error: Invalid value for '{option}': {ROLE_RULE}"
    assert sorted(project.parent.iterdir()) == around
    assert sorted(p.name for p in project.iterdir()) == ["scripts_src", "voices"]


def test_a_script_voice_that_does_not_exist_stops_the_build_at_its_line(project: Path) -> None:
    script = project / "scripts_src" / "settling.md"
    script.write_text(SCRIPT.replace("voice: tones", "voice: tonez"), encoding="utf-8")
    result = invoke("build", "-q")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "scripts_src/settling.md:3:8: unknown voice role 'tonez' (did you mean 'tones'?); "
        "roles: espeak, narrator, narrator-piper, tones"
    ]
    assert not (project / "out").exists()


def outside_error(where: str, target: Path) -> str:
    return (
        f"Error: {where} leads outside the project root (to {target.resolve()}); voicetrack "
        "reads and writes only inside the project"
    )


@pytest.mark.parametrize(
    "command",
    [
        ["build", "-q", "--locale", "en-GB"],
        ["pdf", "--locale", "en-GB"],
        ["takes", "sheet", "scripts_src/settling.md", "--voice", "me"],
    ],
)
def test_an_out_folder_outside_the_project_is_refused(
    project: Path, tmp_path_factory: pytest.TempPathFactory, command: list[str]
) -> None:
    outside = tmp_path_factory.mktemp("elsewhere")
    result = invoke(*command, "--out", str(outside))
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == outside_error(str(outside), outside)
    assert list(outside.iterdir()) == []


def test_an_out_folder_that_links_out_of_the_project_is_refused(
    project: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("elsewhere")
    (project / "out").symlink_to(outside)
    result = invoke("build", "-q", "--locale", "en-GB")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == outside_error("out", outside)
    assert list(outside.iterdir()) == []


def test_a_recording_from_outside_the_project_is_refused(
    project: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("elsewhere") / "session.wav"
    outside.write_bytes(b"RIFF")
    result = invoke("takes", "split", str(outside), "scripts_src/settling.md", "--voice", "me")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == outside_error(str(outside), outside)
    assert not (project / "takes").exists()


def test_a_takes_folder_that_links_out_of_the_project_is_refused(
    project: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("elsewhere")
    (project / "takes").symlink_to(outside)
    result = invoke("takes", "sheet", "scripts_src/settling.md", "--voice", "me")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == outside_error("takes/me", outside / "me")
    assert list(outside.iterdir()) == []


def test_pdf_writes_estimated_scripts_without_synthesis(project: Path) -> None:
    result = invoke("pdf", "--locale", "en-GB")
    assert result.exit_code == 0, result.output
    path = project / "out" / "settling" / "settling.en-GB.pdf"
    assert result.stdout.strip() == f"wrote {Path('out/settling/settling.en-GB.pdf')}"
    text = "\n".join(page.extract_text() for page in PdfReader(path).pages)
    assert "approx" in text
    assert "S1-01" in text
    assert FakeEngine.calls == 0


def test_voices_lists_project_roles_with_what_they_resolve_to(project: Path) -> None:
    result = invoke("voices")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    # Each role on a line of its own, its locales beneath: locale, voice, licence.
    tones = lines.index("tones")
    assert [line.split()[:3] for line in lines[tones + 1 : tones + 3]] == [
        ["en-GB", "fake:gb", "none"],
        ["en-US", "fake:us", "none"],
    ]
    narrator = lines.index("narrator")
    assert lines[narrator + 2].split()[:2] == ["en-US", "hibari:heart"]


def test_every_command_has_help_with_examples() -> None:
    runner = CliRunner()
    for command in (
        [],
        ["check"],
        ["build"],
        ["pdf"],
        ["voices"],
        ["voices", "install"],
        ["voices", "available"],
        ["takes"],
        ["takes", "split"],
        ["takes", "status"],
        ["takes", "sheet"],
    ):
        result = runner.invoke(main, [*command, "-h"])
        assert result.exit_code == 0, command
        assert "Example" in result.output or "workflow" in result.output, command


# --------------------------------------------------------------------------- own voice

OWN_VOICE_SCRIPT = """\
---
title: Ease
locales: [en-GB]
pause: 3s
---

# Arriving

Welcome to this short practice. [pause]
Find a comfortable position, and let your eyes close if that feels right.

Notice the weight of your body on the chair. Let it be supported. [pause 5s]
Breathe in. [pause 2s] And breathe out.

# Resting

Now rest here quietly for a little while. [pause 12s]
When you are ready, gently open your eyes.
"""


@pytest.mark.slow
def test_a_therapist_records_one_take_and_gets_a_finished_track(project: Path) -> None:
    from test_takes_support import read_session, write_session

    from pipeline.parse import load_script
    from pipeline.plan import plan_locale

    script = project / "scripts_src" / "ease.md"
    script.write_text(OWN_VOICE_SCRIPT, encoding="utf-8")
    (project / "scripts_src" / "settling.md").unlink()
    plan = plan_locale(load_script(script, project), "en-GB")

    sheet = invoke("takes", "sheet", "scripts_src/ease.md", "--voice", "dr-lee")
    assert sheet.exit_code == 0, sheet.output
    sheet_pdf = project / "takes" / "dr-lee" / "ease" / "ease.en-GB.sheet.pdf"
    assert sheet_pdf.is_file()

    session = write_session(read_session(plan, 7), project / "session.wav")
    split = invoke("takes", "split", str(session), "scripts_src/ease.md", "--voice", "dr-lee")
    assert split.exit_code == 0, split.output
    assert all(s.id in split.stdout for s in plan.speech)
    assert (project / "voices" / "dr-lee.toml").is_file()

    status = invoke("takes", "status", "scripts_src/ease.md", "--voice", "dr-lee")
    assert status.exit_code == 0, status.output
    assert f"{len(plan.speech)} ok" in status.stdout

    built = invoke("build", "-q", "scripts_src/ease.md", "--voice", "dr-lee")
    assert built.exit_code == 0, built.output
    data = json.loads((project / "out/ease/ease.en-GB.json").read_text(encoding="utf-8"))
    assert data["voice"]["engine"] == "takes"
    assert data["loudness"]["integrated_lufs"] == pytest.approx(-16.0, abs=1.0)
    assert data["loudness"]["true_peak_dbtp"] <= -1.0
    planned = [i.seconds for i in plan.items if i.kind == "silence"]
    written = [s["end"] - s["start"] for s in data["segments"] if s["kind"] == "silence"]
    assert written == pytest.approx(planned, abs=0.0011)

    script.write_text(
        OWN_VOICE_SCRIPT.replace("Breathe in.", "Breathe in deeply."), encoding="utf-8"
    )
    stale = invoke("takes", "status", "scripts_src/ease.md", "--voice", "dr-lee")
    assert stale.exit_code == 2
    assert "1 stale" in stale.stdout
    refused = invoke("build", "-q", "scripts_src/ease.md", "--voice", "dr-lee")
    assert refused.exit_code == 2
    assert "S1-04" in refused.stderr and "--fill-missing" in refused.stderr

    filled = invoke(
        "build", "-q", "scripts_src/ease.md", "--voice", "dr-lee", "--fill-missing", "tones"
    )
    assert filled.exit_code == 0, filled.output
    assert (
        "ease en-GB: no usable take for S1-04; spoken by the --fill-missing voice" in filled.stdout
    )
    data = json.loads((project / "out/ease/ease.en-GB.json").read_text(encoding="utf-8"))
    assert data["filled"]["role"] == "tones"
    assert data["filled"]["segments"] == ["S1-04"]
    assert FakeEngine.texts == ["Breathe in deeply."]
