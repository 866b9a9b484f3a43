"""Coqui's ``espeak`` phonemizer through libespeak-ng, for machines without the espeak-ng program.

text, language -> IPA phonemes, the string Coqui's own ``ESpeak`` phonemizer gets from
``espeak-ng -q -b 1 -v <language> --ipa=1 -f <file>``

Coqui's VITS models (VCTK, LJ Speech) were trained on espeak-ng phonemes, and Coqui makes them by
running the espeak-ng executable, which pip cannot install.  voicetrack already ships the library
(the ``espeakng-loader`` package, bound in :mod:`pipeline.engines.espeak`), and the library's
``espeak_TextToPhonemes`` runs the same translation the program prints: one clause per call,
phonemes separated by ``_`` within a word.  This module imports Coqui, so only the coqui engine
imports it, and only when it loads a model.

:func:`use_for_coqui` puts :class:`LibraryESpeak` in Coqui's phonemizer registry under Coqui's
own name, ``espeak``, when no espeak program is on PATH; with a program, Coqui's ``ESpeak``
stays.  Phonemes change between espeak-ng versions, so :func:`describe` says which one a loaded
model uses, for the engine's cache key.
"""

from __future__ import annotations

import logging
import re
import shutil
from typing import Any

from TTS.tts.utils.text import phonemizers as coqui_phonemizers
from TTS.tts.utils.text.phonemizers.base import BasePhonemizer
from TTS.tts.utils.text.phonemizers.espeak_wrapper import ESpeak
from TTS.tts.utils.text.punctuation import Punctuation

from pipeline.engines.espeak import binding
from pipeline.errors import VoiceUnavailable

log = logging.getLogger(__name__)

NAME = "espeak"
#: Languages Coqui's ESpeak renames before use ("band-aid for backwards compatibility").
COQUI_ALIASES = {"en": "en-us", "zh-cn": "cmn"}
#: English tags whose default phonemizer Coqui sets to espeak when it finds the program.
ENGLISH = ("en", "en-us", "en-gb")
#: Language switches the output marks as ``(en)word(fr)``; Coqui's ESpeak removes them.
_LANGUAGE_FLAG = re.compile(r"\(.+?\)")
#: The separator asked of espeak-ng, as ``--ipa=1`` asks for it; replaced by the caller's.
_SEPARATOR = "_"


def espeak_program() -> str | None:
    """The espeak-ng (else espeak) executable on PATH, the one Coqui's ESpeak would run."""
    return shutil.which("espeak-ng") or shutil.which("espeak")


class LibraryESpeak(BasePhonemizer):
    """Coqui's ``espeak`` phonemizer, made with libespeak-ng instead of the program.

    Takes what Coqui's ``ESpeak`` takes and gives what it gives: the language is renamed like
    Coqui does (``en`` -> ``en-us``) and chosen like the program chooses ``-v`` (``en-gb`` is
    "English (Great Britain)"); punctuation is kept by default, and put back by Coqui's base
    class.
    """

    def __init__(
        self,
        language: str,
        punctuations: str = Punctuation.default_puncs(),
        *,
        keep_puncs: bool = True,
    ) -> None:
        self._binding = binding()
        language = COQUI_ALIASES.get(language, language)
        super().__init__(language, punctuations=punctuations, keep_puncs=keep_puncs)
        voice = self._binding.voice_for_language(self.language)
        if voice is None:
            raise RuntimeError(f"espeak-ng {self._binding.version} has no voice for {language!r}")
        self.voice = voice

    @staticmethod
    def name() -> str:
        return NAME

    @classmethod
    def is_available(cls) -> bool:
        try:
            binding()
        except VoiceUnavailable:
            return False
        return True

    def version(self) -> str:
        return str(self._binding.version)

    @staticmethod
    def supported_languages() -> dict[str, str]:
        """Each voice's first language -> its name: what ``espeak-ng --voices`` lists and
        Coqui reads."""
        return {voice.language: voice.name for voice in binding().voices()}

    def _phonemize(self, text: str, separator: str = "") -> str:
        # As Coqui reads the program's output: a line per clause, language flags removed,
        # each line stripped and the lines joined with nothing between them.
        clauses = self._binding.phonemes(text, self.voice, _SEPARATOR)
        phonemes = "".join(_LANGUAGE_FLAG.sub("", clause).strip() for clause in clauses)
        return phonemes.replace(_SEPARATOR, separator)


def use_for_coqui() -> str:
    """Make Coqui's ``espeak`` phonemizer work here; return ``"program"`` or ``"library"``.

    Call before a model loads.  With an espeak program on PATH, Coqui's own ESpeak is (again)
    the ``espeak`` phonemizer; without one, :class:`LibraryESpeak` is, and English defaults to
    it as Coqui's defaults do when it finds the program.
    """
    # Fill Coqui's tables first: Coqui fills them only while they are empty.
    coqui_phonemizers._register_phonemizers()
    registry: dict[str, Any] = coqui_phonemizers.PHONEMIZERS
    if espeak_program() is not None:
        registry[NAME] = ESpeak
        return "program"
    if registry.get(NAME) is not LibraryESpeak:
        log.info("no espeak-ng program on PATH: Coqui reads phonemes from libespeak-ng")
    registry[NAME] = LibraryESpeak
    for language in ENGLISH:
        coqui_phonemizers.DEF_LANG_TO_PHONEMIZER[language] = NAME
    return "library"


def describe(phonemizer: Any) -> dict[str, Any] | None:
    """What made a loaded model's phonemes, for a cache key; None when it reads graphemes.

    Gives the phonemizer's name and version, and for espeak whether the program or the library
    (which one, and from where) made them.
    """
    if phonemizer is None:
        return None
    per_language = getattr(phonemizer, "lang_to_phonemizer", None)
    if isinstance(per_language, dict):  # Coqui's MultiPhonemizer
        return {"languages": {lang: describe(p) for lang, p in sorted(per_language.items())}}
    found: dict[str, Any] = {"name": str(phonemizer.name()), "version": str(phonemizer.version())}
    if isinstance(phonemizer, LibraryESpeak):
        library = phonemizer._binding.library
        found.update(made_by="library", library=library.source, voice=phonemizer.voice)
    elif isinstance(phonemizer, ESpeak):
        found.update(made_by="program", program=str(phonemizer.backend))
    return found
