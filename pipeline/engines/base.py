"""The engine interface and the registry that finds engines through entry points.

Every engine, built-in or third-party, is a subclass of :class:`Engine` published in the
``voicetrack.engines`` entry-point group.  The registry loads an engine class only when a
voice asks for it, so a heavy library (torch, onnxruntime) is imported only when used.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from pipeline.errors import SynthesisError, VoiceError, VoiceUnavailable
from pipeline.model import Audio, LocalePlan, RenderedSegment, VoiceSpec

if TYPE_CHECKING:
    from pipeline.spool import Spool

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "voicetrack.engines"


class Engine(ABC):
    """A speech engine bound to one voice.

    Subclasses set ``name`` (the ``engine`` key of a voice profile); ``check`` says whether
    a voice can be loaded here without loading it; an instance loads its model once (in the
    constructor, or lazily on the first ``synthesize`` so that a fully cached rebuild loads
    nothing), and ``synthesize`` is then called once per sentence.

    The pipeline applies the profile's ``gain_db`` and folds ``speed`` into the ``speed``
    argument of ``synthesize``; engines must not apply ``spec.speed`` or ``spec.gain_db``.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    supports_speed: ClassVar[bool] = True
    #: Keys of a voice profile this engine reads, beyond speed and gain_db.
    options: ClassVar[frozenset[str]] = frozenset({"model"})
    #: The longest text, in characters, one call of ``synthesize`` is given. A longer
    #: sentence is spoken in pieces cut after clauses (or, failing that, between words), so
    #: neither the engine's memory nor the pipeline's grows with a sentence. None: no limit.
    max_input_chars: ClassVar[int | None] = 500

    def __init__(self, spec: VoiceSpec, root: Path):
        self.spec = spec
        self.root = root

    @classmethod
    @abstractmethod
    def check(cls, spec: VoiceSpec, root: Path) -> None:
        """Raise :class:`VoiceUnavailable` (with a hint naming the fix) when ``spec`` cannot
        be loaded on this machine. Must be cheap: no model loading."""

    @classmethod
    def licence(cls, spec: VoiceSpec) -> str:
        """The licence of the voice ``spec`` names, for ``voicetrack voices``."""
        return "unknown"

    @property
    @abstractmethod
    def sample_rate(self) -> int:
        """Sample rate of the audio ``synthesize`` returns."""

    @abstractmethod
    def identity(self) -> str:
        """Everything that changes this voice's output besides the text: engine version,
        a hash of the model file, voice options. Part of every cache key."""

    def synthesize(self, text: str, speed: float = 1.0) -> Audio:
        """Speak one sentence at the final ``speed`` (profile speed times the script's rate;
        > 1 is faster). Raise SynthesisError on failure.

        Every engine that speaks text implements this; one that :attr:`records_segments`
        does not."""
        raise SynthesisError(
            f"the {self.name} engine plays what was recorded and cannot speak arbitrary text "
            f"({text[:40]!r})"
        )

    #: True for an engine that plays whole speech segments recorded for the script (a
    #: person's takes) instead of speaking text: the synth stage asks it for them
    #: (:meth:`recorded_segments`), and another voice may speak those it lacks.
    records_segments: ClassVar[bool] = False

    def recorded_segments(
        self,
        plan: LocalePlan,
        role: str,
        *,
        allow_missing: bool = False,
        spool: Spool | None = None,
    ) -> RecordedSpeech:
        """The segments of ``plan`` recorded for ``role``, rendered (see
        :attr:`records_segments`); those it lacks are listed as ``unrendered`` when
        ``allow_missing``, an error otherwise."""
        raise NotImplementedError(f"the {self.name} engine speaks text; it records nothing")


@dataclass(frozen=True)
class RecordedSpeech:
    """What an engine that :attr:`~Engine.records_segments` gives for a plan."""

    segments: dict[str, RenderedSegment]
    warnings: tuple[str, ...]

    @property
    def unrendered(self) -> tuple[str, ...]:
        """Segments another voice must speak."""
        return ()


_registered: dict[str, type[Engine]] = {}
_entry_points_loaded = False


def register(engine: type[Engine]) -> None:
    """Add an engine class by hand (tests, embedding)."""
    _registered[engine.name] = engine


def unregister(name: str) -> None:
    _registered.pop(name, None)


def _discover() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in _registered:
            continue
        try:
            cls = ep.load()
        except Exception as exc:  # a broken plug-in must not break the others
            log.warning("engine plug-in %s could not be loaded: %s", ep.name, exc)
            continue
        if not (isinstance(cls, type) and issubclass(cls, Engine)):
            log.warning("entry point %s is not an Engine subclass; ignored", ep.value)
            continue
        _registered[ep.name] = cls


def engine_names() -> list[str]:
    _discover()
    return sorted(_registered)


def engine_class(name: str) -> type[Engine]:
    _discover()
    try:
        return _registered[name]
    except KeyError:
        known = ", ".join(sorted(_registered)) or "none"
        raise VoiceError(f"unknown engine {name!r} (installed engines: {known})") from None


def load_engine(spec: VoiceSpec, root: Path) -> Engine:
    cls = engine_class(spec.engine)
    cls.check(spec, root)
    return cls(spec, root)


def require_module(module: str, pip_name: str, engine: str) -> None:
    """Raise VoiceUnavailable naming the exact pip install when ``module`` is missing."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise VoiceUnavailable(
            f"the {engine} engine needs the Python package {pip_name}, which is not installed",
            hint=f"pip install {pip_name}",
        )
