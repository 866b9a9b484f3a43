"""Front-matter keys of the resource page (v1.1): techniques and the about file."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import ScriptError
from pipeline.parse import about_file, load_script


def test_techniques_are_a_list_of_names(parse) -> None:
    script = parse("Hello.\n", front="techniques: [breathing, 'compassion-focused therapy']\n")
    assert script.meta.techniques == ("breathing", "compassion-focused therapy")
    assert parse("Hello.\n", front="techniques: imagery\n").meta.techniques == ("imagery",)
    assert parse("Hello.\n").meta.techniques == ()


def test_bad_techniques_are_errors_at_their_position(errors) -> None:
    assert errors("Hello.\n", front="techniques: [breathing, Breathing]\n") == [
        "scripts_src/example.md:3:25: technique 'Breathing' is listed twice"
    ]
    assert errors("Hello.\n", front="techniques: [a, '']\n") == [
        "scripts_src/example.md:3:17: a technique cannot be empty"
    ]
    assert errors("Hello.\n", front="tecniques: [a]\n") == [
        "scripts_src/example.md:3:1: unknown key 'tecniques'; did you mean 'techniques'?"
    ]


def test_about_must_be_relative(errors) -> None:
    assert errors("Hello.\n", front="about: /etc/passwd\n") == [
        "scripts_src/example.md:3:8: about must be a path relative to the script's folder"
    ]


def project(tmp_path: Path, front: str = "") -> Path:
    (tmp_path / "scripts_src").mkdir()
    script = tmp_path / "scripts_src" / "calm.md"
    script.write_text(f"---\ntitle: Calm\n{front}---\nHello.\n", encoding="utf-8")
    return script


def test_default_about_file_beside_the_script(tmp_path: Path) -> None:
    path = project(tmp_path)
    assert about_file(load_script(path, tmp_path), tmp_path) is None
    (tmp_path / "scripts_src" / "calm.about.md").write_text("# About\n", encoding="utf-8")
    assert about_file(load_script(path, tmp_path), tmp_path) == path.parent / "calm.about.md"


def test_named_about_file(tmp_path: Path) -> None:
    path = project(tmp_path, front="about: pages/calm.md\n")
    (tmp_path / "scripts_src" / "pages").mkdir()
    (tmp_path / "scripts_src" / "pages" / "calm.md").write_text("Text.\n", encoding="utf-8")
    script = load_script(path, tmp_path)
    assert about_file(script, tmp_path) == path.parent / "pages" / "calm.md"


def load_errors(path: Path, root: Path) -> list[str]:
    with pytest.raises(ScriptError) as caught:
        load_script(path, root)
    return [str(e) for e in caught.value.errors]


def test_missing_about_file_is_an_error_on_the_about_line(tmp_path: Path) -> None:
    path = project(tmp_path, front="track: 1\nabout: calm-page.md\n")
    assert load_errors(path, tmp_path) == [
        "scripts_src/calm.md:4:8: about file calm-page.md not found"
    ]


def test_about_outside_the_root_is_an_error(tmp_path: Path) -> None:
    root = tmp_path / "project"
    root.mkdir()
    (tmp_path / "secret.md").write_text("x", encoding="utf-8")
    path = project(root, front="about: ../../secret.md\n")
    assert load_errors(path, root) == [
        "scripts_src/calm.md:3:8: about ../../secret.md is outside the project root"
    ]


def test_about_file_that_is_not_utf8_is_an_error_on_the_about_line(tmp_path: Path) -> None:
    path = project(tmp_path, front="about: calm.txt\n")
    (path.parent / "calm.txt").write_bytes(b"# About\nCaf\xe9\n")
    assert load_errors(path, tmp_path) == [
        "scripts_src/calm.md:3:8: about file calm.txt is not UTF-8 text (byte 0xe9) "
        "at line 2, column 4"
    ]


def test_default_about_file_that_is_not_utf8_is_reported_in_it(tmp_path: Path) -> None:
    path = project(tmp_path)
    (path.parent / "calm.about.md").write_bytes(b"ok\n\xff\n")
    assert load_errors(path, tmp_path) == [
        "scripts_src/calm.about.md:2:1: not UTF-8 text (byte 0xff)"
    ]


def test_page_texts_are_not_scripts(tmp_path: Path) -> None:
    from pipeline.check import find_scripts

    path = project(tmp_path)
    (path.parent / "calm.about.md").write_text("Text.\n", encoding="utf-8")
    assert find_scripts([path.parent]) == [path]
