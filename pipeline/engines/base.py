"""The engine interface and the registry that finds engines through entry points.

Every engine, built-in or third-party, is a subclass of :class:`Engine` published in the
``voicetrack.engines`` entry-point group.  The registry knows the engines' names from the
entry points alone and imports an engine's module only when a voice asks for that engine; an
engine module is a light adapter that imports its library (torch, onnxruntime) only when a
voice is loaded, so checking a profile costs no engine library's import time.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from pipeline.errors import SynthesisError, VoiceError, VoiceUnavailable
from pipeline.model import Audio, LocalePlan, RenderedSegment, VoiceSpec

if TYPE_CHECKING:
    from pipeline.spool import Spool

if TYPE_CHECKING:
    from pipeline.download import InstallableVoice, Progress

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

    @classmethod
    def installer(cls) -> VoiceInstaller | None:
        """How ``voicetrack voices install`` fetches this engine's voices; None (the
        default) for an engine with nothing to download."""
        return None

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


class VoiceInstaller(ABC):
    """How one engine's voices are fetched: which names are its own, what it offers, whether
    a voice is in place, and installing one where the engine looks for it.

    ``voicetrack voices install NAME`` asks every engine's installer whether it ``claims``
    NAME and hands it to the one that does; the downloads go through
    :func:`pipeline.download.fetch_files`, which verifies each file and leaves nothing behind
    when one fails.
    """

    #: The engine (or, for a model that is not a voice, the kind) it installs for.
    engine: ClassVar[str]
    #: How its names look, for the message about a name no installer claims; "" for none.
    naming: ClassVar[str] = ""
    #: Where its voices come in ``voicetrack voices available``: lower first.
    order: ClassVar[int] = 100

    @abstractmethod
    def claims(self, name: str) -> bool:
        """Whether ``name`` is one of this installer's voices. No network."""

    @abstractmethod
    def catalogue(self) -> list[InstallableVoice]:
        """The voices to list in ``voicetrack voices available``. No network."""

    @abstractmethod
    def is_installed(self, name: str) -> bool:
        """Whether voice ``name`` is where the engine looks for it. No network."""

    @abstractmethod
    def install(
        self, name: str, *, base: str | None, progress: Progress | None, force: bool
    ) -> Path:
        """Fetch voice ``name`` (from the mirror ``base`` when given), verify it and move it
        where the engine looks; return the path of its model. A voice already in place is
        left alone unless ``force``. Raises InstallError, whose hint says how to install it
        by hand."""


_registered: dict[str, type[Engine]] = {}  # loaded, or registered by hand
_declared: dict[str, EntryPoint] | None = None  # the entry points, read once, not loaded
_broken: dict[str, str] = {}  # plug-ins that failed to load -> why
_lock = threading.RLock()  # build workers may ask for engines at once


def register(engine: type[Engine]) -> None:
    """Add an engine class by hand (tests, embedding)."""
    _registered[engine.name] = engine


def unregister(name: str) -> None:
    """Remove an engine registered by hand (one an entry point declares loads again when
    next asked for)."""
    _registered.pop(name, None)


def _entry_points() -> dict[str, EntryPoint]:
    """The engines installed packages declare, by name. Reading the declarations imports
    no engine, so listing engine names costs no engine's import time."""
    global _declared
    with _lock:
        if _declared is None:
            declared: dict[str, EntryPoint] = {}
            for ep in entry_points(group=ENTRY_POINT_GROUP):
                declared.setdefault(ep.name, ep)
            _declared = declared
        return _declared


def _load(name: str) -> type[Engine] | None:
    """The class of engine ``name``, importing its module the first time; None (with a
    warning, once) when its plug-in cannot be loaded, so that a broken plug-in does not
    break the other engines."""
    registered = _registered.get(name)
    if registered is not None:
        return registered
    ep = _entry_points().get(name)
    with _lock:
        if name in _registered:
            return _registered[name]
        if ep is None or name in _broken:
            return None
        try:
            cls = ep.load()
        except Exception as exc:  # a broken plug-in must not break the others
            _broken[name] = f"{type(exc).__name__}: {exc}"
            log.warning("engine plug-in %s could not be loaded: %s", name, _broken[name])
            return None
        if not (isinstance(cls, type) and issubclass(cls, Engine)):
            _broken[name] = f"{ep.value} is not an Engine subclass"
            log.warning("entry point %s is not an Engine subclass; ignored", ep.value)
            return None
        _registered[name] = cls
        return cls


def engine_names() -> list[str]:
    """The name of every engine, registered or declared, without importing any engine
    module (a plug-in known to be broken is left out)."""
    return sorted((set(_registered) | set(_entry_points())) - set(_broken))


def engine_known(name: str) -> bool:
    """Whether an engine called ``name`` is registered or declared (loaded or not)."""
    return name in _registered or name in _entry_points()


def engine_class(name: str) -> type[Engine]:
    """The class of engine ``name``, imported on first use."""
    cls = _load(name)
    if cls is not None:
        return cls
    if name in _broken:
        raise VoiceError(f"the engine plug-in {name!r} could not be loaded: {_broken[name]}")
    known = ", ".join(engine_names()) or "none"
    raise VoiceError(f"unknown engine {name!r} (installed engines: {known})")


def engine_classes() -> dict[str, type[Engine]]:
    """Every engine that loads, by name, importing each one's module; those that do not
    load are left out with a warning."""
    loaded = {name: _load(name) for name in engine_names()}
    return {name: cls for name, cls in loaded.items() if cls is not None}


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
