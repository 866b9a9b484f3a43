"""voicetrack init: a working project in one step, never overwriting a file."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from pipeline.check import check_scripts, find_scripts
from pipeline.cli import main
from pipeline.parse import about_file, load_script
from pipeline.settings import load_settings
from pipeline.site.text import render_about

MADE = [
    "scripts_src/first-exercise.md",
    "scripts_src/first-exercise.about.md",
    "voices/README.md",
    "voicetrack.toml",
    ".gitignore",
]


def test_init_makes_a_working_project(tmp_path: Path) -> None:
    target = tmp_path / "exercises"
    result = CliRunner().invoke(main, ["init", str(target)])
    assert result.exit_code == 0, result.output
    for name in MADE:
        assert f"made {target / name}" in result.output
    assert f"next: cd {target} && voicetrack build && voicetrack publish --preview" in (
        result.output
    )
    scripts = find_scripts([target / "scripts_src"])
    assert [p.name for p in scripts] == ["first-exercise.md"]
    (checked,) = check_scripts(scripts, root=target)
    assert checked.ok, checked.errors
    assert load_settings(target).site.title == "My Exercises"
    assert "out/" in (target / ".gitignore").read_text().splitlines()
    about = about_file(load_script(scripts[0], target), target)
    assert about is not None and "<h2>Therapist guidance</h2>" in render_about(about.read_text())


def test_the_example_script_shows_every_kind_of_markup(tmp_path: Path) -> None:
    CliRunner().invoke(main, ["init", str(tmp_path)])
    text = (tmp_path / "scripts_src" / "first-exercise.md").read_text(encoding="utf-8")
    for markup in (
        "<!--",
        "\n# ",
        "[pause]",
        "[pause 5s]",
        "[pause:3s]",
        '<break time="2s"/>',
        "{en-GB: colour | en-US: color}",
        "[CFT](say: compassion focused therapy)",
        "*slowly*",
        "**a little longer**",
        "\\[",
        "techniques:",
        "[bell]",
    ):
        assert markup in text, markup


def test_init_never_overwrites(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "voicetrack.toml").write_text("# ours\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["init"])
    assert result.exit_code == 0, result.output
    assert f"kept {Path('voicetrack.toml')} (already there)" in result.output
    assert (tmp_path / "voicetrack.toml").read_text() == "# ours\n"
    assert "next: voicetrack build && voicetrack publish --preview" in result.output
    again = CliRunner().invoke(main, ["init"])
    assert "made" not in again.output
