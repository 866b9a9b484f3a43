"""The manifest of one built track, as a typed value: what ``<slug>.<locale>.json`` holds.

The format is SCRIPT_FORMAT.md's ("Outputs"); :meth:`Manifest.to_dict` gives exactly that
layout, and the keys a build adds for itself (its build key, the outputs it wrote and their
digests, where mastering landed) after it. :meth:`Manifest.read` gives None for a file that
is missing or is not a manifest, so a build that finds one damaged simply builds again.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from pipeline.atomic import write_text_atomic
from pipeline.model import Loudness

MANIFEST_FORMAT = 1


def manifest_json(data: dict[str, Any]) -> str:
    """A manifest's dict as the file holds it."""
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


@dataclass(frozen=True)
class MasterHint:
    """Where the last master of a track landed, as offsets that survive a change of target:
    a rebuild after a small edit starts there and usually lands on target with one
    encode."""

    makeup_db: float  # gain the limiting cost, over the gain that reaches the aim unlimited
    level_offset_db: float  # loudness aimed at, less the target (the encoder's level loss)
    peak_offset_db: float  # true-peak limit aimed at, less the limit

    def to_dict(self) -> dict[str, float]:
        return {name: round(value, 4) for name, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: object) -> MasterHint | None:
        """The hint in ``data`` (as :meth:`to_dict` gives it), or None if it is not one."""
        if not isinstance(data, dict):
            return None
        try:
            values = [float(data[f.name]) for f in fields(cls)]
        except (KeyError, TypeError, ValueError):
            return None
        if not all(math.isfinite(v) and abs(v) < 100 for v in values):
            return None
        return cls(*values)


@dataclass(frozen=True)
class Mastering:
    """What mastering a track took, and where it landed (for the next build to start from)."""

    hint: MasterHint
    gain_passes: int  # steps of the gain search
    encodes: int

    def to_dict(self) -> dict[str, Any]:
        return {**self.hint.to_dict(), "gain_passes": self.gain_passes, "encodes": self.encodes}

    @classmethod
    def from_dict(cls, data: object) -> Mastering | None:
        hint = MasterHint.from_dict(data)
        if hint is None or not isinstance(data, dict):
            return None
        passes, encodes = data.get("gain_passes", 0), data.get("encodes", 0)
        if not isinstance(passes, int) or not isinstance(encodes, int):
            return None
        return cls(hint, passes, encodes)


@dataclass(frozen=True)
class Filled:
    """The segments of a takes voice that another voice spoke, and which voice."""

    role: str
    engine: str
    model: str | None
    segments: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "segments": list(self.segments)}


@dataclass(frozen=True)
class Manifest:
    script: str
    slug: str
    title: str
    locale: str
    voice: dict[str, Any]  # role, engine, model, fallback
    sample_rate: int
    duration: float
    loudness: Loudness  # measured on the encoded file
    chapters: tuple[dict[str, Any], ...]
    segments: tuple[dict[str, Any], ...]
    files: dict[str, str]
    # What the build keeps for itself, after the format's keys:
    build_key: str | None = None
    outputs: dict[str, Any] | None = None  # name -> size and digest (pipeline.outputs)
    mastering: Mastering | None = None
    voice_hint: str | None = None  # how to install the first choice, for a fallback voice
    filled: Filled | None = None
    bed: dict[str, str] | None = None  # the bed's file (as the script names it) and digest
    extra: dict[str, Any] = field(default_factory=dict)  # keys this version does not know
    format: int = MANIFEST_FORMAT

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "format": self.format,
            "script": self.script,
            "slug": self.slug,
            "title": self.title,
            "locale": self.locale,
            "voice": dict(self.voice),
            "sample_rate": self.sample_rate,
            "duration": self.duration,
            "loudness": {
                "integrated_lufs": round(self.loudness.integrated_lufs, 1),
                "true_peak_dbtp": round(self.loudness.true_peak_dbtp, 1),
            },
            "chapters": [dict(c) for c in self.chapters],
            "segments": [dict(s) for s in self.segments],
            "files": dict(self.files),
        }
        own = {
            "build_key": self.build_key,
            "outputs": self.outputs,
            "mastering": self.mastering.to_dict() if self.mastering else None,
            "voice_hint": self.voice_hint,
            "filled": self.filled.to_dict() if self.filled else None,
            "bed": dict(self.bed) if self.bed else None,
        }
        data.update({key: value for key, value in own.items() if value is not None})
        for key, value in self.extra.items():
            if key in data:
                raise ValueError(f"manifest key {key!r} is defined by the format")
            data[key] = value
        return data

    def to_json(self) -> str:
        return manifest_json(self.to_dict())

    def write(self, path: Path | str) -> None:
        write_text_atomic(path, self.to_json())

    @classmethod
    def from_dict(cls, data: object) -> Manifest:
        """The manifest ``data`` holds; ValueError when it is not one."""
        if not isinstance(data, dict):
            raise ValueError("a manifest is a JSON object")
        try:
            loudness = data["loudness"]
            filled = data.get("filled")
            known = {f.name for f in fields(cls)} - {"extra"}
            return cls(
                script=str(data["script"]),
                slug=str(data["slug"]),
                title=str(data["title"]),
                locale=str(data["locale"]),
                voice=dict(data["voice"]),
                sample_rate=int(data["sample_rate"]),
                duration=float(data["duration"]),
                loudness=Loudness(
                    float(loudness["integrated_lufs"]), float(loudness["true_peak_dbtp"])
                ),
                chapters=tuple(dict(c) for c in data["chapters"]),
                segments=tuple(dict(s) for s in data["segments"]),
                files={str(k): str(v) for k, v in data["files"].items()},
                build_key=data.get("build_key"),
                outputs=data.get("outputs") if isinstance(data.get("outputs"), dict) else None,
                mastering=Mastering.from_dict(data.get("mastering")),
                voice_hint=data.get("voice_hint"),
                filled=(
                    Filled(
                        str(filled["role"]),
                        str(filled["engine"]),
                        filled.get("model"),
                        tuple(str(s) for s in filled["segments"]),
                    )
                    if isinstance(filled, dict)
                    else None
                ),
                bed=(
                    {str(k): str(v) for k, v in data["bed"].items()}
                    if isinstance(data.get("bed"), dict)
                    else None
                ),
                extra={k: v for k, v in data.items() if k not in known},
                format=int(data["format"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a manifest: {exc}") from None

    @classmethod
    def read(cls, path: Path | str) -> Manifest | None:
        """The manifest at ``path``; None when it is missing, unreadable or not one."""
        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, ValueError):
            return None
