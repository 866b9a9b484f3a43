"""Installing neural voices with one command: what can be fetched, and fetching it safely.

available_voices()                        -> [InstallableVoice]   (no network)
is_installed(name)                        -> bool                 (no network)
install_voice(name, base_url=, progress=) -> Path of the installed model

Each engine declares how its voices are installed (:meth:`Engine.installer
<pipeline.engines.base.Engine.installer>`, a :class:`~pipeline.engines.base.VoiceInstaller`),
and this module hands a name to the one installer that claims it, so each voice lands where
its engine looks for it and is found by the next build:

- hibari voices (emma, fable, fenrir, kore): :class:`pipeline.engines.hibari.HibariInstaller`,
  into hibari's cache folder, checked against the sha256 in hibari's own registry.
- piper voices (``en_GB-northern_english_male-medium``, any name in piper's catalogue):
  :class:`pipeline.engines.piper.PiperInstaller`, into ``<data dir>/piper/``
  (:func:`pipeline.paths.data_dir`) with their MODEL_CARD, checked against the size and md5
  of piper's catalogue.
- Coqui models (``tts_models/en/vctk/vits``, ...):
  :class:`pipeline.engines.coqui_install.CoquiInstaller`, through Coqui's own ModelManager.
- the speech-recognition models of ``voicetrack listen`` (``whisper-tiny.en``, ...), which are
  not voices but install the same way: :class:`WhisperInstaller` here.

Every download is verified and moved into place only when complete (:mod:`pipeline.download`);
``$VOICETRACK_VOICES_URL`` (or ``base_url``) points them all at a mirror.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.download import BASE_URL_ENV, InstallableVoice, Progress, mirror
from pipeline.engines.base import VoiceInstaller, engine_classes
from pipeline.errors import InstallError

__all__ = [
    "BASE_URL_ENV",
    "InstallableVoice",
    "Progress",
    "available_voices",
    "install_voice",
    "installer_for",
    "installers",
    "is_installed",
]


class WhisperInstaller(VoiceInstaller):
    """The speech-recognition models ``voicetrack listen`` uses, by faster-whisper's own
    downloader from Hugging Face."""

    engine = "whisper"
    order = 1000  # after the voices

    def claims(self, name: str) -> bool:
        from pipeline.listen import recognise

        return name.startswith(recognise.INSTALL_PREFIX)

    def catalogue(self) -> list[InstallableVoice]:
        from pipeline.listen import recognise

        return [
            InstallableVoice(
                name=f"{recognise.INSTALL_PREFIX}{name}",
                engine=self.engine,
                locale="en",
                description=f"{description} (speech recognition for voicetrack listen)",
                licence=recognise.MODEL_LICENCE,
                source=f"{recognise.HUB_PAGE}/faster-whisper-{name}",
                size=None,
            )
            for name, description in recognise.KNOWN_MODELS.items()
        ]

    def is_installed(self, name: str) -> bool:
        from pipeline.listen import recognise

        folder = recognise.models_dir() / name.removeprefix(recognise.INSTALL_PREFIX)
        return recognise.is_model_folder(folder)

    def install(
        self, name: str, *, base: str | None, progress: Progress | None, force: bool
    ) -> Path:
        from pipeline.listen.recognise import install_model

        return install_model(name, force=force)


def installers() -> list[VoiceInstaller]:
    """Every engine's installer (engines that download nothing have none), then the
    recognition models', in the order ``voicetrack voices available`` lists them."""
    found: list[VoiceInstaller] = [WhisperInstaller()]
    for engine in engine_classes().values():
        installer = engine.installer()
        if installer is not None:
            found.append(installer)
    return sorted(found, key=lambda installer: (installer.order, installer.engine))


def installer_for(name: str) -> VoiceInstaller:
    """The installer that claims voice ``name``; InstallError when none does (or, for a
    third-party engine that claims a name another engine has, when more than one does)."""
    every = installers()
    claiming = [installer for installer in every if installer.claims(name)]
    if len(claiming) == 1:
        return claiming[0]
    if claiming:
        engines = " and ".join(installer.engine for installer in claiming)
        raise InstallError(
            f"voice {name!r} is claimed by more than one engine ({engines})",
            hint="uninstall the engine plug-in that should not install it",
        )
    namings = ", ".join(installer.naming for installer in every if installer.naming)
    raise InstallError(
        f"no installable voice is called {name!r}",
        hint=f"`voicetrack voices available` lists them: {namings}",
    )


def available_voices() -> list[InstallableVoice]:
    """Every voice the installers offer, hibari first, then piper, then Coqui; then the
    speech-recognition models ``voicetrack listen`` uses (engine "whisper")."""
    return [voice for installer in installers() for voice in installer.catalogue()]


def is_installed(name: str) -> bool:
    """Whether voice ``name`` is where its engine looks (files present; nothing downloaded)."""
    return installer_for(name).is_installed(name)


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
    return installer_for(name).install(name, base=mirror(base_url), progress=progress, force=force)
