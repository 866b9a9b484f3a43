"""Installing neural voices with one command: what can be fetched, and fetching it safely.

available_voices()                        -> [InstallableVoice]   (no network)
is_installed(name)                        -> bool                 (no network)
install_voice(name, base_url=, progress=) -> Path of the installed model

Each voice lands where its engine looks for it, so it is found by the next build:

- hibari voices (emma, fable, fenrir, kore): from hibari's Hugging Face repository into hibari's
  cache folder (``$HIBARI_HOME``, else e.g. ``~/.cache/hibari``), checked against the sha256 in
  the registry that ships inside the hibari package.
- piper voices (``en_GB-northern_english_male-medium``, any name in piper's catalogue): from
  rhasspy/piper-voices on Hugging Face, where piper's own downloader fetches them, into
  ``<data dir>/piper/`` (:func:`pipeline.paths.data_dir`) with their MODEL_CARD, checked against
  the size and md5 that the catalogue ``voices.json`` publishes beside them.
- Coqui models (``tts_models/en/vctk/vits``, …): through Coqui's own ModelManager into Coqui's
  model folder (or, for XTTS-v2, the Hugging Face cache). Coqui publishes no checksums; its
  release ZIPs carry a CRC-32 per file, which extraction verifies.

Every file is downloaded into a hidden staging folder beside its destination, verified, and only
then renamed into place (a voice's model last), so a failed or interrupted download leaves
nothing behind and an engine never sees half a voice.

``$VOICETRACK_VOICES_URL`` (or ``base_url``) points every download at a mirror laid out as
``hibari/<file>``, ``piper/voices.json``, ``piper/<family>/<code>/<name>/<quality>/<file>`` and
``coqui/<release zip>``; a ``file://`` URL of a folder copied from another machine works too.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import logging
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import InstallError, VoiceError
from pipeline.paths import data_dir

log = logging.getLogger(__name__)

BASE_URL_ENV = "VOICETRACK_VOICES_URL"
#: Where piper's own downloader fetches voices (piper.download_voices.URL_FORMAT).
PIPER_BASE_URL = "https://huggingface.co/rhasspy/piper-voices/resolve/main"
PIPER_PAGE = "https://huggingface.co/rhasspy/piper-voices"
HIBARI_PAGE = "https://huggingface.co/maureesewilliams/hibari"
COQUI_PIP_HINT = "pip install 'voicetrack[coqui]'"
#: How long a silent connection may stall before the download counts as interrupted.
TIMEOUT = 60.0
CHUNK = 1 << 16
#: piper voice names: <language>_<REGION>-<name>-<quality>
PIPER_NAME = re.compile(
    r"^(?P<family>[a-z]{2,3})_(?P<region>[A-Z]{2})-(?P<name>[^-]+)-(?P<quality>.+)$"
)

#: progress(file name, bytes so far, total bytes or None when unknown)
Progress = Callable[[str, int, "int | None"], None]


@dataclass(frozen=True)
class InstallableVoice:
    """A voice ``install_voice`` can fetch, as ``voicetrack voices available`` lists it."""

    name: str  # what to pass to install_voice, and the profile's ``model``
    engine: str
    locale: str  # BCP 47; "en" for a model that takes the accent of its reference recording
    description: str
    licence: str
    source: str  # a page a person can open
    size: int | None  # bytes to download, when known


@dataclass(frozen=True)
class RemoteFile:
    """One file to fetch: from where, to where, and what it must be."""

    url: str
    dest: Path
    size: int | None = None
    digest: tuple[str, str] | None = None  # (hashlib algorithm, hex digest)


# --------------------------------------------------------------------------- the catalogue

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

COQUI_VOICES: dict[str, tuple[str, str, str]] = {
    # name: (description, licence when Coqui is not installed to ask, locale)
    "tts_models/en/vctk/vits": (
        "VITS with the 109 speakers of the VCTK corpus, mostly British accents (set speaker)",
        "Apache-2.0 per Coqui's catalogue; VCTK data CC BY 4.0",
        "en-GB",
    ),
    "tts_models/en/ljspeech/vits": (
        "VITS trained on LJ Speech: one American woman",
        "Apache-2.0 per Coqui's catalogue; LJ Speech is public domain",
        "en-US",
    ),
    "tts_models/multilingual/multi-dataset/xtts_v2": (
        "XTTS-v2: clones a voice from a few seconds of recording (speaker_wav); slow on a CPU",
        "Coqui Public Model License: non-commercial use only",
        "en",
    ),
}


def available_voices() -> list[InstallableVoice]:
    """Every voice this module can install, hibari first, then piper, then Coqui; then the
    speech-recognition models ``voicetrack listen`` uses (engine "whisper")."""
    return [*_hibari_catalogue(), *_piper_catalogue(), *_coqui_catalogue(), *_whisper_catalogue()]


def _whisper_catalogue() -> list[InstallableVoice]:
    from pipeline.listen import recognise

    return [
        InstallableVoice(
            name=f"{recognise.INSTALL_PREFIX}{name}",
            engine="whisper",
            locale="en",
            description=f"{description} (speech recognition for voicetrack listen)",
            licence=recognise.MODEL_LICENCE,
            source=f"{recognise.HUB_PAGE}/faster-whisper-{name}",
            size=None,
        )
        for name, description in recognise.KNOWN_MODELS.items()
    ]


def _hibari_catalogue() -> list[InstallableVoice]:
    from importlib import metadata

    from hibari.voices import VOICES

    try:
        package_licence = metadata.metadata("hibari-tts")["License"] or "Apache-2.0"
    except metadata.PackageNotFoundError:
        package_licence = "Apache-2.0"
    voices = []
    for name, entry in VOICES.items():
        if entry.get("bundled"):
            continue  # ships inside the package: nothing to install
        voices.append(
            InstallableVoice(
                name=name,
                engine="hibari",
                locale=entry["language"],
                description=f"{entry['accent']} English {entry['gender']} voice "
                f"(hibari, from Kokoro's {entry['kokoro']})",
                licence=f"{package_licence} (distilled from Kokoro-82M, Apache-2.0)",
                source=HIBARI_PAGE,
                size=int(entry["bytes"]),
            )
        )
    return voices


def _piper_catalogue() -> list[InstallableVoice]:
    return [
        InstallableVoice(
            name=name,
            engine="piper",
            locale=locale,
            description=description,
            licence=licence,
            source=f"{PIPER_PAGE}/tree/main/{_piper_folder(name)}",
            size=PIPER_MEDIUM_BYTES if name.endswith("-medium") else None,
        )
        for name, (description, licence, locale) in PIPER_VOICES.items()
    ]


def _coqui_catalogue() -> list[InstallableVoice]:
    from pipeline.engines import coqui

    voices = []
    for name, (description, licence, locale) in COQUI_VOICES.items():
        if coqui.coqui_available():
            with contextlib.suppress(VoiceError, OSError, ValueError):
                licence = coqui.model_licence(name)
        else:
            description += f" — needs {COQUI_PIP_HINT}"
        voices.append(
            InstallableVoice(
                name=name,
                engine="coqui",
                locale=locale,
                description=description,
                licence=licence,
                source="https://github.com/idiap/coqui-ai-TTS",
                size=None,
            )
        )
    return voices


def is_installed(name: str) -> bool:
    """Whether voice ``name`` is where its engine looks (files present; nothing downloaded)."""
    engine = _engine_of(name)
    if engine == "whisper":
        from pipeline.listen import recognise

        return recognise.is_model_folder(recognise.models_dir() / name.removeprefix("whisper-"))
    if engine == "hibari":
        from hibari.voices import ASSETS, VOICES, cache_dir

        entry = VOICES[name]
        folder = ASSETS if entry.get("bundled") else cache_dir()
        return (Path(folder) / entry["file"]).is_file()
    if engine == "piper":
        return all((piper_dir() / f"{name}{ext}").is_file() for ext in (".onnx", ".onnx.json"))
    from pipeline.engines import coqui
    from pipeline.errors import VoiceUnavailable
    from pipeline.model import VoiceSpec

    try:
        coqui.locate_model(VoiceSpec("coqui", model=name), Path.cwd())
    except (VoiceUnavailable, VoiceError):
        return False
    return True


# --------------------------------------------------------------------------- installing


def install_voice(
    name: str,
    *,
    base_url: str | None = None,
    progress: Progress | None = None,
    force: bool = False,
) -> Path:
    """Download voice ``name``, verify it and move it where its engine looks; return the path
    of its model (for Coqui, the model folder).

    A voice already in place is left alone unless ``force``. ``base_url`` (default
    ``$VOICETRACK_VOICES_URL``) fetches from a mirror instead of the voice's home. Raises
    InstallError, whose hint says how to put the files in place by hand.
    """
    base = (base_url or os.environ.get(BASE_URL_ENV) or "").rstrip("/") or None
    engine = _engine_of(name)
    if engine == "whisper":  # faster-whisper's own downloader, from Hugging Face
        from pipeline.listen.recognise import install_model

        return install_model(name, force=force)
    if engine == "hibari":
        return _install_hibari(name, base, progress, force)
    if engine == "piper":
        return _install_piper(name, base, progress, force)
    return _install_coqui(name, base, progress, force)


def _engine_of(name: str) -> str:
    from hibari.voices import VOICES

    if name.startswith("whisper-"):
        return "whisper"
    if name in VOICES:
        return "hibari"
    if PIPER_NAME.match(name):
        return "piper"
    if name.startswith("tts_models/") or name in COQUI_VOICES:
        return "coqui"
    raise InstallError(
        f"no installable voice is called {name!r}",
        hint="`voicetrack voices available` lists them: hibari voices by name (emma), piper "
        "voices as en_GB-<name>-<quality>, Coqui models as tts_models/<lang>/<dataset>/<model>",
    )


# -- hibari ------------------------------------------------------------------------------------


def _install_hibari(name: str, base: str | None, progress: Progress | None, force: bool) -> Path:
    from hibari.voices import ASSETS, BASE_URL, VOICES, cache_dir

    entry = VOICES[name]
    if entry.get("bundled"):
        return Path(ASSETS) / entry["file"]  # ships inside the package
    url = f"{base}/hibari/{entry['file']}" if base else BASE_URL + entry["file"]
    wanted = RemoteFile(
        url, Path(cache_dir()) / entry["file"], int(entry["bytes"]), ("sha256", entry["sha256"])
    )
    if not force and wanted.dest.is_file():
        if _digest(wanted.dest, "sha256") == entry["sha256"]:
            return wanted.dest
        log.warning("%s does not match hibari's registry; downloading it again", wanted.dest)
    fetch_files(f"hibari voice {name}", [wanted], progress)
    return wanted.dest


# -- piper -------------------------------------------------------------------------------------


def _piper_folder(name: str) -> str:
    match = PIPER_NAME.match(name)
    if match is None:
        raise InstallError(f"{name!r} is not a piper voice name (like en_GB-alba-medium)")
    family, region = match["family"], match["region"]
    return f"{family}/{family}_{region}/{match['name']}/{match['quality']}"


def piper_dir() -> Path:
    """Where piper voices are installed, and where the piper engine looks for them."""
    return data_dir() / "piper"


def _install_piper(name: str, base: str | None, progress: Progress | None, force: bool) -> Path:
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
    except _Unreachable as exc:
        exc.hint = _by_hand(label, expected)
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


def _piper_expected_files(name: str, root: str) -> list[RemoteFile]:
    """The files of a voice as piper names them, for instructions when the catalogue is out
    of reach."""
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
    with tempfile.TemporaryDirectory(prefix="voicetrack-") as scratch:
        path = Path(scratch) / "voices.json"
        _download(RemoteFile(url, path), path, None, "voices.json")
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


# -- coqui -------------------------------------------------------------------------------------


def _install_coqui(name: str, base: str | None, progress: Progress | None, force: bool) -> Path:
    from pipeline.engines import coqui
    from pipeline.errors import VoiceUnavailable
    from pipeline.model import VoiceSpec

    if not coqui.coqui_available():
        raise InstallError(
            f"Coqui model {name} needs Coqui TTS, which is not installed", hint=COQUI_PIP_HINT
        )
    name = coqui.full_name(name)
    try:
        entry = coqui.catalogue_entry(name)
    except VoiceError as exc:
        raise InstallError(str(exc)) from exc
    if entry.get("tos_required") and not _coqui_terms_accepted(name, entry):
        raise InstallError(
            f"{name} is under the {coqui.model_licence(name)}; it is downloaded only once you "
            "accept those terms",
            hint=f"if you accept them: COQUI_TOS_AGREED=1 voicetrack voices install {name}",
        )
    if not force:
        with contextlib.suppress(VoiceUnavailable):
            return coqui.locate_model(VoiceSpec("coqui", model=name), Path.cwd()).checkpoint.parent
    if "repo_id" in entry:
        return _install_coqui_from_hugging_face(name, entry, base, progress)
    return _install_coqui_release(name, entry, base, progress)


def _coqui_terms_accepted(name: str, entry: dict[str, Any]) -> bool:
    from TTS.utils.manage import ModelManager

    from pipeline.engines import coqui

    return bool(ModelManager.tos_agreed(entry, coqui.model_folder(name)))  # type: ignore[arg-type]


def _install_coqui_release(
    name: str, entry: dict[str, Any], base: str | None, progress: Progress | None
) -> Path:
    """A model Coqui publishes as a GitHub release ZIP: downloaded by Coqui's ModelManager
    into a staging folder, checked, then renamed into Coqui's model folder."""
    import zipfile
    import zlib

    import requests
    from TTS.utils.manage import ModelManager

    from pipeline.engines import coqui

    final = coqui.model_folder(name)
    urls = entry["github_rls_url"]
    urls = [urls] if isinstance(urls, str) else list(urls)
    if base:
        urls = [f"{base}/coqui/{url.rsplit('/', 1)[-1]}" for url in urls]
    label = f"Coqui model {name}"
    hint = (
        "to install it by hand, download\n"
        + "".join(f"  {url}\n" for url in urls)
        + f"and unpack the files (model_file.pth, config.json, …) into\n  {final}/"
    )
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".install-{final.name}-", dir=final.parent))
    try:
        catalogue = staging / "models.json"
        catalogue.write_text(json.dumps(_catalogue_with(name, urls)), encoding="utf-8")
        manager = ModelManager(models_file=catalogue, output_prefix=staging, progress_bar=False)
        item, _, _ = manager._set_model_item(name)
        unpacked = Path(manager.output_prefix) / final.name
        if progress:
            progress(label, 0, None)
        try:
            manager.create_dir_and_download_model(name, item, unpacked)
        except requests.ConnectionError as exc:
            raise InstallError(f"cannot reach the server for {label}: {exc}", hint=hint) from exc
        except requests.RequestException as exc:
            raise InstallError(f"download of {label} failed: {exc}; nothing was installed") from exc
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise InstallError(
                f"download of {label} is not a valid ZIP (damaged, or the server sent an error "
                "page); nothing was installed",
                hint=hint,
            ) from exc
        found = coqui.find_model_files(unpacked)
        if found is None:
            raise InstallError(f"{label} unpacked without a checkpoint and config.json", hint=hint)
        _replace_folder(unpacked, final, staging)
        # Coqui records absolute paths (speaker tables) in the config: make them point here.
        ModelManager(progress_bar=False)._update_paths(
            final, final / found[1].relative_to(unpacked)
        )
        if progress:
            size = sum(p.stat().st_size for p in final.rglob("*") if p.is_file())
            progress(label, size, size)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


def _catalogue_with(name: str, urls: Sequence[str]) -> dict[str, Any]:
    """Coqui's catalogue reduced to one model, fetched from ``urls``."""
    from pipeline.engines import coqui

    kind, language, dataset, model = name.split("/")
    item = dict(coqui.catalogue_entry(name))
    item["github_rls_url"] = urls[0] if len(urls) == 1 else list(urls)
    return {kind: {language: {dataset: {model: item}}}}


def _replace_folder(new: Path, final: Path, staging: Path) -> None:
    """Move ``new`` to ``final``; an old ``final`` goes into ``staging`` (removed after)."""
    if final.exists():
        os.replace(final, staging / "previous")
    os.replace(new, final)


def _install_coqui_from_hugging_face(
    name: str, entry: dict[str, Any], base: str | None, progress: Progress | None
) -> Path:
    """XTTS-v2 and other models Coqui keeps on Hugging Face: huggingface_hub downloads each file
    to an ``.incomplete`` name and renames it when whole, into its own cache."""
    from TTS.utils.manage import ModelManager

    if base:
        raise InstallError(
            f"Coqui model {name} comes from Hugging Face ({entry['repo_id']}), not from "
            f"{BASE_URL_ENV}",
            hint="set HF_ENDPOINT to a Hugging Face mirror, or copy the Hugging Face cache "
            "folder (~/.cache/huggingface/hub) from a machine that has the model",
        )
    label = f"Coqui model {name}"
    if progress:
        progress(label, 0, None)
    try:
        checkpoint, _, _ = ModelManager(progress_bar=False).download_model(name)
    except Exception as exc:  # huggingface_hub and requests raise many kinds
        raise InstallError(
            f"download of {label} from Hugging Face failed: {type(exc).__name__}: {exc}",
            hint=f"on a machine with internet access, run the same command, then copy "
            f"~/.cache/huggingface/hub/models--{entry['repo_id'].replace('/', '--')} here",
        ) from exc
    folder = Path(checkpoint).parent
    if progress:
        size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
        progress(label, size, size)
    return folder


# --------------------------------------------------------------------------- downloading


def fetch_files(label: str, files: Sequence[RemoteFile], progress: Progress | None = None) -> None:
    """Download every file, verify each, then rename them into place in order.

    Files are staged in a hidden folder beside the first destination (the same file system,
    so the renames are atomic); on any failure, Ctrl-C included, the staging folder is removed
    and nothing was installed.
    """
    folder = files[0].dest.parent
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".install-", dir=folder))
    try:
        staged = []
        for wanted in files:
            path = staging / wanted.dest.name
            try:
                _download(wanted, path, progress, wanted.dest.name)
            except _Unreachable as exc:
                raise InstallError(str(exc), hint=_by_hand(label, files)) from exc
            staged.append(path)
        for path, wanted in zip(staged, files, strict=True):
            wanted.dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, wanted.dest)
        log.info("installed %s in %s", label, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


class _Unreachable(InstallError):
    """The server could not be reached at all (offline, refused, unknown host)."""


def _download(wanted: RemoteFile, path: Path, progress: Progress | None, label: str) -> None:
    """Fetch ``wanted.url`` into ``path``, checking its length, size and checksum."""
    try:
        response = urllib.request.urlopen(wanted.url, timeout=TIMEOUT)
    except urllib.error.HTTPError as exc:
        raise InstallError(f"{wanted.url} answered HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        host = urllib.parse.urlsplit(wanted.url).netloc or wanted.url
        raise _Unreachable(f"cannot reach {host} to download {label}: {reason}") from exc
    hasher = hashlib.new(wanted.digest[0], usedforsecurity=False) if wanted.digest else None
    announced = _content_length(response)
    total = wanted.size if wanted.size is not None else announced
    done = 0
    if progress:
        progress(label, 0, total)
    try:
        with response, open(path, "wb") as out:
            while chunk := response.read(CHUNK):
                out.write(chunk)
                if hasher:
                    hasher.update(chunk)
                done += len(chunk)
                if progress:
                    progress(label, done, total)
    except (http.client.HTTPException, OSError) as exc:
        raise InstallError(
            f"download of {wanted.url} broke off after {done} bytes ({exc}); nothing was installed",
            hint="run the same command again",
        ) from exc
    # http.client ends a body cut short without an error: the length is the only sign.
    expected = announced if announced is not None else wanted.size
    if expected is not None and done != expected:
        raise InstallError(
            f"download of {wanted.url} stopped after {done} of {expected} bytes; "
            "nothing was installed",
            hint="run the same command again",
        )
    if wanted.size is not None and done != wanted.size:
        raise InstallError(
            f"{wanted.url} is {done} bytes, not the {wanted.size} its catalogue lists; "
            "nothing was installed"
        )
    if hasher and wanted.digest and hasher.hexdigest() != wanted.digest[1].lower():
        algorithm, digest = wanted.digest
        raise InstallError(
            f"{wanted.url} does not match its published {algorithm} "
            f"({hasher.hexdigest()[:12]}… instead of {digest[:12]}…); nothing was installed",
            hint="try again later; if it persists, the file on the server has changed or "
            "was damaged",
        )


def _content_length(response: Any) -> int | None:
    value = response.headers.get("Content-Length") if response.headers else None
    return int(value) if value and value.isdigit() else None


def _digest(path: Path, algorithm: str) -> str:
    hasher = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def _by_hand(label: str, files: Sequence[RemoteFile], also: str | None = None) -> str:
    """Instructions to install ``files`` without this command (on an offline machine)."""
    lines = [f"to install {label} by hand, download on a machine with internet access"]
    for wanted in files:
        check = f" ({wanted.digest[0]} {wanted.digest[1]})" if wanted.digest else ""
        lines.append(f"  {wanted.url}{check}\n    and save it as {wanted.dest}")
    lines.append(
        f"or copy the files to a folder laid out like the server and set {BASE_URL_ENV} to "
        "its file:// URL"
    )
    if also:
        lines.append(also)
    return "\n".join(lines)
