"""Check scripts without rendering: paths -> parsed, planned scripts and a short summary each.

Used by ``voicetrack check``; the same functions let other commands find and validate
scripts before they spend time on synthesis.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from pipeline.errors import ScriptError, SourceError
from pipeline.estimate import estimate_times, word_count
from pipeline.model import LocalePlan, Script
from pipeline.parse import is_script_name, load_script
from pipeline.plan import plan_script
from pipeline.timefmt import format_clock
from pipeline.voices import Profile, read_profiles, role_problem

DEFAULT_SCRIPTS = Path("scripts_src")


def find_scripts(paths: Iterable[Path] = ()) -> list[Path]:
    """The script files named by ``paths``: files as given, folders as their ``*.md`` files
    in name order (not the ``*.about.md`` page texts beside them). No paths means the
    ``scripts_src/`` folder. Raises FileNotFoundError for a path that does not exist."""
    found: list[Path] = []
    for path in list(paths) or [DEFAULT_SCRIPTS]:
        if path.is_dir():
            found += sorted(p for p in path.glob("*.md") if p.is_file() and is_script_name(p))
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
    # A script named twice (a file and its folder) is one script, checked and built once.
    unique: dict[Path, Path] = {}
    for path in found:
        unique.setdefault(path.resolve(), path)
    return list(unique.values())


def same_slug_errors(scripts: Sequence[tuple[str, str]]) -> list[SourceError]:
    """For scripts given as ``(path, slug)`` in order: an error on each script whose slug
    an earlier one has, since both would be built into the same ``out/<slug>/``."""
    first: dict[str, str] = {}
    errors = []
    for path, slug in scripts:
        if slug in first:
            errors.append(
                SourceError(
                    path,
                    1,
                    1,
                    f"{first[slug]} has the same name ({slug}), and both would be built into "
                    "one folder; rename one",
                )
            )
        else:
            first[slug] = path
    return errors


@dataclass(frozen=True)
class LocaleSummary:
    locale: str
    words: int  # spoken words
    silence: float  # seconds of scripted silence (pauses, lead-in, tail, gaps)
    duration: float  # estimated seconds, speech length approximated from the word count


@dataclass(frozen=True)
class ScriptSummary:
    path: str
    title: str
    sections: int
    segments: int  # distinct segment IDs over all locales
    locales: tuple[LocaleSummary, ...]
    slug: str = ""  # the name of its folder in out/


@dataclass(frozen=True)
class CheckResult:
    """One script's outcome: a summary when valid, its errors otherwise."""

    path: Path
    summary: ScriptSummary | None
    errors: tuple[SourceError, ...] = ()
    kind: str = "script"  # or "voice profile"

    @property
    def ok(self) -> bool:
        return self.summary is not None


def check_script(path: Path, root: Path, voices: VoiceProfiles | None = None) -> ScriptSummary:
    """Parse and plan one script and check that its voice role speaks its locales; its
    ScriptError if it is invalid."""
    script = load_script(path, root)
    voices = voices or VoiceProfiles.read(root)
    errors = voice_errors(script, voices)
    if errors:
        raise ScriptError(errors)
    return summarize(script, plan_script(script))


@dataclass(frozen=True)
class VoiceProfiles:
    """The project's voice roles, and the problems of the profiles that are invalid."""

    profiles: Mapping[str, Profile]
    errors: tuple[SourceError, ...] = ()

    @classmethod
    def read(cls, root: Path) -> VoiceProfiles:
        profiles, errors = read_profiles(root)
        return cls(profiles, tuple(errors))


def voice_errors(
    script: Script, voices: VoiceProfiles, locales: Iterable[str] | None = None
) -> list[SourceError]:
    """A problem on the ``voice:`` line (or ``locales:``, when the voice is the default) for
    each of the script's locales (or of ``locales``) its voice role cannot speak."""
    chosen = script.meta.voice
    key = "voice" if any(k == "voice" for k, _, _ in script.positions) else "locales"
    line, col = script.position_of(key)
    problems: list[str] = []
    for locale in script.meta.locales if locales is None else locales:
        problem = role_problem(voices.profiles, chosen, locale, voices.errors)
        if problem and problem not in problems:
            problems.append(problem)
    return [SourceError(script.path, line, col, problem) for problem in problems]


PROFILE = "voice profile"


def check_scripts(paths: Sequence[Path], root: Path) -> list[CheckResult]:
    """Check every script, collecting each one's errors rather than stopping at the first.

    Invalid voice profiles come first, as results of their own (``kind`` PROFILE).
    """
    voices = VoiceProfiles.read(root)
    broken = dict.fromkeys(e.path for e in voices.errors)
    results = [
        CheckResult(Path(shown), None, tuple(e for e in voices.errors if e.path == shown), PROFILE)
        for shown in broken
    ]
    for path in paths:
        try:
            results.append(CheckResult(path, check_script(path, root, voices)))
        except ScriptError as error:
            results.append(CheckResult(path, None, error.errors))
    valid = [r.summary for r in results if r.summary is not None]
    clashes = {e.path: e for e in same_slug_errors([(s.path, s.slug) for s in valid])}
    return [
        replace(r, summary=None, errors=(clashes[r.summary.path],))
        if r.summary is not None and r.summary.path in clashes
        else r
        for r in results
    ]


def summarize(script: Script, plans: dict[str, LocalePlan]) -> ScriptSummary:
    locales = tuple(
        LocaleSummary(
            locale=locale,
            words=sum(word_count(segment.spoken) for segment in plan.speech),
            silence=plan.scripted_silence,
            duration=estimate_times(plan).duration,
        )
        for locale, plan in plans.items()
    )
    segment_ids = {segment.id for plan in plans.values() for segment in plan.speech}
    return ScriptSummary(
        path=script.path,
        title=script.meta.title,
        sections=len(script.sections),
        segments=len(segment_ids),
        locales=locales,
        slug=script.slug,
    )


def summary_lines(summary: ScriptSummary) -> list[str]:
    """A few lines a person can read at a glance."""
    lines = [
        f"{summary.path}: {summary.title}",
        f"  {_count(summary.sections, 'section')}, {_count(summary.segments, 'segment')}",
    ]
    for locale in summary.locales:
        lines.append(
            f"  {locale.locale}: {_count(locale.words, 'word')}, "
            f"{format_clock(locale.silence, nearest=True)} of silence, "
            f"about {format_clock(locale.duration, nearest=True)} in all"
        )
    return lines


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
