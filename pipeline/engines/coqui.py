"""The Coqui engine: VITS and XTTS-v2 models through Coqui TTS (the optional extra ``coqui``).

text, speed -> float32 audio at the model's rate (22050 Hz for VITS, 24 kHz for XTTS-v2)

A profile names a model in one of two ways:

- ``model``: a name from Coqui's catalogue, e.g. ``tts_models/en/vctk/vits`` (with ``speaker =
  "p273"``) or ``tts_models/multilingual/multi-dataset/xtts_v2`` (with ``speaker_wav`` and
  ``language``). It must already be downloaded, into Coqui's own model folder (``$TTS_HOME``,
  else the user data folder) or, for models Coqui keeps on Hugging Face, the Hugging Face cache:
  ``voicetrack voices install <name>`` does that. Nothing here ever downloads.
- ``model_path`` + ``config_path``: a checkpoint and its ``config.json`` inside the project.

Coqui's VCTK and LJ Speech VITS models read text as espeak-ng phonemes. Coqui makes them by
running the ``espeak-ng`` program; where that is not on PATH, voicetrack gives Coqui a phonemizer
of the same name that makes the same phonemes with the libespeak-ng voicetrack ships
(:mod:`pipeline.engines.coqui_phonemes`). Which of the two, and its espeak-ng version, is part
of the engine's identity, since phonemes differ between versions.

``check`` only looks at files (it does not even import PyTorch). The constructor loads the model,
once per process for all voices that share it, on the GPU when PyTorch sees one. Speed maps to
VITS's ``length_scale`` and to XTTS's ``speed``; each sentence is rendered with a fixed random
seed, so the same text gives the same audio every time.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import re
import shutil
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.engines.base import Engine, VoiceInstaller
from pipeline.errors import SynthesisError, VoiceError, VoiceUnavailable
from pipeline.model import Audio, VoiceSpec
from pipeline.paths import file_digest, inside_root

log = logging.getLogger(__name__)

PIP_HINT = "pip install 'voicetrack[coqui]'"
DIST_NAME = "coqui-tts"
#: The seed every sentence is rendered with: VITS and XTTS both sample noise at inference.
SEED = 0
#: Names Coqui gives a model checkpoint inside a model folder (TTS.utils.manage._find_files).
CHECKPOINT_NAMES = ("model_file.pth", "model_file.pth.tar", "model.pth", "checkpoint.pth")
#: Licences of Coqui's English models as a person needs to read them. Coqui's catalogue states
#: the model's licence; the training data can add conditions of its own.
LICENCE_NOTES = {
    "tts_models/en/vctk/vits": "trained on the CSTR VCTK corpus (CC BY 4.0: credit it)",
    "tts_models/en/ljspeech/vits": "trained on LJ Speech (public domain)",
}
#: Catalogue licences that forbid commercial use, by their lower-case name in models.json.
NON_COMMERCIAL = {
    "cpml": "Coqui Public Model License: non-commercial use only, https://tts-hub.github.io/cpml",
    "cc by-nc-nd 4.0": "CC BY-NC-ND 4.0: non-commercial use only",
    "cc by-nc 4.0": "CC BY-NC 4.0: non-commercial use only",
}


# --------------------------------------------------------------------------- where models are


def coqui_available() -> bool:
    """Whether Coqui TTS is installed (without importing it: that pulls in PyTorch)."""
    return importlib.util.find_spec("TTS") is not None


def coqui_data_dir() -> Path:
    """Coqui's model folder, the one its ModelManager downloads into.

    Mirrors ``trainer.io.get_user_data_dir("tts")``, which cannot be imported without PyTorch
    (a test checks the two agree): ``$TTS_HOME/tts``, else ``$XDG_DATA_HOME/tts``, else the
    platform's user data folder.
    """
    for variable in ("TTS_HOME", "XDG_DATA_HOME"):
        value = os.environ.get(variable)
        if value is not None:
            return Path(value).expanduser().resolve() / "tts"
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path.home() / ".local" / "share"
    return base / "tts"


_catalogue_file: Path | None = None  # tests point this at their own models.json


def catalogue_file() -> Path:
    """Coqui's ``.models.json``, the catalogue of its released models."""
    if _catalogue_file is not None:
        return _catalogue_file
    spec = importlib.util.find_spec("TTS")
    if spec is None or not spec.submodule_search_locations:
        raise VoiceUnavailable("Coqui TTS is not installed", hint=PIP_HINT)
    return Path(next(iter(spec.submodule_search_locations))) / ".models.json"


@lru_cache(maxsize=4)
def _read_catalogue(path: Path) -> dict[str, dict[str, Any]]:
    tree = json.loads(path.read_text(encoding="utf-8"))
    entries: dict[str, dict[str, Any]] = {}
    for kind, languages in tree.items():
        for language, datasets in languages.items():
            for dataset, models in datasets.items():
                for model, item in models.items():
                    entries[f"{kind}/{language}/{dataset}/{model}"] = dict(item)
    return entries


def catalogue() -> dict[str, dict[str, Any]]:
    """Coqui's released models: full name -> models.json entry (licence, description, source)."""
    return _read_catalogue(catalogue_file())


def full_name(name: str) -> str:
    """``en/vctk/vits`` -> ``tts_models/en/vctk/vits``: the type may be left out."""
    return name if name.count("/") == 3 else f"tts_models/{name}"


def model_folder(name: str) -> Path:
    """Where Coqui keeps (or would keep) a model downloaded from its GitHub releases."""
    return coqui_data_dir() / full_name(name).replace("/", "--")


def catalogue_entry(name: str) -> dict[str, Any]:
    """The catalogue entry of a model, or VoiceError naming a few close matches."""
    entries = catalogue()
    entry = entries.get(full_name(name))
    if entry is None:
        import difflib

        close = difflib.get_close_matches(full_name(name), list(entries), n=3, cutoff=0.6)
        guess = f"; did you mean {' or '.join(close)}?" if close else ""
        raise VoiceError(f"Coqui has no model {name!r}{guess}")
    return entry


@dataclass(frozen=True)
class CoquiModel:
    """A model's files on this machine."""

    label: str  # the catalogue name, or the checkpoint path as written in the profile
    checkpoint: Path
    config: Path
    catalogue_name: str | None = None  # set for catalogue models


def find_model_files(folder: Path) -> tuple[Path, Path] | None:
    """The checkpoint and config.json inside a downloaded model folder, found the way Coqui
    finds them; None when either is missing (an interrupted or foreign folder)."""
    if not folder.is_dir():
        return None
    checkpoint = next((folder / n for n in CHECKPOINT_NAMES if (folder / n).is_file()), None)
    if checkpoint is None:
        candidates = [p for p in folder.rglob("*.pt*") if p.is_file()]
        checkpoint = candidates[0] if len(candidates) == 1 else None
    configs = sorted(folder.rglob("config.json"), key=lambda p: len(p.parts))
    if checkpoint is None or not configs:
        return None
    return checkpoint, configs[0]


def locate_model(spec: VoiceSpec, root: Path) -> CoquiModel:
    """Find the files ``spec`` names, without loading anything.

    Raises VoiceUnavailable (with the command that fixes it) when Coqui or the model is not
    installed, and VoiceError when the profile itself is wrong.
    """
    if not coqui_available():
        raise VoiceUnavailable(
            "the coqui engine needs Coqui TTS and PyTorch, which are not installed", hint=PIP_HINT
        )
    if spec.model_path or spec.config_path:
        if spec.model:
            raise VoiceError("a coqui voice takes model or model_path + config_path, not both")
        return _project_model(spec, root)
    if not spec.model:
        raise VoiceError("a coqui voice needs model (a Coqui model name) or model_path")
    return _catalogue_model(spec.model)


def _project_model(spec: VoiceSpec, root: Path) -> CoquiModel:
    if not (spec.model_path and spec.config_path):
        raise VoiceError("a local coqui model needs both model_path and config_path")
    paths = []
    for written in (spec.model_path, spec.config_path):
        path = inside_root(root, written)
        if path is None:
            raise VoiceError(f"coqui model file {written} is outside the project root {root}")
        if not path.is_file():
            raise VoiceUnavailable(
                f"coqui model file {written} does not exist (in {root})",
                hint=f"put the checkpoint and its config.json at {spec.model_path} and "
                f"{spec.config_path}",
            )
        paths.append(path)
    return CoquiModel(spec.model_path, paths[0], paths[1])


def _catalogue_model(name: str) -> CoquiModel:
    name = full_name(name)
    entry = catalogue_entry(name)
    missing = VoiceUnavailable(
        f"Coqui model {name} is not downloaded", hint=f"voicetrack voices install {name}"
    )
    if "repo_id" in entry:
        folder = _hugging_face_snapshot(entry["repo_id"])
        if folder is None:
            raise missing
    else:
        folder = model_folder(name)
    files = find_model_files(folder)
    if files is None:
        raise missing
    return CoquiModel(name, files[0], files[1], catalogue_name=name)


def _hugging_face_snapshot(repo_id: str) -> Path | None:
    """The cached snapshot folder of a Hugging Face model, looked up offline."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, "config.json")
    return Path(found).parent if isinstance(found, str) else None


def _resolve_speaker_wavs(spec: VoiceSpec, root: Path) -> tuple[Path, ...]:
    paths = []
    for written in spec.speaker_wav:
        path = inside_root(root, written)
        if path is None:
            raise VoiceError(f"speaker_wav {written} is outside the project root {root}")
        if not path.is_file():
            raise VoiceUnavailable(
                f"speaker_wav {written} does not exist (in {root})",
                hint="record a clean reference clip of a few seconds and put it there",
            )
        paths.append(path)
    return tuple(paths)


def reads_espeak_phonemes(config: Path) -> bool:
    """Whether a model reads its text as espeak-ng phonemes.

    Coqui's VITS models (VCTK, LJ Speech) were trained on them. Coqui gets them from the
    ``espeak-ng`` (or ``espeak``) program when it is on PATH, else from voicetrack's
    libespeak-ng (see :mod:`pipeline.engines.coqui_phonemes`).
    """
    try:
        settings = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False  # loading will report the broken config
    if not settings.get("use_phonemes"):
        return False
    # No phonemizer named: Coqui picks one by language, espeak for English.
    return settings.get("phonemizer") in (None, "espeak")


def _check_phonemizer(model: CoquiModel) -> None:
    """Fail, with the fix, when a phoneme model has neither the program nor the library."""
    if (
        not reads_espeak_phonemes(model.config)
        or shutil.which("espeak-ng")
        or shutil.which("espeak")
    ):
        return
    from pipeline.engines.espeak import binding

    try:
        binding()
    except VoiceUnavailable as exc:
        raise VoiceUnavailable(
            f"Coqui model {model.label} reads espeak-ng phonemes, and neither the espeak-ng "
            f"program nor its library is available ({exc})",
            hint=exc.hint,
        ) from exc


# --------------------------------------------------------------------------- licences


def model_licence(name: str) -> str:
    """A catalogue model's licence as Coqui's models.json states it, with what it means."""
    entry = catalogue_entry(name)
    stated = str(entry.get("license") or "").strip()
    if not stated:
        return "unknown (Coqui's catalogue states none)"
    parts = [NON_COMMERCIAL.get(stated.lower(), stated)]
    note = LICENCE_NOTES.get(full_name(name))
    if note:
        parts.append(note)
    return "; ".join(parts)


def is_non_commercial(name: str) -> bool:
    return str(catalogue_entry(name).get("license", "")).strip().lower() in NON_COMMERCIAL


_warned: set[str] = set()


def _state_licence_once(model: CoquiModel) -> None:
    """Log a restrictive licence as a warning before the model's first use in this process."""
    name = model.catalogue_name
    if name is None or name in _warned or not is_non_commercial(name):
        return
    _warned.add(name)
    log.warning(
        "Coqui model %s is under the %s. Audio rendered with it may not be used commercially "
        "unless you hold a commercial licence for the model.",
        name,
        model_licence(name),
    )


# --------------------------------------------------------------------------- loading


@dataclass
class _Loaded:
    tts: Any  # TTS.api.TTS
    lock: threading.Lock


_models: dict[tuple[str, str, str], _Loaded] = {}
_models_lock = threading.Lock()


def _file_key(path: Path) -> str:
    stat = path.stat()
    return f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _load(model: CoquiModel) -> _Loaded:
    """The loaded model, shared by every voice of this process that uses the same files."""
    device = _device()
    # Keyed by the files' state too, so a checkpoint retrained in place is loaded afresh.
    key = (_file_key(model.checkpoint), _file_key(model.config), device)
    with _models_lock:
        loaded = _models.get(key)
        if loaded is None:
            _state_licence_once(model)
            loaded = _Loaded(_load_uncached(model, device), threading.Lock())
            _models[key] = loaded
    return loaded


def _load_uncached(model: CoquiModel, device: str) -> Any:
    from TTS.api import TTS

    if model.catalogue_name is not None:
        # Coqui writes absolute paths (speaker tables, encoders) into a model's config when it
        # downloads it; redo that here so a moved data folder still works.
        from TTS.utils.manage import ModelManager

        ModelManager(progress_bar=False)._update_paths(model.checkpoint.parent, model.config)
    if reads_espeak_phonemes(model.config):
        from pipeline.engines.coqui_phonemes import use_for_coqui

        source = use_for_coqui()
        log.info("Coqui model %s reads phonemes from the espeak-ng %s", model.label, source)
    log.info("loading Coqui model %s on %s", model.label, device)
    try:
        tts = TTS(
            model_path=str(model.checkpoint), config_path=str(model.config), progress_bar=False
        )
    except Exception as exc:
        raise VoiceError(
            f"Coqui could not load {model.label}: {type(exc).__name__}: {exc}"
        ) from exc
    return tts.to(device)


@contextlib.contextmanager
def _seeded() -> Iterator[None]:
    """Fix the random state for one sentence without disturbing anyone else's."""
    import torch

    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(SEED)
        yield


@contextlib.contextmanager
def _length_scale(tts_model: Any, speed: float) -> Iterator[None]:
    """Slow down or speed up a VITS-style model for one call (it reads ``length_scale``)."""
    base = tts_model.length_scale
    tts_model.length_scale = base / speed
    try:
        yield
    finally:
        tts_model.length_scale = base


# --------------------------------------------------------------------------- the engine


class CoquiEngine(Engine):
    name = "coqui"
    description = "Coqui TTS: VITS and XTTS-v2 neural models (optional extra, needs PyTorch)"
    options = frozenset(
        {"model", "model_path", "config_path", "speaker", "speaker_wav", "language"}
    )

    def __init__(self, spec: VoiceSpec, root: Path):
        super().__init__(spec, root)
        self.model = locate_model(spec, root)
        self._speaker_wav = _resolve_speaker_wavs(spec, root)
        _check_phonemizer(self.model)
        self._loaded = _load(self.model)
        self._kind = self._speed_control()
        self._phonemizer = _describe_phonemizer(self._loaded.tts)
        self._language = spec.language
        self._validate_voice()

    @classmethod
    def check(cls, spec: VoiceSpec, root: Path) -> None:
        model = locate_model(spec, root)
        _resolve_speaker_wavs(spec, root)
        _check_phonemizer(model)

    @classmethod
    def licence(cls, spec: VoiceSpec) -> str:
        if spec.model and coqui_available():
            try:
                return model_licence(spec.model)
            except VoiceError:
                return "unknown (not in Coqui's catalogue)"
        if spec.model_path:
            return "unknown (local model: see where it came from)"
        return "unknown"

    @classmethod
    def installer(cls) -> VoiceInstaller:
        from pipeline.engines.coqui_install import CoquiInstaller

        return CoquiInstaller()

    @property
    def sample_rate(self) -> int:
        return int(self._loaded.tts.synthesizer.output_sample_rate)

    def identity(self) -> str:
        return json.dumps(
            {
                "engine": self.name,
                "version": metadata.version(DIST_NAME),
                "model_sha256": _blob_digest(self.model.checkpoint),
                "config_sha256": file_digest(self.model.config),
                "speaker": self.spec.speaker,
                "speaker_wav_sha256": [file_digest(p) for p in self._speaker_wav],
                "language": self._language,
                "seed": SEED,
                "phonemizer": self._phonemizer,
            },
            sort_keys=True,
        )

    def synthesize(self, text: str, speed: float = 1.0) -> Audio:
        if not speed > 0:
            raise ValueError(f"speed must be positive, got {speed!r}")
        tts = self._loaded.tts
        options: dict[str, Any] = {}
        if self.spec.speaker:
            options["speaker"] = self.spec.speaker
        if self._speaker_wav:
            options["speaker_wav"] = [str(p) for p in self._speaker_wav]
        if self._language:
            options["language"] = self._language
        if self._kind == "xtts":
            options["speed"] = speed
        # One model may serve several voices (speakers, speeds): one sentence at a time.
        with self._loaded.lock, _seeded(), self._speed_context(speed):
            try:
                wav = tts.tts(text, split_sentences=False, **options)
            except Exception as exc:
                raise SynthesisError(
                    f"coqui ({self.model.label}) failed on {text!r}",
                    stderr=f"{type(exc).__name__}: {exc}",
                ) from exc
        samples = np.asarray(wav, dtype=np.float32)
        samples = samples[: max(0, len(samples) - _padding())]
        return Audio(np.clip(samples, -1.0, 1.0), self.sample_rate)

    # -- helpers ----------------------------------------------------------------------------

    def _speed_control(self) -> str:
        model = self._loaded.tts.synthesizer.tts_model
        if "xtts" in str(getattr(model.config, "model", "")).lower():
            return "xtts"
        if hasattr(model, "length_scale"):
            return "length_scale"
        log.warning("Coqui model %s has no speed control; speed is ignored", self.model.label)
        return "none"

    def _speed_context(self, speed: float) -> contextlib.AbstractContextManager[None]:
        if self._kind == "length_scale" and speed != 1.0:
            return _length_scale(self._loaded.tts.synthesizer.tts_model, speed)
        return contextlib.nullcontext()

    def _validate_voice(self) -> None:
        """Fail at load time, with the valid choices, rather than on the first sentence."""
        tts = self._loaded.tts
        speaker = self.spec.speaker
        if tts.is_multi_lingual and not self._language:
            raise VoiceError(f"Coqui model {self.model.label} is multilingual: set language")
        if not tts.is_multi_lingual and self._language:
            raise VoiceError(f"Coqui model {self.model.label} has one language: remove language")
        if self._kind == "xtts":
            if not (speaker or self._speaker_wav):
                raise VoiceError(
                    f"Coqui model {self.model.label} clones a voice: set speaker_wav (recordings)"
                )
            return
        speakers = tts.speakers or []
        if speakers and not speaker:
            shown = ", ".join(sorted(speakers)[:12])
            raise VoiceError(
                f"Coqui model {self.model.label} has many speakers: set speaker ({shown}…)"
            )
        if speaker and speaker not in speakers:
            shown = ", ".join(sorted(speakers)[:12]) or "it has one speaker; remove speaker"
            raise VoiceError(f"Coqui model {self.model.label} has no speaker {speaker!r} ({shown})")


def _describe_phonemizer(tts: Any) -> dict[str, Any] | None:
    """What turns text into the model's tokens, when that is a phonemizer (VITS with phonemes)."""
    tokenizer = getattr(tts.synthesizer.tts_model, "tokenizer", None)
    phonemizer = getattr(tokenizer, "phonemizer", None)
    if phonemizer is None:
        return None
    from pipeline.engines.coqui_phonemes import describe

    return describe(phonemizer)


def _padding() -> int:
    """Silence Coqui appends after every sentence; sentence gaps are the pipeline's job."""
    from TTS.utils.synthesizer import PAD_SILENCE_SAMPLES

    return int(PAD_SILENCE_SAMPLES)


_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _blob_digest(path: Path) -> str:
    """sha256 of a model file. The Hugging Face cache already names each large file by its
    sha256 (the snapshot holds symlinks to them), which spares hashing XTTS's 1.8 GB again."""
    target = path.resolve()
    if path.is_symlink() and _HEX64.match(target.name):
        return target.name
    return file_digest(path)
