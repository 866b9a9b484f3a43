"""Loading a script from the project: the file, the lexicons above it, and the files its
front matter names (the cover image, the page text, the bell and the bed), each checked and
any problem reported on the line that names it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path, PurePath

from pipeline.errors import ScriptError, SourceError
from pipeline.images import PNG_SIGNATURE, image_type
from pipeline.lexicon import display_path, load_lexicon
from pipeline.model import Script
from pipeline.parse.frontmatter import DEFAULTS
from pipeline.parse.script import NO_LEXICON, parse_text
from pipeline.paths import inside_root, read_source

SCRIPT_OUTSIDE_ROOT = (
    "the script is outside the project root (scripts are read only from inside it)"
)
ABOUT_SUFFIX = ".about.md"  # <slug>.about.md beside a script is its page text, not a script


def load_script(path: Path, root: Path) -> Script:
    """Read and parse the script at ``path`` with the lexicons between it and ``root``.

    Paths in the Script and in errors are relative to ``root``. The script (symlinks
    resolved) must be inside ``root``, or it is refused unread; so must the files it names.
    A bell file's length is measured here (``Script.bell_seconds``).
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
        script = _with_sounds(script, path.parent, root, positions, errors)
    if errors or script is None:
        raise ScriptError(errors)
    return script


def bell_file(script: Script, root: Path) -> Path | None:
    """The sound file of the script's ``[bell]``; None for the built-in bowl."""
    if script.meta.bell == DEFAULTS.bell:
        return None
    return (root / script.path).parent / script.meta.bell


def bed_file(script: Script, root: Path) -> Path | None:
    """The sound file of the script's bed; None when it has none."""
    if script.meta.bed is None:
        return None
    return (root / script.path).parent / script.meta.bed


def sound_seconds(key: str, written: str, script_dir: Path, root: Path) -> float | str:
    """The length in seconds of the sound file ``written`` (relative to the script's folder)
    for front-matter ``key``, or the message saying why it cannot be used. A file outside
    the root is not opened."""
    if inside_root(root, script_dir / written) is None:
        return f"{key}: {written} is outside the project root"
    from pipeline import sound  # only a script that names a sound file needs it

    try:
        seconds = sound.probe_seconds(script_dir / written)
    except sound.SoundError as error:
        return f"{key}: {error}"
    if seconds > sound.MAX_SOUND_S:
        return f"{key}: {written} is longer than an hour, the limit for a sound file"
    return seconds


def _with_sounds(
    script: Script,
    script_dir: Path,
    root: Path,
    positions: dict[str, tuple[int, int]],
    errors: list[SourceError],
) -> Script:
    """``script`` with its bell file's length, after checking the sound files it names; a
    problem is added to ``errors`` on the line of its key."""
    meta = script.meta
    named = [("bed", meta.bed)]
    if meta.bell != DEFAULTS.bell:
        named.insert(0, ("bell", meta.bell))
    for key, written in named:
        if written is None:
            continue
        found = sound_seconds(key, written, script_dir, root)
        if isinstance(found, str):
            errors.append(SourceError(script.path, *positions[key], found))
        elif key == "bell":
            script = replace(script, bell_seconds=found)
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
