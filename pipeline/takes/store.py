"""The takes folder on disk: which takes exist, what they were recorded for, whether they
still match the script.

Layout (``dir`` is the voice profile's folder, ``takes/<role>`` by default)::

    <dir>/<slug>/<segment-id>.<wav|flac|mp3|m4a|ogg>   one take per speech segment
    <dir>/<slug>/takes.json                            what each take was recorded for

``takes.json`` holds, for each segment, the printed text it was recorded for, what the
reader said for it (say-substitutions applied; the lexicon is for engines, not people), and,
for takes cut from a longer recording, the source file and the take's start and end in it::

    {"segments": {"S1-02": {"text": "…", "spoken": "…", "source": "session.wav",
                            "start": 12.31, "end": 15.02}}}

A take is *stale* when the script's text for its segment has changed since it was recorded.
All writes are atomic: a reader sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import soundfile as sf

from pipeline.atomic import atomic_path, write_text_atomic
from pipeline.errors import PipelineError, VoiceError
from pipeline.model import Audio, Emphasis, Inline, LocalePlan, Say, SpeechSegment, Text, VoiceSpec
from pipeline.paths import inside_root, require_inside

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

log = logging.getLogger(__name__)

#: Audio files a take may be, in order of preference when two share a segment id and an age.
TAKE_SUFFIXES = (".flac", ".wav", ".m4a", ".mp3", ".ogg")
#: Read directly; the others are decoded by ffmpeg.
NATIVE_SUFFIXES = (".flac", ".wav")
TAKES_JSON = "takes.json"
#: Rate at which compressed takes are decoded (the master rate: no second resampling).
DECODE_RATE = 44100

_SEGMENT_ID = re.compile(r"^S\d+-\d{2,}$")


class TakeError(PipelineError):
    """A take or the takes folder cannot be used as it is."""


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class TakeRecord:
    """What one take was recorded for (one entry of ``takes.json``)."""

    text: str  # printed text of the segment when it was recorded
    spoken: str | None = None  # what the reader said for it (say-substitutions applied)
    source: str | None = None  # recording it was cut from, relative to the project root
    start: float | None = None  # the take's extent in the source, seconds
    end: float | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.source is not None:
            data["source"] = self.source
        if self.start is not None:
            data["start"] = round(self.start, 3)
        if self.end is not None:
            data["end"] = round(self.end, 3)
        data["text"] = self.text
        if self.spoken is not None:
            data["spoken"] = self.spoken
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> TakeRecord:
        if not isinstance(data, Mapping) or not isinstance(data.get("text"), str):
            raise TakeError(f'{where}: each take needs a "text" string')
        for key in ("spoken", "source"):
            if data.get(key) is not None and not isinstance(data[key], str):
                raise TakeError(f'{where}: "{key}" must be a string')
        for key in ("start", "end"):
            value = data.get(key)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, float))
            ):
                raise TakeError(f'{where}: "{key}" must be a number of seconds')
        return cls(
            text=data["text"],
            spoken=data.get("spoken"),
            source=data.get("source"),
            start=float(data["start"]) if data.get("start") is not None else None,
            end=float(data["end"]) if data.get("end") is not None else None,
        )


def read_takes_json(folder: Path) -> dict[str, TakeRecord]:
    """The records of ``folder/takes.json`` by segment id; empty when there is no file."""
    path = Path(folder) / TAKES_JSON
    if path.exists() and inside_root(folder, TAKES_JSON) is None:
        raise TakeError(f"{path}: a link to a file outside the takes folder; not read")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TakeError(f"{path}: cannot read: {exc}") from exc
    segments = data.get("segments") if isinstance(data, dict) else None
    if not isinstance(segments, dict):
        raise TakeError(f'{path}: expected an object {{"segments": {{…}}}}')
    return {sid: TakeRecord.from_dict(entry, f"{path}: {sid}") for sid, entry in segments.items()}


def write_takes_json(folder: Path, records: Mapping[str, TakeRecord]) -> Path:
    """Write ``records`` (all of them: callers merge) as ``folder/takes.json``, atomically."""
    path = Path(folder) / TAKES_JSON
    ordered = dict(sorted(records.items(), key=lambda kv: segment_sort_key(kv[0])))
    payload = {"segments": {sid: record.to_dict() for sid, record in ordered.items()}}
    write_text_atomic(path, json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    return path


def segment_sort_key(segment_id: str) -> tuple[int, int, str]:
    """Script order for ids like ``S2-03``; anything else sorts after, by name."""
    match = re.match(r"^S(\d+)-(\d+)$", segment_id)
    if match:
        return int(match.group(1)), int(match.group(2)), ""
    return sys.maxsize, 0, segment_id


# --------------------------------------------------------------------------- texts


_TYPOGRAPHY = str.maketrans(
    {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-"}
)


def normalise_text(text: str) -> str:
    """Compare texts as a reader would: spacing and curly-vs-straight quotes do not matter."""
    return " ".join(text.translate(_TYPOGRAPHY).split())


def reading_text(segment: SpeechSegment) -> str:
    """What a person says for ``segment``: its printed text with say-substitutions spoken.

    Unlike ``segment.spoken`` this leaves out the lexicon, which fixes how *engines*
    pronounce words; a lexicon change does not make a person's take stale.
    """
    return normalise_text(_flatten(segment.inlines))


def _flatten(inlines: Iterable[Inline]) -> str:
    parts: list[str] = []
    for inline in inlines:
        if isinstance(inline, Text):
            parts.append(inline.text)
        elif isinstance(inline, Emphasis):
            parts.append(_flatten(inline.children))
        elif isinstance(inline, Say):
            parts.append(inline.spoken)
    return "".join(parts)


def record_for(segment: SpeechSegment, **where: Any) -> TakeRecord:
    """A fresh record of ``segment``'s current text, with where the take came from."""
    return TakeRecord(text=normalise_text(segment.printed), spoken=reading_text(segment), **where)


def stale_reason(segment: SpeechSegment, record: TakeRecord) -> str | None:
    """Why a take recorded as ``record`` no longer fits ``segment``, or None when it does."""
    if normalise_text(record.text) != normalise_text(segment.printed):
        return "the printed text has changed"
    if record.spoken is not None and normalise_text(record.spoken) != reading_text(segment):
        return "what is said has changed"
    return None


# --------------------------------------------------------------------------- folders


def takes_folder(spec: VoiceSpec, root: Path, role: str) -> Path:
    """The folder of a takes voice: the profile's ``dir``, else ``takes/<role>``; OutsideRoot
    when it leads out of the project (``takes/`` may be a link)."""
    folder = Path(root) / (spec.dir or f"takes/{role}")
    require_inside(root, folder)
    return folder


def takes_dir_for(root: Path, role: str, locale: str) -> Path:
    """The folder of ``role``'s takes for ``locale``: the ``dir`` of the first takes choice
    of its profile, or ``takes/<role>`` when the role has no takes voice (yet) — as before
    the first split, which creates the profile."""
    from pipeline.voices import load_profiles

    profile = load_profiles(Path(root)).get(role)
    if profile is not None:
        for spec in profile.choices(locale):
            if spec.engine == "takes":
                return takes_folder(spec, root, role)
    folder = Path(root) / "takes" / role
    require_inside(root, folder)
    return folder


def script_folder(takes_dir: Path, slug: str) -> Path:
    """Where one script's takes live inside a takes voice's folder."""
    return Path(takes_dir) / slug


def find_takes(folder: Path) -> tuple[dict[str, Path], list[str]]:
    """The take file of each segment id in ``folder``, and warnings.

    When one segment has several files (``S1-02.m4a`` recorded by hand, ``S1-02.flac`` cut
    later), the most recently modified one is the take: it is the newest reading.
    """
    found: dict[str, list[Path]] = {}
    warnings: list[str] = []
    if Path(folder).is_dir():
        for path in Path(folder).iterdir():
            if (
                path.is_file()
                and path.suffix.lower() in TAKE_SUFFIXES
                and not path.name.startswith(".")
            ):
                if inside_root(folder, path.name) is None:
                    warnings.append(
                        f"{path.name}: a link to a file outside the takes folder; not used"
                    )
                    continue
                found.setdefault(path.stem, []).append(path)
    chosen: dict[str, Path] = {}
    for sid, paths in sorted(found.items(), key=lambda kv: segment_sort_key(kv[0])):
        paths.sort(key=lambda p: (-p.stat().st_mtime_ns, TAKE_SUFFIXES.index(p.suffix.lower())))
        chosen[sid] = paths[0]
        if len(paths) > 1:
            others = ", ".join(p.name for p in paths[1:])
            warnings.append(
                f"{sid}: several takes; using the newest, {paths[0].name} (not {others})"
            )
    return chosen, warnings


# --------------------------------------------------------------------------- status


TakeCondition = Literal["ok", "missing", "stale", "untracked"]


@dataclass(frozen=True)
class TakeState:
    """One speech segment of a script and its take.

    ``untracked``: a take file with no ``takes.json`` entry (recorded one by one and dropped
    in the folder); it is used, but cannot be checked against the script.
    """

    segment_id: str
    condition: TakeCondition
    text: str  # the segment's current printed text
    line: int
    path: Path | None = None
    recorded: TakeRecord | None = None
    reason: str | None = None  # why a take is stale

    @property
    def usable(self) -> bool:
        return self.condition in ("ok", "untracked")


@dataclass(frozen=True)
class TakesStatus:
    """The takes of one script in one locale."""

    folder: Path  # <dir>/<slug>
    locale: str
    entries: tuple[TakeState, ...]
    orphans: tuple[str, ...]  # take files whose segment is no longer in the script
    warnings: tuple[str, ...]

    def _ids(self, *conditions: str) -> tuple[str, ...]:
        return tuple(e.segment_id for e in self.entries if e.condition in conditions)

    @property
    def ok(self) -> tuple[str, ...]:
        return self._ids("ok")

    @property
    def missing(self) -> tuple[str, ...]:
        return self._ids("missing")

    @property
    def stale(self) -> tuple[str, ...]:
        return self._ids("stale")

    @property
    def untracked(self) -> tuple[str, ...]:
        return self._ids("untracked")

    @property
    def usable(self) -> tuple[str, ...]:
        return self._ids("ok", "untracked")

    @property
    def complete(self) -> bool:
        return all(e.usable for e in self.entries)


def takes_status(plan: LocalePlan, takes_dir: Path) -> TakesStatus:
    """Which segments of ``plan`` have a take in ``takes_dir`` (the voice's folder, holding
    one subfolder per script), which are missing and which are stale."""
    folder = script_folder(takes_dir, plan.script.slug)
    files, warnings = find_takes(folder)
    records = read_takes_json(folder)
    entries: list[TakeState] = []
    for segment in plan.speech:
        path = files.get(segment.id)
        record = records.get(segment.id)
        text = normalise_text(segment.printed)
        if path is None:
            entries.append(TakeState(segment.id, "missing", text, segment.line, recorded=record))
            continue
        if record is None:
            entries.append(TakeState(segment.id, "untracked", text, segment.line, path))
            continue
        reason = stale_reason(segment, record)
        condition: TakeCondition = "stale" if reason else "ok"
        entries.append(TakeState(segment.id, condition, text, segment.line, path, record, reason))
    planned = {s.id for s in plan.speech}
    orphans = tuple(sid for sid in files if sid not in planned)
    for sid in files:
        if not _SEGMENT_ID.match(sid):
            warnings.append(f"{files[sid].name}: not named after a segment id (like S1-02)")
    return TakesStatus(folder, plan.locale, tuple(entries), orphans, tuple(warnings))


def adopt_takes(plan: LocalePlan, takes_dir: Path) -> tuple[str, ...]:
    """Record the current text for every untracked take (takes recorded one by one), so that
    a later edit of the script marks them stale. Returns the segment ids recorded."""
    status = takes_status(plan, takes_dir)
    if not status.untracked:
        return ()
    records = read_takes_json(status.folder)
    by_id = {s.id: s for s in plan.speech}
    for sid in status.untracked:
        records[sid] = record_for(by_id[sid])
    write_takes_json(status.folder, records)
    return status.untracked


# --------------------------------------------------------------------------- audio files


def read_audio(path: Path) -> Audio:
    """A take or recording as mono float32. WAV and FLAC are read as they are; MP3, M4A, OGG
    and the rest are read through pydub (:func:`pipeline.sound.read_sound`) at
    :data:`DECODE_RATE`."""
    path = Path(path)
    if path.suffix.lower() in NATIVE_SUFFIXES:
        try:
            samples, rate = sf.read(path, dtype="float32", always_2d=True)
        except (RuntimeError, sf.LibsndfileError) as exc:
            raise TakeError(f"{path}: cannot read audio: {exc}") from exc
        return Audio(samples.mean(axis=1).astype(np.float32), int(rate))
    from pipeline.sound import SoundError, read_sound

    try:
        return Audio(read_sound(path, DECODE_RATE), DECODE_RATE)
    except SoundError as exc:
        raise TakeError(f"{path}: {exc}") from None


def write_audio(path: Path, samples: np.ndarray, rate: int) -> Path:
    """Write a take losslessly (24-bit FLAC or WAV, by ``path``'s suffix), atomically."""
    path = Path(path)
    kind = {".flac": "FLAC", ".wav": "WAV"}.get(path.suffix.lower())
    if kind is None:
        raise TakeError(f"{path}: takes are written as .flac or .wav")
    with atomic_path(path) as temp:
        sf.write(temp, np.asarray(samples, dtype=np.float32), rate, format=kind, subtype="PCM_24")
    return path


# --------------------------------------------------------------------------- voice profile


def ensure_takes_profile(
    root: Path, role: str, locale: str, takes_dir: Path
) -> tuple[Path | None, str | None]:
    """Create ``voices/<role>.toml`` playing ``takes_dir`` for ``locale`` if there is none.

    Returns (the file written or None, a warning or None). An existing profile is never
    changed; when it does not play these takes for ``locale``, the warning says what to add.
    """
    root = Path(root)
    relative = profile_dir(root, role, takes_dir)
    path = root / "voices" / f"{role}.toml"
    require_inside(root, path)
    table = f'[{locale}]\nengine = "takes"\ndir = {json.dumps(relative)}\n'
    if path.exists():
        return None, _profile_mismatch(path, locale, relative, table)
    text = (
        f"# {role}: a person's own recorded takes (created by splitting a recording).\n"
        f"# One table per locale recorded; see docs/own-voice.md.\n"
        f'description = "Recorded takes of {role}"\n\n{table}'
    )
    write_text_atomic(path, text)
    return path, None


def profile_dir(root: Path, role: str, takes_dir: Path) -> str:
    """``takes_dir`` as a profile's ``dir`` (relative to the project root); raises
    VoiceError when it cannot be one, or when ``role`` cannot name a profile file."""
    try:
        relative = Path(takes_dir).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        raise VoiceError(
            f"the takes folder {takes_dir} is not inside the project root {root}"
        ) from None
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", role):
        raise VoiceError(f"{role!r} cannot be a voice role: use letters, digits, '-', '_' or '.'")
    return relative


def _profile_mismatch(path: Path, locale: str, relative: str, table: str) -> str | None:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        return f"{path}: cannot read it ({exc}); it was left as it is"
    entry = data.get(locale)
    if isinstance(entry, dict) and entry.get("engine") == "takes":
        if entry.get("dir", f"takes/{path.stem}") == relative:
            return None
        return f"{path}: its {locale} voice plays takes from {entry.get('dir')!r}, not {relative!r}"
    return f"{path} has no takes voice for {locale}; to play these takes, add:\n{table}"
