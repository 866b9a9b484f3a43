"""Loading a script from the project: the file, the lexicons above it, and the files its
front matter names (the cover image and the page text), each checked where it is written."""

from __future__ import annotations

from pathlib import Path, PurePath

from pipeline.errors import ScriptError, SourceError
from pipeline.lexicon import display_path, load_lexicon
from pipeline.model import Script
from pipeline.parse.script import NO_LEXICON, parse_text
from pipeline.paths import inside_root, read_source

SCRIPT_OUTSIDE_ROOT = (
    "the script is outside the project root (scripts are read only from inside it)"
)
ABOUT_SUFFIX = ".about.md"  # <slug>.about.md beside a script is its page text, not a script


def load_script(path: Path, root: Path) -> Script:
    """Read and parse the script at ``path`` with the lexicons between it and ``root``.

    Paths in the Script and in errors are relative to ``root``. The script (symlinks
    resolved) must be inside ``root``, or it is refused unread; so must its cover image.
    """
    shown = display_path(path, root)
    if inside_root(root, path) is None:
        raise ScriptError.at(shown, 1, 1, SCRIPT_OUTSIDE_ROOT)
    errors: list[SourceError] = []
    try:
        lexicon = load_lexicon(path.parent, root)
    except ScriptError as error:
        errors.extend(error.errors)
        lexicon = NO_LEXICON
    try:
        text = read_source(path, shown, "script")
    except ScriptError as error:
        raise ScriptError([*errors, *error.errors]) from None
    script, script_errors, positions = parse_text(text, shown, lexicon)
    errors.extend(script_errors)
    if script is not None and script.meta.cover is not None:
        line, col = positions["cover"]
        for problem in cover_problems(script.meta.cover, path.parent, root):
            errors.append(SourceError(shown, line, col, problem))
    if script is not None:
        errors.extend(_about_errors(script, path, root, positions))
    if errors or script is None:
        raise ScriptError(errors)
    return script


def cover_problems(cover: str, script_dir: Path, root: Path) -> list[str]:
    """Why the file ``cover`` (relative to the script's folder) cannot be used, if it cannot.
    A cover outside the root is not opened at all."""
    resolved = inside_root(root, script_dir / cover)
    if resolved is None:
        return [f"cover {cover} is outside the project root"]
    if not resolved.is_file():
        return [f"cover image {cover} not found"]
    try:
        with open(resolved, "rb") as file:
            head = file.read(len(PNG_SIGNATURE))
    except OSError as error:
        return [f"cover image {cover} cannot be read: {error.strerror or error}"]
    if image_type(head) is None:
        return [f"cover image {cover} is not a JPEG or PNG file (its first bytes are neither's)"]
    return []


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"


def image_type(data: bytes) -> str | None:
    """The MIME type of a JPEG or PNG image from its first bytes; None for anything else."""
    if data.startswith(PNG_SIGNATURE):
        return "image/png"
    if data.startswith(JPEG_SIGNATURE):
        return "image/jpeg"
    return None


def is_script_name(path: PurePath) -> bool:
    """False for a page text (``<slug>.about.md``), which sits beside the scripts."""
    return not path.name.endswith(ABOUT_SUFFIX)


def about_file(script: Script, root: Path) -> Path | None:
    """The page text of ``script``: its ``about:`` file, else ``<slug>.about.md`` beside the
    script if there is one, else None."""
    folder = (root / script.path).parent
    if script.meta.about is not None:
        return folder / script.meta.about
    default = folder / f"{script.slug}{ABOUT_SUFFIX}"
    return default if default.is_file() else None


def _about_errors(
    script: Script, path: Path, root: Path, positions: dict[str, tuple[int, int]]
) -> list[SourceError]:
    """A named ``about:`` file must exist inside the root and be UTF-8; a problem is reported
    on the ``about:`` line (or, for the default file, in that file)."""
    shown = display_path(path, root)
    about = script.meta.about
    target = about_file(script, root)
    if target is None:
        return []
    resolved = inside_root(root, target)
    if about is not None:
        line, col = positions["about"]
        if resolved is None:
            return [SourceError(shown, line, col, f"about {about} is outside the project root")]
        if not resolved.is_file():
            return [SourceError(shown, line, col, f"about file {about} not found")]
    elif resolved is None:
        message = f"{target.name} is a link to a file outside the project root"
        return [SourceError(display_path(target, root), 1, 1, message)]
    try:
        read_source(target, display_path(target, root), "script")
    except ScriptError as error:
        if about is None:
            return list(error.errors)
        problem = error.errors[0]
        where = f"line {problem.line}, column {problem.col}"
        return [
            SourceError(shown, line, col, f"about file {about} is {problem.message} at {where}")
        ]
    return []
