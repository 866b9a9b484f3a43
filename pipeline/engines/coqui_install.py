"""Installing Coqui models for the coqui engine (``voicetrack voices install tts_models/...``).

Models Coqui publishes as release ZIPs (``tts_models/en/vctk/vits``, ...) are downloaded through
Coqui's own ModelManager into a staging folder, checked, then renamed into Coqui's model folder;
XTTS-v2 and the other models Coqui keeps on Hugging Face come through huggingface_hub into the
Hugging Face cache. Coqui publishes no checksums; its release ZIPs carry a CRC-32 per file,
which extraction verifies. Everything here imports Coqui (and PyTorch) only when it installs.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.download import BASE_URL_ENV, InstallableVoice
from pipeline.engines import coqui
from pipeline.engines.base import VoiceInstaller
from pipeline.errors import InstallError, VoiceError, VoiceUnavailable
from pipeline.model import VoiceSpec

if TYPE_CHECKING:
    from pipeline.download import Progress

COQUI_PIP_HINT = "pip install 'voicetrack[coqui]'"

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


class CoquiInstaller(VoiceInstaller):
    """Coqui models by their catalogue name, into the folders the coqui engine reads."""

    engine = "coqui"
    naming = "Coqui models as tts_models/<lang>/<dataset>/<model>"
    order = 30

    def claims(self, name: str) -> bool:
        return name.startswith("tts_models/") or name in COQUI_VOICES

    def catalogue(self) -> list[InstallableVoice]:
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
                    engine=self.engine,
                    locale=locale,
                    description=description,
                    licence=licence,
                    source="https://github.com/idiap/coqui-ai-TTS",
                    size=None,
                )
            )
        return voices

    def is_installed(self, name: str) -> bool:
        try:
            coqui.locate_model(VoiceSpec("coqui", model=name), Path.cwd())
        except (VoiceUnavailable, VoiceError):
            return False
        return True

    def install(
        self, name: str, *, base: str | None, progress: Progress | None, force: bool
    ) -> Path:
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
                return coqui.locate_model(
                    VoiceSpec("coqui", model=name), Path.cwd()
                ).checkpoint.parent
        if "repo_id" in entry:
            return _install_coqui_from_hugging_face(name, entry, base, progress)
        return _install_coqui_release(name, entry, base, progress)


def _coqui_terms_accepted(name: str, entry: dict[str, Any]) -> bool:
    from TTS.utils.manage import ModelManager

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
