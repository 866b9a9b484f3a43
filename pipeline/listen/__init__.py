"""Listening: speech recognition checks that a track says what its script says.

recognise  model name or folder -> a loaded faster-whisper model -> words heard, with times
normalise  text                 -> comparable words (spelling, numbers, case, punctuation)
track      built track          -> WER per track and segment, flagged sentences, suggestions,
                                   ``<slug>.<locale>.listen.json``
suggest    a misheard word      -> the ``lexicon.toml`` line that may fix it
takes      words heard in a one-take reading -> which speech is which segment's reading
           (retakes, skipped segments, misreads)

Everything here needs the optional extra ``voicetrack[listen]`` (faster-whisper, jiwer and
whisper-normalizer), imported only when used.
"""

from __future__ import annotations

from pipeline.listen.recognise import (
    DEFAULT_MODEL,
    HeardWord,
    Recogniser,
    RecognitionModel,
    find_model,
    install_model,
    listen_available,
)
from pipeline.listen.track import (
    ListenError,
    ListenOptions,
    SentenceCheck,
    TrackCheck,
    format_report,
    listen,
)

__all__ = [
    "DEFAULT_MODEL",
    "HeardWord",
    "ListenError",
    "ListenOptions",
    "Recogniser",
    "RecognitionModel",
    "SentenceCheck",
    "TrackCheck",
    "find_model",
    "format_report",
    "install_model",
    "listen",
    "listen_available",
]
