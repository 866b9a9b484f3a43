"""Mix stage: the assembled voice + the script's sounds -> the track the master receives.

A script may strike a bell (``[bell]``; the sound is ``bell:``, the built-in bowl by
default) and lay a bed under the whole track (``bed:``). The bell belongs with the voice:
:func:`pipeline.assemble.assemble` places its ring where the tag stands, as it places
speech. The bed is added here, lazily (:class:`MixedTrack`): it is made a block at a time as
the master reads the track, at ``bed_level`` LU from the voice's loudness, dipping by
``bed_duck`` dB while the voice speaks, fading in over ``lead_in`` and out over ``tail``
(see :class:`pipeline.sound.Bed`). The timeline does not change, so every time in the
manifest, captions and PDF stays the voice's.

Files people bring (a bell, a bed) are read through pydub (:func:`pipeline.sound.read_sound`)
and converted once to the pipeline's float arrays. The track itself is not assembled as a
pydub ``AudioSegment``: that holds a whole track in memory as integers, where the lazy
:class:`~pipeline.model.TrackAudio` holds only the speech (spooled to disk) and makes
everything else as it is read, which keeps an hour-long track within a small memory bound.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pipeline.dsp import seconds_to_samples
from pipeline.model import (
    Bell,
    LocalePlan,
    Script,
    SpeechSegment,
    Timeline,
    TrackAudio,
)

if TYPE_CHECKING:
    from pipeline.sound import Bed


@dataclass(frozen=True)
class Sounds:
    """The sounds a track uses, read and ready: the bell's ring and the bed's source."""

    bell: np.ndarray | None = None
    bed: np.ndarray | None = None


def sound_path(script: Script, root: Path, written: str) -> Path:
    """A sound file named in ``script``'s front matter, as a path (relative to the script)."""
    return (Path(root) / script.path).parent / written


def uses_bell(plan: LocalePlan) -> bool:
    return any(isinstance(item, Bell) for item in plan.items)


def sound_files(plan: LocalePlan, root: Path) -> dict[str, Path]:
    """The sound files ``plan`` uses, by role ("bell", "bed"): the built-in bowl is none."""
    from pipeline.sound import BOWL

    meta, found = plan.meta, {}
    if uses_bell(plan) and meta.bell != BOWL:
        found["bell"] = sound_path(plan.script, root, meta.bell)
    if meta.bed:
        found["bed"] = sound_path(plan.script, root, meta.bed)
    return found


def load_sounds(plan: LocalePlan, root: Path) -> Sounds:
    """Read the sounds ``plan`` uses (the bowl is made, files are read once)."""
    from pipeline import sound

    files = sound_files(plan, root)
    bell = None
    if uses_bell(plan):
        bell = sound.read_sound(files["bell"]) if "bell" in files else sound.bowl()
    bed = sound.read_sound(files["bed"]) if "bed" in files else None
    return Sounds(bell=bell, bed=bed)


def speech_spans(timeline: Timeline) -> list[tuple[int, int]]:
    """Where the voice speaks, as (start, end) samples: the bed dips under these."""
    return [
        (timed.start, timed.end)
        for timed in timeline.items
        if isinstance(timed.item, SpeechSegment) and timed.end > timed.start
    ]


def speech_loudness(voice: TrackAudio, speech: list[tuple[int, int]]) -> float:
    """The integrated loudness of the voice while it speaks (its pauses and bells left out):
    what the bed's level is relative to."""
    from pipeline.master import BLOCK, LoudnessMeter

    meter = LoudnessMeter(voice.sample_rate)
    for start, end in speech:
        for a in range(start, end, BLOCK):
            meter.add(voice.read(a, min(a + BLOCK, end)))
    return meter.integrated()


class MixedTrack(TrackAudio):
    """The voice with a bed under it, made a stretch at a time as it is read.

    ``voice`` and ``bed`` are the two stems; a read is their sum."""

    def __init__(self, voice: TrackAudio, bed: Bed) -> None:
        super().__init__(voice.length, voice.sample_rate)
        self.voice = voice
        self.bed = bed  # as long as the track

    def read(self, start: int, stop: int) -> np.ndarray:
        out = self.voice.read(start, stop)
        lo, hi = max(start, 0), min(stop, self.length)
        if lo < hi:
            out[lo - start : hi - start] += self.bed.read(lo, hi)
        return out

    def is_silent(self, start: int, stop: int) -> bool:
        return stop <= start or start >= self.length or stop <= 0

    def spans(self) -> list[tuple[int, int]]:
        return [(0, self.length)] if self.length else []

    def bed_blocks(self, size: int) -> Iterator[np.ndarray]:
        for start in range(0, self.length, size):
            yield self.bed.read(start, min(start + size, self.length))


def mix(voice: TrackAudio, timeline: Timeline, plan: LocalePlan, sounds: Sounds) -> TrackAudio:
    """The track the master receives: ``voice``, with the bed under it when there is one."""
    if sounds.bed is None:
        return voice
    from pipeline.sound import Bed, bed_gain_db

    meta = plan.meta
    speech = speech_spans(timeline)
    voice_lufs = speech_loudness(voice, speech)
    gain_db = bed_gain_db(sounds.bed, voice_lufs, meta.bed_level) if voice_lufs > -70 else 0.0
    bed = Bed(
        sounds.bed,
        length=voice.length,
        gain_db=gain_db,
        duck_db=meta.bed_duck,
        speech=speech,
        fade_in=seconds_to_samples(meta.lead_in),
        fade_out=seconds_to_samples(meta.tail),
    )
    return MixedTrack(voice, bed)


def stem_names(plan: LocalePlan) -> tuple[str, ...]:
    """The stems :func:`write_stems` writes for ``plan``'s track."""
    return ("voice", "bed") if plan.meta.bed else ("voice",)


def write_stems(track: TrackAudio, folder: Path, stem: str) -> list[Path]:
    """The voice-only and bed-only stems of a mixed track as 24-bit FLAC beside its MP3,
    ``<stem>.voice.flac`` and ``<stem>.bed.flac``, sample-aligned: they sum to what the
    master received (the master adds one gain and the limiter). A track without a bed has
    only its voice stem."""
    import soundfile as sf

    from pipeline.atomic import atomic_path
    from pipeline.master import BLOCK

    voice = track.voice if isinstance(track, MixedTrack) else track
    parts: list[tuple[str, Iterator[np.ndarray]]] = [("voice", voice.blocks(BLOCK))]
    if isinstance(track, MixedTrack):
        parts.append(("bed", track.bed_blocks(BLOCK)))
    written = []
    for name, blocks in parts:
        path = folder / f"{stem}.{name}.flac"
        with (
            atomic_path(path) as temp,
            sf.SoundFile(
                temp, "w", samplerate=track.sample_rate, channels=1, format="FLAC",
                subtype="PCM_24",
            ) as out,
        ):  # fmt: skip
            for block in blocks:
                out.write(np.clip(block, -1.0, 1.0))
        written.append(path)
    return written
