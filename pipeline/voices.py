"""Voice profiles: which engine speaks a role in each locale, and what that resolves to here.

load      voices/*.toml (shipped defaults + the project's) -> {role: Profile}
resolve   Profile, locale, this machine -> ResolvedVoice (the first available choice)
describe  every role and locale -> VoiceStatus rows for ``voicetrack voices``

A profile file is ``<role>.toml``: an optional ``description`` and one table per locale naming an
engine, its options and optional ``fallback`` choices (see docs/voices.md).  A project file replaces
the shipped profile of the same role as a whole, so the file a person reads is the voice they get.
"""

from __future__ import annotations

import difflib
import math
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

from pipeline.engines.base import Engine, engine_class, engine_known, engine_names
from pipeline.errors import ScriptError, SourceError, VoiceError, VoiceUnavailable
from pipeline.locales import canonical_locale
from pipeline.model import ResolvedVoice, VoiceSpec
from pipeline.paths import display_path, inside_root
from pipeline.tomlpos import KeyPositions, decode_error

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

#: Keys every locale table (and every fallback entry) may hold, whatever the engine.
COMMON_KEYS = frozenset({"engine", "speed", "gain_db"})
#: Every option key any engine may read; an engine reads the subset in ``Engine.options``.
OPTION_KEYS = frozenset(
    {"model", "model_path", "config_path", "speaker", "speaker_wav", "language", "dir"}
)
#: Options holding paths, which must resolve inside the project root.
PATH_KEYS = ("model_path", "config_path", "dir")
SPEED_RANGE = (0.5, 2.0)
GAIN_RANGE = (-30.0, 30.0)


# --------------------------------------------------------------------------- profiles


@dataclass(frozen=True)
class Profile:
    """One voice role: for each locale, the engine choices in the order they are tried."""

    role: str
    description: str
    source: str  # the file that defined it, as shown in messages
    voices: tuple[tuple[str, tuple[VoiceSpec, ...]], ...]  # (locale, choices)
    builtin: bool = False

    @property
    def locales(self) -> tuple[str, ...]:
        return tuple(locale for locale, _ in self.voices)

    def choices(self, locale: str) -> tuple[VoiceSpec, ...]:
        """The choices for ``locale`` in order; empty when the role has none for it."""
        return dict(self.voices).get(locale, ())


def shipped_profiles_dir() -> Path:
    return Path(str(resources.files("pipeline") / "profiles"))


def load_profiles(root: Path) -> dict[str, Profile]:
    """The shipped profiles, then ``<root>/voices/*.toml`` adding roles or replacing them.

    Every file is validated strictly; all problems of all files are raised together as one
    :class:`ScriptError` with a position for each.
    """
    profiles, errors = read_profiles(root)
    if errors:
        raise ScriptError(errors)
    return profiles


def read_profiles(root: Path) -> tuple[dict[str, Profile], list[SourceError]]:
    """The valid profiles, and every problem of the files that are not (which are left out),
    for a caller that reports problems beside its own."""
    root = Path(root)
    files = [(p, True) for p in _toml_files(shipped_profiles_dir())]
    files += [(p, False) for p in _toml_files(root / "voices")]
    profiles: dict[str, Profile] = {}
    errors: list[SourceError] = []
    for path, builtin in files:
        if not builtin and inside_root(root, path) is None:
            # voices/ (or the file) links out of the project: nothing of it is read.
            shown = f"voices/{path.name}"
            message = f"{shown} is a link to a file outside the project root"
            errors.append(SourceError(shown, 1, 1, message))
            continue
        reader = _ProfileReader(path, display_path(path, root), root)
        profile = reader.read(builtin)
        errors.extend(reader.errors)
        if profile is not None:
            profiles[profile.role] = profile
    return dict(sorted(profiles.items())), errors


def _toml_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.toml") if p.is_file())


def _suggest(word: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, sorted(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


_Where = Callable[[str | None], tuple[int, int]]  # key (None: the choice itself) -> position


class _ProfileReader:
    """Validates one profile file, collecting every problem with its position."""

    def __init__(self, path: Path, shown: str, root: Path):
        self.path = path
        self.shown = shown
        self.root = root
        self.errors: list[SourceError] = []
        self.positions: KeyPositions | None = None

    def error(self, where: tuple[int, int], message: str) -> None:
        self.errors.append(SourceError(self.shown, where[0], where[1], message))

    def read(self, builtin: bool) -> Profile | None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.error((1, 1), f"cannot read voice profile: {exc}")
            return None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            line, col, message = decode_error(exc, text)
            self.error((line, col), f"invalid TOML: {message}")
            return None
        self.positions = KeyPositions(text)
        return self._profile(data, builtin)

    def _profile(self, data: dict[str, Any], builtin: bool) -> Profile | None:
        assert self.positions is not None
        pos = self.positions
        description = data.get("description", "")
        if not isinstance(description, str):
            self.error(pos.key(None, "description"), "description must be a string")
            description = ""
        voices: list[tuple[str, tuple[VoiceSpec, ...]]] = []
        for key, value in data.items():
            if key == "description":
                continue
            if not isinstance(value, dict):
                hint = _suggest(key, {"description"} | OPTION_KEYS | COMMON_KEYS)
                if key in OPTION_KEYS | COMMON_KEYS | {"fallback"}:
                    hint = " (engine options go in a locale table such as [en-GB])"
                self.error(pos.key(None, key), f"unknown key {key!r}{hint}")
                continue
            locale = canonical_locale(key)
            if locale is None:
                self.error(pos.table(key), f"[{key}] is not a locale tag such as en-GB")
                continue
            if locale in dict(voices):
                self.error(pos.table(key), f"[{key}] repeats the table for {locale}")
                continue
            choices = self._choices(key, value)
            if choices:
                voices.append((locale, choices))
        if not voices and not self.errors:
            self.error((1, 1), "the profile names no locale; add a table such as [en-GB]")
        if self.errors:
            return None
        return Profile(self.path.stem, description, self.shown, tuple(voices), builtin)

    def _choices(self, locale: str, table: dict[str, Any]) -> tuple[VoiceSpec, ...]:
        assert self.positions is not None
        first = self._spec(table, locale, None)
        fallback = table.get("fallback", [])
        specs = [first]
        if not isinstance(fallback, list):
            self.error(
                self.positions.key(locale, "fallback"),
                "fallback must be a list of tables, e.g. [{ engine = ..., model = ... }]",
            )
            return ()
        for index, entry in enumerate(fallback):
            if not isinstance(entry, dict):
                self.error(
                    self.positions.fallback(locale, index, None),
                    f"fallback entry {index + 1} must be a table {{ engine = ..., ... }}",
                )
                continue
            specs.append(self._spec(entry, locale, index))
        if any(s is None for s in specs):
            return ()
        return tuple(s for s in specs if s is not None)

    def _spec(self, table: dict[str, Any], locale: str, index: int | None) -> VoiceSpec | None:
        """One choice: the locale table itself (``index`` None) or its index-th fallback."""
        assert self.positions is not None
        positions = self.positions

        def where(key: str | None) -> tuple[int, int]:
            if index is None:
                return positions.key(locale, key) if key else positions.table(locale)
            return positions.fallback(locale, index, key)

        before = len(self.errors)
        self._unknown_keys(table, where, allow_fallback=index is None)
        cls = self._engine(table.get("engine"), where)
        if cls is not None:
            self._unused_options(cls, table, where)
        values = {**self._strings(table, where), **self._numbers(table, where)}
        if len(self.errors) > before or cls is None:
            return None
        return VoiceSpec(engine=cls.name, **values)

    def _unknown_keys(self, table: dict[str, Any], where: _Where, allow_fallback: bool) -> None:
        allowed = COMMON_KEYS | OPTION_KEYS | ({"fallback"} if allow_fallback else set())
        for key in table:
            if key in allowed:
                continue
            if key == "fallback":
                self.error(where(key), "a fallback entry cannot have fallbacks of its own")
            else:
                self.error(where(key), f"unknown key {key!r}{_suggest(key, allowed)}")

    def _unused_options(self, cls: type[Engine], table: dict[str, Any], where: _Where) -> None:
        options = ", ".join(sorted(cls.options)) or "none"
        for key in sorted(OPTION_KEYS & set(table) - cls.options):
            self.error(
                where(key), f"the {cls.name} engine does not use {key!r} (its options: {options})"
            )

    def _strings(self, table: dict[str, Any], where: _Where) -> dict[str, Any]:
        """The text and path options, paths checked to stay inside the project root."""
        values: dict[str, Any] = {}
        for key in ("model", "model_path", "config_path", "speaker", "language", "dir"):
            if key not in table:
                continue
            value = table[key]
            if not isinstance(value, str) or not value.strip():
                self.error(where(key), f"{key} must be a non-empty string")
            elif key in PATH_KEYS and inside_root(self.root, value) is None:
                self.error(where(key), f"{key} {value!r} resolves outside the project root")
            elif key == "model" and _looks_like_a_path(value):
                self.error(
                    where(key),
                    f"model {value!r} is a voice's name, not a path (for a file in the "
                    "project, use model_path)",
                )
            else:
                values[key] = value
        if "speaker_wav" in table:
            wavs = table["speaker_wav"]
            if not isinstance(wavs, list) or not all(isinstance(w, str) and w for w in wavs):
                self.error(where("speaker_wav"), "speaker_wav must be a list of paths")
                return values
            for wav in wavs:
                if inside_root(self.root, wav) is None:
                    self.error(
                        where("speaker_wav"),
                        f"speaker_wav {wav!r} resolves outside the project root",
                    )
            values["speaker_wav"] = tuple(wavs)
        return values

    def _numbers(self, table: dict[str, Any], where: _Where) -> dict[str, float]:
        values: dict[str, float] = {}
        for key, (low, high) in (("speed", SPEED_RANGE), ("gain_db", GAIN_RANGE)):
            if key not in table:
                continue
            value = table[key]
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not number or not math.isfinite(value) or not low <= value <= high:
                self.error(where(key), f"{key} must be a number from {low:g} to {high:g}")
            else:
                values[key] = float(value)
        return values

    def _engine(self, name: object, where: _Where) -> type[Engine] | None:
        if name is None:
            self.error(where(None), "missing key 'engine'")
            return None
        if not isinstance(name, str):
            self.error(where("engine"), "engine must be a string")
            return None
        if not engine_known(name):
            known = engine_names()
            self.error(
                where("engine"),
                f"unknown engine {name!r}{_suggest(name, known)}; installed engines: "
                + ", ".join(known),
            )
            return None
        try:
            return engine_class(name)
        except VoiceError as error:  # a plug-in that is installed but does not load
            self.error(where("engine"), str(error))
            return None


def _looks_like_a_path(name: str) -> bool:
    """A model name that would climb out of the folder it is looked up in."""
    return (
        PurePosixPath(name).is_absolute()
        or ".." in re.split(r"[\\/]", name)
        or bool(re.match(r"[A-Za-z]:", name))
    )


# --------------------------------------------------------------------------- resolution


def resolve_voice(
    role: str, locale: str, root: Path, profiles: Mapping[str, Profile] | None = None
) -> ResolvedVoice:
    """The first choice of ``role`` for ``locale`` that is available on this machine.

    Raises VoiceError when the role or locale is not defined, and VoiceUnavailable (with
    every choice's reason and the first choice's hint) when no choice is available.
    """
    root = Path(root)
    if profiles is None:
        profiles = load_profiles(root)
    choices = _choices_for(profiles, role, locale)
    skipped: list[tuple[VoiceSpec, str]] = []
    hints: list[str | None] = []
    for spec in choices:
        try:
            engine_class(spec.engine).check(spec, root)
        except VoiceUnavailable as exc:
            skipped.append((spec, str(exc)))
            hints.append(exc.hint)
            continue
        return ResolvedVoice(
            role,
            locale,
            spec,
            fallback=bool(skipped),
            skipped=tuple(skipped),
            hint=hints[0] if hints else None,
        )
    reasons = "\n".join(f"  {spec.label}: {reason}" for spec, reason in skipped)
    raise VoiceUnavailable(
        f"no voice of role {role!r} is available for {locale} on this machine:\n{reasons}",
        hint=hints[0] if hints else None,
    )


def role_problem(
    profiles: Mapping[str, Profile],
    role: str,
    locale: str,
    errors: Iterable[SourceError] = (),
) -> str | None:
    """Why ``role`` cannot speak ``locale``, as far as the profiles tell (not whether its
    engine is installed): None when it can. ``errors`` are the profiles' own problems."""
    if role not in profiles:
        broken = sorted({e.path for e in errors if PurePosixPath(e.path).stem == role})
        if broken:
            return f"voice role {role!r} cannot be used until {', '.join(broken)} is fixed"
    try:
        _choices_for(profiles, role, locale)
    except VoiceError as error:
        return str(error)
    return None


def _choices_for(profiles: Mapping[str, Profile], role: str, locale: str) -> tuple[VoiceSpec, ...]:
    profile = profiles.get(role)
    if profile is None:
        known = ", ".join(profiles) or "none"
        raise VoiceError(f"unknown voice role {role!r}{_suggest(role, profiles)}; roles: {known}")
    choices = profile.choices(locale)
    if not choices:
        have = ", ".join(profile.locales)
        raise VoiceError(
            f"voice role {role!r} ({profile.source}) has no voice for {locale} (it has {have})"
        )
    # A takes voice without a folder plays the role's own takes.
    return tuple(
        replace(spec, dir=f"takes/{role}") if spec.engine == "takes" and not spec.dir else spec
        for spec in choices
    )


@dataclass(frozen=True)
class ChoiceStatus:
    """One engine choice of a role and locale, as it stands on this machine."""

    spec: VoiceSpec
    available: bool
    reason: str | None  # why it is unavailable
    hint: str | None  # the command that makes it available
    licence: str


@dataclass(frozen=True)
class VoiceStatus:
    """A row of ``voicetrack voices``: what one role speaks in one locale here."""

    role: str
    description: str
    locale: str
    source: str
    builtin: bool
    resolved: VoiceSpec | None  # None when no choice is available
    fallback: bool  # True when ``resolved`` is not the first choice
    hint: str | None  # how to get the first choice, when it is not available
    choices: tuple[ChoiceStatus, ...]


def describe_voices(root: Path, profiles: Mapping[str, Profile] | None = None) -> list[VoiceStatus]:
    """For every role and locale: each choice's availability and licence, and the one a build
    would use.  Data only; the CLI decides how to show it."""
    root = Path(root)
    if profiles is None:
        profiles = load_profiles(root)
    rows = []
    for profile in profiles.values():
        for locale, choices in profile.voices:
            statuses = tuple(_choice_status(spec, root) for spec in choices)
            first_available = next((i for i, s in enumerate(statuses) if s.available), None)
            rows.append(
                VoiceStatus(
                    role=profile.role,
                    description=profile.description,
                    locale=locale,
                    source=profile.source,
                    builtin=profile.builtin,
                    resolved=None if first_available is None else choices[first_available],
                    fallback=bool(first_available),
                    hint=None if statuses[0].available else statuses[0].hint,
                    choices=statuses,
                )
            )
    return rows


def _choice_status(spec: VoiceSpec, root: Path) -> ChoiceStatus:
    try:
        cls = engine_class(spec.engine)
    except VoiceError as exc:
        return ChoiceStatus(spec, False, str(exc), None, "unknown")
    licence = cls.licence(spec)
    try:
        cls.check(spec, root)
    except VoiceUnavailable as exc:
        return ChoiceStatus(spec, False, str(exc), exc.hint, licence)
    except VoiceError as exc:  # e.g. a model name the engine does not know
        return ChoiceStatus(spec, False, str(exc), None, licence)
    return ChoiceStatus(spec, True, None, None, licence)
