"""`voicetrack check` and the CLI's error handling, through Click's CliRunner."""

from __future__ import annotations

import os
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from pipeline import __version__
from pipeline.check import find_scripts
from pipeline.cli import main, reporting_errors
from pipeline.errors import ScriptError, VoiceUnavailable
from pipeline.voices import shipped_profiles_dir

VALID = "---\ntitle: Short Rest\n---\nHello there. [pause 10s]\n"
INVALID = "---\ntitle: Broken\nrate: 3\n---\nSettle [pasue 3s] now.\n\n- a list\n"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project folder, made the working directory (the project root)."""
    (tmp_path / "scripts_src").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(project: Path, name: str, text: str) -> Path:
    path = project / "scripts_src" / name
    path.write_text(text, encoding="utf-8")
    return path


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_valid_script_gets_a_summary_and_exit_status_0(project):
    write(project, "short-rest.md", VALID)
    result = run("check")
    assert result.exit_code == 0, result.output
    # 2 words at 2.33 words a second, plus 1s lead-in, the 10s pause and a 3s tail.
    assert result.stdout.splitlines() == [
        "scripts_src/short-rest.md: Short Rest",
        "  1 section, 1 segment",
        "  en-GB: 2 words, 0:14 of silence, about 0:15 in all",
        "  en-US: 2 words, 0:14 of silence, about 0:15 in all",
        "1 script OK",
    ]
    assert result.stderr == ""


def test_invalid_script_prints_every_error_and_exits_2(project):
    write(project, "broken.md", INVALID)
    result = run("check", "scripts_src/broken.md")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "scripts_src/broken.md:3:7: rate must be from 0.5 to 2.0 (not 3)",
        "scripts_src/broken.md:5:8: unknown tag [pasue 3s]; did you mean [pause 3s]?",
        "scripts_src/broken.md:7:1: unsupported Markdown: list",
        "3 problems in 1 of 1 script",
    ]
    assert result.stdout == ""


def test_a_folder_is_checked_script_by_script(project):
    write(project, "a-broken.md", INVALID)
    write(project, "b-fine.md", VALID)
    (project / "scripts_src" / "notes.txt").write_text("not a script")
    result = run("check", "scripts_src")
    assert result.exit_code == 2
    assert result.stdout.startswith("scripts_src/b-fine.md: Short Rest\n")
    assert result.stderr.splitlines()[0].startswith("scripts_src/a-broken.md:3:7: ")
    assert result.stderr.splitlines()[-1] == "3 problems in 1 of 2 scripts"


def test_nonexistent_path_is_a_usage_error(project):
    result = run("check", "scripts_src/missing.md")
    assert result.exit_code == 2
    assert "Path 'scripts_src/missing.md' does not exist" in result.stderr


def test_without_a_scripts_folder_check_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("check")
    assert result.exit_code == 2
    assert "there is no scripts_src/ folder here" in result.stderr


def test_a_folder_without_scripts_is_a_usage_error(project):
    result = run("check")
    assert result.exit_code == 2
    assert "no scripts (*.md files) found in scripts_src" in result.stderr


def test_find_scripts_takes_files_and_folders(project):
    b = write(project, "b.md", VALID)
    a = write(project, "a.md", VALID)
    other = project / "draft.txt"
    other.write_text(VALID)
    assert find_scripts([]) == [Path("scripts_src/a.md"), Path("scripts_src/b.md")]
    assert find_scripts([other, project / "scripts_src"]) == [other, a, b]
    with pytest.raises(FileNotFoundError):
        find_scripts([project / "nowhere"])


# --------------------------------------------------------------------------- the app


def test_version():
    result = run("--version")
    assert result.exit_code == 0
    assert result.stdout == f"voicetrack, version {__version__}\n"


@pytest.mark.parametrize("args", [["-h"], ["--help"], ["check", "-h"]])
def test_help_has_an_example_block(args):
    result = run(*args)
    assert result.exit_code == 0
    assert "Examples:\n    voicetrack check" in result.stdout


def test_unexpected_errors_are_one_line_with_a_hint(project, monkeypatch):
    write(project, "a.md", VALID)

    def explode(*_args, **_kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("pipeline.cli.check_scripts", explode)
    result = run("check")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: unexpected RuntimeError: disk on fire (rerun with --debug to see the traceback)\n"
    )
    debug = run("--debug", "check")
    assert isinstance(debug.exception, RuntimeError)


def _command(error: Exception) -> click.Command:
    @click.command()
    def fails() -> None:
        with reporting_errors():
            raise error

    return fails


def test_pipeline_errors_exit_1_with_their_hint():
    error = VoiceUnavailable("voice 'emma' is not installed", hint="pip install hibari-tts")
    result = CliRunner().invoke(_command(error))
    assert result.exit_code == 1
    assert result.stderr == "Error: voice 'emma' is not installed\nHint: pip install hibari-tts\n"


def test_script_errors_exit_2_with_every_line():
    error = ScriptError.at("scripts_src/x.md", 4, 2, "unknown tag [x]")
    result = CliRunner().invoke(_command(error))
    assert result.exit_code == 2
    assert result.stderr == "scripts_src/x.md:4:2: unknown tag [x]\n"


# --------------------------------------------------------------------------- errors in place


def make_unreadable(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``path`` cannot be read: by its permissions, and (since root reads anything) by the
    read failing as it does for a user without them."""
    path.chmod(0)
    if not os.access(path, os.R_OK):
        return
    read_bytes, read_text = Path.read_bytes, Path.read_text

    def denied(self: Path) -> None:
        if self.resolve() == path.resolve():
            raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", lambda self: denied(self) or read_bytes(self))
    monkeypatch.setattr(
        Path, "read_text", lambda self, *a, **k: denied(self) or read_text(self, *a, **k)
    )


def test_an_unreadable_script_is_a_script_error_and_the_rest_are_checked(project, monkeypatch):
    write(project, "a-locked.md", VALID)
    write(project, "b-fine.md", VALID)
    make_unreadable(project / "scripts_src" / "a-locked.md", monkeypatch)
    result = run("check")
    assert result.exit_code == 2
    assert result.stdout.startswith("scripts_src/b-fine.md: Short Rest\n")
    assert result.stderr.splitlines() == [
        "scripts_src/a-locked.md:1:1: cannot read the script: Permission denied",
        "1 problem in 1 of 2 scripts",
    ]


def test_an_unreadable_lexicon_is_a_script_error(project, monkeypatch):
    write(project, "a.md", VALID)
    (project / "scripts_src" / "lexicon.toml").write_text('[all]\nA = "a"\n', encoding="utf-8")
    make_unreadable(project / "scripts_src" / "lexicon.toml", monkeypatch)
    result = run("check")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        "scripts_src/lexicon.toml:1:1: cannot read the lexicon: Permission denied"
    )


def test_a_lexicon_that_is_not_utf8_is_a_script_error(project):
    write(project, "a.md", VALID)
    (project / "scripts_src" / "lexicon.toml").write_bytes(b'[all]\nCaf\xe9 = "cafe"\n')
    result = run("check")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        "scripts_src/lexicon.toml:2:4: not UTF-8 text (byte 0xe9)"
    )


def test_two_scripts_with_one_slug_are_an_error_naming_both(project):
    for folder in ("morning", "evening"):
        (project / "scripts_src" / folder).mkdir()
        write(project, f"{folder}/rest.md", VALID)
    result = run("check", "scripts_src/morning", "scripts_src/evening")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "scripts_src/evening/rest.md:1:1: scripts_src/morning/rest.md has the same name (rest), "
        "and both would be built into one folder; rename one",
        "1 problem in 1 of 2 scripts",
    ]


def test_a_script_named_twice_is_checked_once(project):
    write(project, "rest.md", VALID)
    result = run("check", "scripts_src/rest.md", "scripts_src")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "1 script OK"


def test_a_voice_role_that_does_not_exist_is_an_error_at_its_line(project):
    write(project, "a.md", "---\ntitle: A\nvoice: narator\n---\nHello.\n")
    result = run("check")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "scripts_src/a.md:3:8: unknown voice role 'narator' (did you mean 'narrator'?); "
        "roles: espeak, narrator, narrator-piper",
        "1 problem in 1 of 1 script",
    ]


def test_a_voice_role_without_one_of_the_scripts_locales_is_an_error(project):
    write(project, "a.md", "---\ntitle: A\nlocales: [en-GB, en-AU]\n---\nHello.\n")
    result = run("check")
    assert result.exit_code == 2
    shipped = shipped_profiles_dir() / "narrator.toml"
    assert result.stderr.splitlines()[0] == (
        f"scripts_src/a.md:3:10: voice role 'narrator' ({shipped}) has no voice for en-AU "
        "(it has en-GB, en-US)"
    )


def test_a_profile_whose_paths_leave_the_root_fails_check(project):
    (project / "voices").mkdir()
    (project / "voices" / "mine.toml").write_text(
        '[en-GB]\nengine = "piper"\nmodel_path = "../../voice.onnx"\n'
        '[en-US]\nengine = "piper"\nmodel = "en_US-joe-medium"\n',
        encoding="utf-8",
    )
    write(project, "a.md", "---\ntitle: A\nvoice: mine\n---\nHello.\n")
    write(project, "b.md", VALID)
    result = run("check")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "voices/mine.toml:3:1: model_path '../../voice.onnx' resolves outside the project root",
        "scripts_src/a.md:3:8: voice role 'mine' cannot be used until voices/mine.toml is fixed",
        "2 problems in 1 of 2 scripts and 1 voice profile",
    ]
    assert "scripts_src/b.md: Short Rest" in result.stdout


def test_a_script_named_from_outside_the_project_is_refused(project, tmp_path_factory):
    outside = tmp_path_factory.mktemp("elsewhere") / "stray.md"
    outside.write_text(VALID, encoding="utf-8")
    for command in (["check"], ["build", "-q"]):
        result = run(*command, str(outside))
        assert result.exit_code == 2
        assert result.stderr.splitlines()[0] == (
            f"{outside}:1:1: the script is outside the project root (scripts are read only "
            "from inside it)"
        )
    assert not (project / "out").exists()
