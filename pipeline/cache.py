"""Content-addressed cache of sentence audio.

A sentence's key covers everything that changes its sound: the engine, the engine's identity
(version, model file hash, voice options), the speed, the voice's gain, the spoken text, and
how sentences are prepared. Editing one sentence
therefore changes one key, and a rebuild synthesises that sentence only.

Entries hold sentences as the synth stage prepares them (:mod:`pipeline.sentences`: at the
master rate, trimmed of the engine's own silence, faded), as 16-bit FLAC, so a rebuild joins
them as they are read. Each entry is written to a temporary file and renamed into place, so a
killed build leaves either a whole entry or none; an entry that cannot be read is dropped
and synthesised again. Each entry carries its own key (in the FLAC's comment), and an entry
whose key is not the one it is filed under (a file copied or restored to the wrong place)
is another sentence's audio: it is dropped too, never used.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from pathlib import Path

import numpy as np
import soundfile as sf

from pipeline.atomic import process_running
from pipeline.model import Audio
from pipeline.sentences import PREPARE_FORMAT

log = logging.getLogger(__name__)

#: Bump when the meaning of cached audio changes (e.g. a new engine adapter behaviour).
CACHE_FORMAT = 2
#: ``.<key>.<pid>.tmp.flac``: an entry being written by process ``pid`` (see put()).
_TEMPORARY = re.compile(r"^\.[0-9a-f]{64}\.(?P<pid>\d+)\.tmp\.flac$")


def sentence_key(engine: str, identity: str, speed: float, text: str, gain_db: float = 0.0) -> str:
    payload = json.dumps(
        {
            "v": CACHE_FORMAT,
            "prepare": PREPARE_FORMAT,
            "engine": engine,
            "identity": identity,
            "speed": speed,
            "gain_db": gain_db,
            "text": text,
        },
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class SentenceCache:
    """Sentence audio on disk under ``directory``, sharded by the key's first two characters."""

    def __init__(self, directory: Path, *, enabled: bool = True):
        self.directory = directory
        self.enabled = enabled

    def remove_stale_temporaries(self) -> int:
        """Remove the half-written entries of builds killed while writing one (their writer
        is no longer running); return how many. A running build's stay."""
        removed = 0
        try:
            shards = [Path(entry.path) for entry in os.scandir(self.directory) if entry.is_dir()]
        except OSError:
            return 0
        for shard in shards:
            for temporary in shard.glob(".*.tmp.flac"):
                match = _TEMPORARY.match(temporary.name)
                if match and not process_running(int(match.group("pid"))):
                    temporary.unlink(missing_ok=True)
                    removed += 1
        return removed

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.flac"

    def get(self, key: str) -> Audio | None:
        if not self.enabled:
            return None
        path = self._path(key)
        if not path.is_file():
            return None
        try:
            with sf.SoundFile(path) as entry:
                stored_key = entry.comment
                rate = entry.samplerate
                samples = (
                    entry.read(dtype="float32", always_2d=False) if stored_key == key else None
                )
        except Exception as exc:  # a damaged entry is a miss, never a failed build
            log.warning("dropping unreadable cache entry %s: %s", path, exc)
            path.unlink(missing_ok=True)
            return None
        if samples is None:
            if stored_key:
                log.warning(
                    "dropping cache entry %s: it holds the audio of key %s…", path, stored_key[:12]
                )
            else:  # written before entries carried their key: cannot be checked, so made again
                log.info("dropping cache entry %s: it does not say what it holds", path)
            path.unlink(missing_ok=True)
            return None
        return Audio(np.asarray(samples, dtype=np.float32), int(rate))

    def put(self, key: str, audio: Audio) -> Audio:
        """Store ``audio`` and return it as stored (16-bit), so that a fresh render and a
        cached one of the same sentence are the same samples."""
        stored = Audio(quantize16(audio.samples), audio.sample_rate)
        if not self.enabled:
            return stored
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.flac")
        channels = 1 if stored.samples.ndim == 1 else stored.samples.shape[1]
        try:
            with sf.SoundFile(
                tmp, "w", audio.sample_rate, channels, subtype="PCM_16", format="FLAC"
            ) as entry:
                entry.comment = key  # what get() checks the entry against
                entry.write(stored.samples)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return stored


def quantize16(samples: np.ndarray) -> np.ndarray:
    """Round to the 16-bit grid exactly as a PCM_16 write and read-back would."""
    ints = np.clip(np.round(samples * 32768.0), -32768, 32767)
    # + 0.0 turns the -0.0 that rounding leaves into the 0.0 a read-back gives: the same
    # bytes, not only the same values.
    return (ints / 32768.0 + 0.0).astype(np.float32)
