"""The hibari engine: small ONNX voices distilled from Kokoro-82M, American and British.

text, speed -> float32 audio at 24 kHz

The voice ``heart`` ships inside the hibari-tts wheel; ``emma``, ``fable``, ``fenrir`` and ``kore``
live in hibari's cache folder (``$HIBARI_HOME``, else the user cache, e.g. ``~/.cache/hibari``)
once downloaded.  hibari itself downloads a missing voice on first use; this adapter never does:
``check`` reports the voice as unavailable with the command that installs it, and
:class:`HibariInstaller` (``voicetrack voices install``) is the one place a download happens.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import threading
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.engines.base import Engine, VoiceInstaller, require_module
from pipeline.errors import SynthesisError, VoiceError, VoiceUnavailable
from pipeline.model import Audio, VoiceSpec
from pipeline.paths import file_digest

if TYPE_CHECKING:
    from pipeline.download import InstallableVoice, Progress

log = logging.getLogger(__name__)

DEFAULT_VOICE = "heart"
PIP_NAME = "hibari-tts"
#: hibari draws noise for the unvoiced parts of speech; a fixed seed makes output repeatable.
SEED = 0


class HibariEngine(Engine):
    name = "hibari"
    description = "hibari: small Kokoro-distilled voices (heart, emma, fable, fenrir, kore)"
    options = frozenset({"model"})

    def __init__(self, spec: VoiceSpec, root: Path):
        super().__init__(spec, root)
        self.voice = spec.model or DEFAULT_VOICE
        self._model_file = _voice_file(self.voice)
        self._tts: Any = None
        # The model loads on first use, so a build whose sentences are all cached never
        # pays for it; the lock also serialises hibari's lazily built G2P.
        self._lock = threading.Lock()

    @classmethod
    def check(cls, spec: VoiceSpec, root: Path) -> None:
        require_module("hibari", PIP_NAME, cls.name)
        name = spec.model or DEFAULT_VOICE
        path = _voice_file(name)
        if not path.is_file():
            raise VoiceUnavailable(
                f"hibari voice {name!r} is not downloaded (expected at {path})",
                hint=f"voicetrack voices install {name}",
            )

    @classmethod
    def licence(cls, spec: VoiceSpec) -> str:
        # Every hibari voice is a distillation of a Kokoro-82M voice (Apache-2.0) released
        # under the package's own licence; the package metadata is the source of truth.
        try:
            return metadata.metadata(PIP_NAME)["License"] or "Apache-2.0"
        except metadata.PackageNotFoundError:
            return "Apache-2.0"

    @classmethod
    def installer(cls) -> VoiceInstaller:
        return HibariInstaller()

    @property
    def sample_rate(self) -> int:
        import hibari

        return int(hibari.SAMPLE_RATE)

    def identity(self) -> str:
        import hibari

        return json.dumps(
            {
                "engine": self.name,
                "version": hibari.__version__,
                "voice": self.voice,
                "model_sha256": file_digest(self._model_file),
                "seed": SEED,
            },
            sort_keys=True,
        )

    def synthesize(self, text: str, speed: float = 1.0) -> Audio:
        if not speed > 0:
            raise ValueError(f"speed must be positive, got {speed!r}")
        with self._lock:
            tts = self._load()
            try:
                samples = tts(text, speed=speed, seed=SEED)
            except Exception as exc:
                raise SynthesisError(
                    f"hibari ({self.voice}) failed on {text!r}",
                    stderr=f"{type(exc).__name__}: {exc}",
                ) from exc
        samples = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
        return Audio(samples, self.sample_rate)

    def _load(self) -> Any:
        if self._tts is None:
            from hibari import Hibari

            if not self._model_file.is_file():  # removed since check()
                self.check(self.spec, self.root)
            log.debug("loading hibari voice %s from %s", self.voice, self._model_file)
            # Passing the file (not just the name) keeps hibari from downloading anything.
            self._tts = Hibari(voice=self.voice, model=str(self._model_file))
        return self._tts


def voices() -> dict[str, dict[str, Any]]:
    """hibari's voice registry: name -> language, accent, gender, file, size, sha256."""
    from hibari.voices import VOICES

    return dict(VOICES)


def _voice_file(name: str) -> Path:
    """Where the model of voice ``name`` is (bundled) or would be (downloaded)."""
    from hibari.voices import ASSETS, VOICES, cache_dir

    entry = VOICES.get(name)
    if entry is None:
        raise VoiceError(f"hibari has no voice {name!r} (its voices: {', '.join(VOICES)})")
    if entry.get("bundled"):
        return Path(ASSETS) / entry["file"]
    return Path(cache_dir()) / entry["file"]


HIBARI_PAGE = "https://huggingface.co/maureesewilliams/hibari"


class HibariInstaller(VoiceInstaller):
    """hibari voices (emma, fable, fenrir, kore): from hibari's Hugging Face repository into
    hibari's cache folder, checked against the sha256 in the registry that ships inside the
    hibari package. ``heart`` ships in the package and needs nothing."""

    engine = "hibari"
    naming = "hibari voices by name (emma)"
    order = 10

    def claims(self, name: str) -> bool:
        if importlib.util.find_spec("hibari") is None:
            return False
        return name in voices()

    def catalogue(self) -> list[InstallableVoice]:
        from pipeline.download import InstallableVoice

        try:
            package_licence = metadata.metadata(PIP_NAME)["License"] or "Apache-2.0"
        except metadata.PackageNotFoundError:
            package_licence = "Apache-2.0"
        return [
            InstallableVoice(
                name=name,
                engine=self.engine,
                locale=entry["language"],
                description=f"{entry['accent']} English {entry['gender']} voice "
                f"(hibari, from Kokoro's {entry['kokoro']})",
                licence=f"{package_licence} (distilled from Kokoro-82M, Apache-2.0)",
                source=HIBARI_PAGE,
                size=int(entry["bytes"]),
            )
            for name, entry in voices().items()
            if not entry.get("bundled")  # ships inside the package: nothing to install
        ]

    def is_installed(self, name: str) -> bool:
        return _voice_file(name).is_file()

    def install(
        self, name: str, *, base: str | None, progress: Progress | None, force: bool
    ) -> Path:
        from hibari.voices import BASE_URL, VOICES

        from pipeline.download import RemoteFile, digest, fetch_files

        entry = VOICES[name]
        path = _voice_file(name)
        if entry.get("bundled"):
            return path
        url = f"{base}/hibari/{entry['file']}" if base else BASE_URL + entry["file"]
        wanted = RemoteFile(url, path, int(entry["bytes"]), ("sha256", entry["sha256"]))
        if not force and path.is_file():
            if digest(path, "sha256") == entry["sha256"]:
                return path
            log.warning("%s does not match hibari's registry; downloading it again", path)
        fetch_files(f"hibari voice {name}", [wanted], progress)
        return path
