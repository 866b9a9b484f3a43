"""``voicetrack init``: a new project folder with everything a content team needs to start.

The files come from ``pipeline/starter/``: an example script that shows every kind of
markup (with comments saying what each does), its page text, a ``voices/`` folder, a
``voicetrack.toml`` with ``[site]`` and a ``.gitignore`` for ``out/``. Existing files are
never overwritten.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

#: (path in the new project, file in pipeline/starter/).
STARTER_FILES: tuple[tuple[str, str], ...] = (
    ("scripts_src/first-exercise.md", "first-exercise.md"),
    ("scripts_src/first-exercise.about.md", "first-exercise.about.md"),
    ("voices/README.md", "voices-README.md"),
    ("voicetrack.toml", "voicetrack.toml"),
    (".gitignore", "gitignore"),
)


def init_project(directory: Path) -> tuple[list[Path], list[Path]]:
    """Write the starter files into ``directory``; returns (made, kept): the files written,
    and those left alone because they were already there."""
    starter = resources.files("pipeline") / "starter"
    made: list[Path] = []
    kept: list[Path] = []
    for relative, source in STARTER_FILES:
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        data = (starter / source).read_bytes()
        try:
            with open(target, "xb") as stream:  # "x": never replace an existing file
                stream.write(data)
        except FileExistsError:
            kept.append(target)
        else:
            made.append(target)
    return made, kept
