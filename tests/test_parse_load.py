"""load_script: reading a script and its lexicons from disk, and checking the cover."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import ScriptError
from pipeline.parse import load_script


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "scripts_src").mkdir()
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def load_errors(path: Path, root: Path) -> list[str]:
    with pytest.raises(ScriptError) as caught:
        load_script(path, root)
    return [str(e) for e in caught.value.errors]


def test_paths_are_shown_relative_to_the_root(project):
    path = write(project / "scripts_src" / "body-scan.md", "---\ntitle: Body Scan\n---\nHi.\n")
    script = load_script(path, project)
    assert (script.path, script.slug) == ("scripts_src/body-scan.md", "body-scan")


OUTSIDE = "the script is outside the project root (scripts are read only from inside it)"


def test_a_script_outside_the_root_is_refused_unread(project, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    path = write(elsewhere / "x.md", "---\ntitle: X\n---\n[pasue]\n")
    write(elsewhere / "lexicon.toml", "not toml at all")
    assert load_errors(path, project) == [f"{path}:1:1: {OUTSIDE}"]


def test_a_script_linked_in_from_outside_is_refused(project, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    target = write(elsewhere / "x.md", "---\ntitle: X\n---\nHi.\n")
    (project / "scripts_src" / "x.md").symlink_to(target)
    path = project / "scripts_src" / "x.md"
    assert load_errors(path, project) == [f"scripts_src/x.md:1:1: {OUTSIDE}"]


def test_a_scripts_folder_linked_in_from_outside_is_refused(tmp_path, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    write(elsewhere / "x.md", "---\ntitle: X\n---\nCFT.\n")
    write(elsewhere / "lexicon.toml", '[all]\nCFT = "outside words"\n')
    project = tmp_path / "project"
    project.mkdir()
    (project / "scripts_src").symlink_to(elsewhere)
    path = project / "scripts_src" / "x.md"
    assert load_errors(path, project) == [f"scripts_src/x.md:1:1: {OUTSIDE}"]


def test_a_lexicon_linked_in_from_outside_is_refused_unread(project, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    write(elsewhere / "words.toml", '[all]\nCFT = "outside words"\n')
    (project / "scripts_src" / "lexicon.toml").symlink_to(elsewhere / "words.toml")
    path = write(project / "scripts_src" / "a.md", "---\ntitle: A\n---\nCFT.\n")
    assert load_errors(path, project) == [
        "scripts_src/lexicon.toml:1:1: lexicon.toml is a link to a file outside the project root"
    ]


def test_the_lexicon_of_the_script_folder_is_loaded(project):
    write(project / "scripts_src" / "lexicon.toml", '[all]\nCFT = "C F T"\n')
    path = write(project / "scripts_src" / "a.md", "---\ntitle: A\n---\nCFT.\n")
    assert load_script(path, project).lexicon.for_locale("en-GB") == {"CFT": "C F T"}


def test_lexicon_and_script_errors_are_reported_together(project):
    write(project / "lexicon.toml", "[all]\nCFT = 1\n")
    path = write(project / "scripts_src" / "a.md", "---\ntitle: A\nrate: 5\n---\nHi.\n")
    assert [e.split(": ", 1)[0] for e in load_errors(path, project)] == [
        "lexicon.toml:2:1",
        "scripts_src/a.md:3:7",
    ]


PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 24
JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 24


def write_bytes(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_cover_inside_the_root_is_accepted(project):
    write_bytes(project / "art" / "cover.png", PNG)
    path = write(
        project / "scripts_src" / "a.md", "---\ntitle: A\ncover: ../art/cover.png\n---\nHi.\n"
    )
    assert load_script(path, project).meta.cover == "../art/cover.png"


def test_cover_outside_the_root_is_an_error(project):
    write_bytes(project.parent / "cover.png", PNG)
    path = write(
        project / "scripts_src" / "a.md", "---\ntitle: A\ncover: ../../cover.png\n---\nHi.\n"
    )
    assert load_errors(path, project) == [
        "scripts_src/a.md:3:8: cover ../../cover.png is outside the project root"
    ]


def test_a_cover_that_is_not_an_image_is_an_error(project):
    write(project / "scripts_src" / "cover.png", "not an image at all")
    path = write(project / "scripts_src" / "a.md", "---\ntitle: A\ncover: cover.png\n---\nHi.\n")
    assert load_errors(path, project) == [
        "scripts_src/a.md:3:8: cover image cover.png is not a JPEG or PNG file (its first bytes "
        "are neither's)"
    ]


@pytest.mark.parametrize(
    ("name", "data", "mime"), [("c.png", JPEG, "image/jpeg"), ("c.jpg", PNG, "image/png")]
)
def test_the_cover_is_tagged_with_the_type_its_bytes_have(project, name, data, mime):
    from pipeline.build import track_tags

    write_bytes(project / "scripts_src" / name, data)
    path = write(project / "scripts_src" / "a.md", f"---\ntitle: A\ncover: {name}\n---\nHi.\n")
    tags = track_tags(load_script(path, project), "en-GB", project)
    assert (tags.cover, tags.cover_mime) == (data, mime)


def test_every_problem_of_a_cover_is_reported(project):
    path = write(
        project / "scripts_src" / "a.md", "---\ntitle: A\ncover: ../../../../etc/passwd\n---\nHi.\n"
    )
    assert load_errors(path, project) == [
        "scripts_src/a.md:3:8: cover must be a JPEG or PNG image (.jpg, .jpeg or .png)",
        "scripts_src/a.md:3:8: cover ../../../../etc/passwd is outside the project root",
    ]


def test_a_cover_symlink_leading_out_of_the_root_is_an_error(project):
    write_bytes(project.parent / "outside.png", PNG)
    (project / "scripts_src" / "cover.png").symlink_to(project.parent / "outside.png")
    path = write(project / "scripts_src" / "a.md", "---\ntitle: A\ncover: cover.png\n---\nHi.\n")
    assert load_errors(path, project) == [
        "scripts_src/a.md:3:8: cover cover.png is outside the project root"
    ]


def test_missing_cover_is_an_error(project):
    path = write(project / "scripts_src" / "a.md", "---\ntitle: A\ncover: art.jpg\n---\nHi.\n")
    assert load_errors(path, project) == ["scripts_src/a.md:3:8: cover image art.jpg not found"]


def test_text_that_is_not_utf8_is_an_error_with_its_position(project):
    path = project / "scripts_src" / "a.md"
    path.write_bytes(b"---\ntitle: A\n---\nCaf\xe9 au lait.\n")
    assert load_errors(path, project) == ["scripts_src/a.md:4:4: not UTF-8 text (byte 0xe9)"]


def test_a_page_text_linked_in_from_outside_is_refused_unread(project, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    write(elsewhere / "page.md", "Outside words.\n")
    (project / "scripts_src" / "a.about.md").symlink_to(elsewhere / "page.md")
    path = write(project / "scripts_src" / "a.md", "---\ntitle: A\n---\nHi.\n")
    assert load_errors(path, project) == [
        "scripts_src/a.about.md:1:1: a.about.md is a link to a file outside the project root"
    ]
