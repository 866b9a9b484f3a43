"""The eSpeak NG engine: formant synthesis through libespeak-ng's synchronous C API.

text, speed -> float32 audio at the library's rate (22050 Hz)

Which library: ``$VOICETRACK_ESPEAK`` picks ``wheel`` (the libespeak-ng and data shipped by the
espeakng-loader package, a dependency of voicetrack), ``system`` (the one the system linker
finds, with its own data) or ``auto`` (the default: the wheel when installed, else the system
library).  The wheel comes first because its version is pinned by the Python environment, so
the same script renders the same audio on every machine; a system espeak-ng varies by
distribution.

The binding is ctypes over ``espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, ...)`` with a synth
callback that collects the samples.  eSpeak NG keeps its state in globals, so each library is
initialised once per process and every call into it holds that library's lock.  Its wave
generator also carries state between utterances that its API cannot reset, so each sentence is
spoken in a forked child of a process whose library never speaks (see ``_Binding._speak_fresh``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import logging
import os
import struct
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.engines.base import Engine
from pipeline.errors import SynthesisError, VoiceUnavailable
from pipeline.model import Audio, VoiceSpec
from pipeline.paths import file_digest

log = logging.getLogger(__name__)

LIBRARY_ENV = "VOICETRACK_ESPEAK"
DEFAULT_VOICE = "en"

# From espeak-ng/speak_lib.h.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000  # return an error instead of calling exit() on missing data
_CHARS_UTF8 = 1
_PHONEMES_IPA = 0x02
_POS_CHARACTER = 1
_RATE = 1  # espeakRATE, words per minute
_EE_OK = 0
NORMAL_RATE = 175
_NO_VOICE = -1  # a status of our own: the voice could not be selected
_HEADER = struct.Struct("<iq")  # what a synthesis child sends first: status, sample count
MIN_RATE, MAX_RATE = 80, 450

_Callback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class _Voice(ctypes.Structure):
    """``espeak_VOICE``; ``languages`` is a packed list read by :func:`_languages`."""

    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


@dataclass(frozen=True)
class EspeakVoice:
    """A voice eSpeak NG knows: the language tag to ask for it by, and a readable name."""

    language: str
    name: str
    identifier: str


@dataclass(frozen=True)
class EspeakLibrary:
    """A libespeak-ng to load: where it is, its data folder, and where it came from."""

    source: str  # "wheel" or "system"
    path: str
    data_path: str | None  # None: the library's compiled-in default


def find_library(choice: str | None = None) -> EspeakLibrary:
    """The library ``choice`` (default: ``$VOICETRACK_ESPEAK``, else ``auto``) selects."""
    choice = (choice or os.environ.get(LIBRARY_ENV) or "auto").strip().lower()
    if choice not in ("auto", "wheel", "system"):
        raise VoiceUnavailable(
            f"{LIBRARY_ENV}={choice!r} is not one of auto, wheel, system",
            hint=f"unset {LIBRARY_ENV} or set it to wheel",
        )
    if choice in ("auto", "wheel"):
        try:
            import espeakng_loader
        except ImportError:
            if choice == "wheel":
                raise VoiceUnavailable(
                    "the espeak-ng engine needs the Python package espeakng-loader, "
                    "which is not installed",
                    hint="pip install espeakng-loader",
                ) from None
        else:
            return EspeakLibrary(
                "wheel", espeakng_loader.get_library_path(), espeakng_loader.get_data_path()
            )
    found = ctypes.util.find_library("espeak-ng")
    if found is None:
        raise VoiceUnavailable(
            "no espeak-ng library found (neither the espeakng-loader package nor a system one)",
            hint="pip install espeakng-loader",
        )
    return EspeakLibrary("system", found, None)


class _Binding:
    """One loaded and initialised libespeak-ng; every call holds ``lock``."""

    def __init__(self, library: EspeakLibrary):
        self.library = library
        try:
            lib = ctypes.CDLL(library.path)
        except OSError as exc:
            raise VoiceUnavailable(
                f"cannot load {library.path}: {exc}",
                hint="pip install --force-reinstall espeakng-loader",
            ) from exc
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Info.argtypes = [ctypes.c_void_p]
        lib.espeak_Info.restype = ctypes.c_char_p
        lib.espeak_SetSynthCallback.argtypes = [_Callback]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
            ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synchronize.argtypes = []
        lib.espeak_Synchronize.restype = ctypes.c_int
        lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))

        data = library.data_path.encode() if library.data_path else None
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data, _INITIALIZE_DONT_EXIT)
        if rate <= 0:
            raise VoiceUnavailable(
                f"espeak-ng could not start from {library.path} "
                f"(data: {library.data_path or 'its default'})",
                hint="pip install --force-reinstall espeakng-loader",
            )
        self.lib = lib
        self.sample_rate = int(rate)
        self.version = (lib.espeak_Info(None) or b"unknown").decode()
        self.lock = threading.Lock()
        self._chunks: list[np.ndarray] = []
        self._voice: str | None = None
        # Kept on the instance: ctypes frees a callback whose Python object is collected.
        self._callback = _Callback(self._collect)
        lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav: ctypes._Pointer, count: int, events: int) -> int:
        if count > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 0  # 0 = go on

    def _set_voice(self, voice: str) -> bool:
        if voice == self._voice:
            return True
        ok = self.lib.espeak_SetVoiceByName(voice.encode()) == _EE_OK
        self._voice = voice if ok else None
        return ok

    def has_voice(self, voice: str) -> bool:
        with self.lock:
            return self._set_voice(voice)

    def voices(self) -> list[EspeakVoice]:
        """Every voice of the library's data, by its first (preferred) language tag."""
        with self.lock:
            table = self.lib.espeak_ListVoices(None)
            found = []
            i = 0
            while table[i]:
                voice = table[i].contents
                languages = _languages(voice.languages)
                if languages:
                    found.append(
                        EspeakVoice(
                            languages[0],
                            (voice.name or b"").decode("utf-8", "replace"),
                            (voice.identifier or b"").decode("utf-8", "replace"),
                        )
                    )
                i += 1
        return sorted(found, key=lambda v: v.language)

    def voice_for_language(self, language: str) -> str | None:
        """The voice the ``espeak-ng`` program speaks for ``-v language``, or None.

        The program tries ``language`` as a voice name and, when that fails, picks the best voice
        for it as a language: ``en-gb`` is no voice's name, and selects "English (Great
        Britain)" (``gmw/en``), not ``en-gb-x-rp``.  Returns a name :meth:`phonemes` accepts.
        """
        with self.lock:
            if self._set_voice(language):
                return language
            self._declare_phoneme_functions()
            wanted = _Voice()
            tag = ctypes.c_char_p(language.encode())
            wanted.languages = ctypes.cast(tag, ctypes.c_void_p)
            status = self.lib.espeak_SetVoiceByProperties(ctypes.byref(wanted))
            self._voice = None  # changed behind _set_voice's back
            if status != _EE_OK:
                return None
            identifier = self.lib.espeak_GetCurrentVoice().contents.identifier
            return identifier.decode() if identifier else None

    def phonemes(self, text: str, voice: str, separator: str = "_") -> list[str]:
        """IPA phonemes of ``text`` in ``voice``, one string per clause, ``separator`` between
        the phonemes of a word: what ``espeak-ng -q --ipa=1`` prints, a line per clause."""
        if len(separator) != 1:
            raise ValueError(f"the separator is one character, got {separator!r}")
        # phonememode: bit 1 = IPA, bits 8-23 = the separator (speak_lib.h)
        mode = _PHONEMES_IPA | (ord(separator) << 8)
        buffer = ctypes.create_string_buffer(text.encode("utf-8"))
        position = ctypes.c_void_p(ctypes.addressof(buffer))
        clauses: list[str] = []
        with self.lock:
            self._declare_phoneme_functions()
            # Set on every call: the espeak-ng engine may have spoken in another voice since.
            if not self._set_voice(voice):
                raise SynthesisError(f"espeak-ng has no voice {voice!r}")
            # Each call translates one clause and moves the pointer on; NULL after the last.
            while position.value is not None:
                before = position.value
                out = self.lib.espeak_TextToPhonemes(ctypes.byref(position), _CHARS_UTF8, mode)
                clauses.append((out or b"").decode("utf-8", "replace"))
                if position.value == before:  # no progress: never loop for ever
                    break
        return clauses

    def _declare_phoneme_functions(self) -> None:
        """Declare the phoneme functions on first use, so that a library without them can
        still speak."""
        lib = self.lib
        if getattr(lib.espeak_TextToPhonemes, "restype", None) is ctypes.c_char_p:
            return
        lib.espeak_SetVoiceByProperties.argtypes = [ctypes.POINTER(_Voice)]
        lib.espeak_SetVoiceByProperties.restype = ctypes.c_int
        lib.espeak_GetCurrentVoice.argtypes = []
        lib.espeak_GetCurrentVoice.restype = ctypes.POINTER(_Voice)
        lib.espeak_TextToPhonemes.argtypes = [
            ctypes.POINTER(ctypes.c_void_p),
            ctypes.c_int,
            ctypes.c_int,
        ]
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p

    def speak(self, text: str, voice: str, rate: int) -> np.ndarray:
        """int16 samples of ``text`` in ``voice`` at ``rate`` words per minute: the same
        samples on every call, where the platform can fork (see :meth:`_speak_fresh`)."""
        data = text.encode("utf-8")
        with self.lock:
            if hasattr(os, "fork") and hasattr(os, "waitpid"):
                status, pcm = self._speak_fresh(data, voice, rate)
            else:
                status, pcm = self._synth(data, voice, rate)
        if status == _NO_VOICE:
            raise SynthesisError(f"espeak-ng has no voice {voice!r}")
        if status != _EE_OK:
            raise SynthesisError(f"espeak-ng failed on {text!r} (error {status})")
        return pcm

    def _speak_fresh(self, data: bytes, voice: str, rate: int) -> tuple[int, np.ndarray]:
        """Synthesise in a forked child, from this process's untouched library state.

        eSpeak NG's wave generator keeps state from one utterance to the next in static
        variables that no API call resets (the pitch flutter position in
        ``AdvanceParameters``, the cycle count and gain control of ``Wavegen``), so the
        same text comes out a few samples longer or shorter on each call: it is spoken
        with the flutter at another point of its cycle. A forked child starts from the
        parent's state, which never speaks, so every call is the first, and the same.
        """
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: speak, send status and samples, and go without cleanup
            code = 1
            try:
                os.close(read_end)
                self._voice = None  # select the voice afresh, as the parent never did
                status, pcm = self._synth(data, voice, rate)
                payload = _HEADER.pack(status, len(pcm)) + pcm.astype("<i2").tobytes()
                view = memoryview(payload)
                while view:
                    view = view[os.write(write_end, view) :]
                code = 0
            finally:
                os._exit(code)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as stream:
            payload = stream.read()
        _, wait_status = os.waitpid(pid, 0)
        if wait_status != 0 or len(payload) < _HEADER.size:
            raise SynthesisError(f"espeak-ng's synthesis process failed (status {wait_status})")
        status, count = _HEADER.unpack_from(payload)
        pcm = np.frombuffer(payload, dtype="<i2", count=count, offset=_HEADER.size)
        return status, pcm.astype(np.int16)

    def _synth(self, data: bytes, voice: str, rate: int) -> tuple[int, np.ndarray]:
        """Speak ``data`` here: (espeak status or _NO_VOICE, int16 samples)."""
        if not self._set_voice(voice):
            return _NO_VOICE, np.zeros(0, np.int16)
        self.lib.espeak_SetParameter(_RATE, rate, 0)
        self._chunks = []
        status = self.lib.espeak_Synth(
            data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
        )
        if status == _EE_OK:
            status = self.lib.espeak_Synchronize()
        chunks, self._chunks = self._chunks, []
        return status, np.concatenate(chunks) if chunks else np.zeros(0, np.int16)


def _languages(address: int | None) -> list[str]:
    """Decode espeak_VOICE.languages: (priority byte, NUL-terminated tag) pairs, then a 0."""
    tags: list[str] = []
    while address and ctypes.c_ubyte.from_address(address).value != 0:
        tag = ctypes.string_at(address + 1)
        tags.append(tag.decode("ascii", "replace"))
        address += len(tag) + 2
    return tags


_bindings: dict[str, _Binding] = {}
_bindings_lock = threading.Lock()


def binding(library: EspeakLibrary | None = None) -> _Binding:
    """The process-wide binding of ``library`` (default: :func:`find_library`)."""
    library = library or find_library()
    with _bindings_lock:
        if library.path not in _bindings:
            log.debug("initialising espeak-ng from %s", library.path)
            _bindings[library.path] = _Binding(library)
        return _bindings[library.path]


class EspeakEngine(Engine):
    name = "espeak-ng"
    description = "eSpeak NG: formant synthesis, many languages and accents, always installed"
    options = frozenset({"model"})

    def __init__(self, spec: VoiceSpec, root: Path):
        super().__init__(spec, root)
        self.voice = spec.model or DEFAULT_VOICE
        self.binding = binding()

    @classmethod
    def check(cls, spec: VoiceSpec, root: Path) -> None:
        voice = spec.model or DEFAULT_VOICE
        bound = binding()
        if not bound.has_voice(voice):
            english = [v.language for v in bound.voices() if v.language.startswith("en")]
            raise VoiceUnavailable(
                f"espeak-ng {bound.version} ({bound.library.source}) has no voice {voice!r}",
                hint="use one of its voices, e.g. " + ", ".join(english),
            )

    @classmethod
    def licence(cls, spec: VoiceSpec) -> str:
        return "GPL-3.0-or-later"

    @property
    def sample_rate(self) -> int:
        return self.binding.sample_rate

    def identity(self) -> str:
        library = self.binding.library
        lib_file = Path(library.path)
        return json.dumps(
            {
                "engine": self.name,
                "version": self.binding.version,
                "library": library.source,
                "library_sha256": file_digest(lib_file) if lib_file.is_file() else None,
                "voice": self.voice,
            },
            sort_keys=True,
        )

    @staticmethod
    def rate_for(speed: float) -> int:
        """Words per minute for ``speed`` (1.0 = eSpeak's normal 175), within its limits."""
        return max(MIN_RATE, min(MAX_RATE, round(NORMAL_RATE * speed)))

    def synthesize(self, text: str, speed: float = 1.0) -> Audio:
        if not speed > 0:
            raise ValueError(f"speed must be positive, got {speed!r}")
        rate = self.rate_for(speed)
        if rate != round(NORMAL_RATE * speed):
            log.warning("espeak-ng speed %.2f is outside its range; using %d wpm", speed, rate)
        pcm = self.binding.speak(text, self.voice, rate)
        return Audio((pcm.astype(np.float32) / 32768.0), self.sample_rate)
