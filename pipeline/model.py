"""The small immutable types passed between the pipeline's stages.

parse  text           -> Script
plan   Script, locale -> LocalePlan
synth  LocalePlan     -> RenderedSegment per speech segment
assemble              -> TrackAudio (speech laid out on silence) + Timeline

Conversion to and from dicts, JSON and TOML happens at the edges, not here.
Times in a plan are seconds (floats); times in a timeline are samples (ints) so that
silences are exact to the sample.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from pipeline.spool import Spooled

DEFAULT_LOCALES = ("en-GB", "en-US")
SAMPLE_RATE = 44100


# --------------------------------------------------------------------------- script


@dataclass(frozen=True)
class FrontMatter:
    """The script's front matter with every default applied (durations in seconds)."""

    title: str
    collection: str | None = None
    track: int | None = None
    author: str | None = None
    description: str | None = None
    locales: tuple[str, ...] = DEFAULT_LOCALES
    voice: str = "narrator"
    pause: float = 2.0
    sentence_pause: float = 0.6
    paragraph_pause: float = 1.2
    section_pause: float = 2.5
    lead_in: float = 1.0
    tail: float = 3.0
    rate: float = 1.0
    speak_headings: bool = False
    loudness: float = -16.0
    cover: str | None = None  # as written: relative to the script's folder
    techniques: tuple[str, ...] = ()  # tags on the resource page
    about: str | None = None  # the page text, as written; None: <slug>.about.md if it exists
    bell: str = "bowl"  # the sound of [bell]: the built-in bowl, or a path as written
    bed: str | None = None  # a sound under the whole track, as written
    bed_level: float = -20.0  # LU, the bed's loudness relative to the voice
    bed_duck: float = 6.0  # dB the bed dips while the voice speaks


@dataclass(frozen=True)
class Text:
    """Literal text, escapes already resolved; a line break inside a paragraph is a space."""

    text: str


@dataclass(frozen=True)
class Emphasis:
    """``*x*`` / ``_x_`` (italic) or ``**x**`` (bold): printed styled, spoken plainly."""

    marker: Literal["*", "_", "**"]
    children: tuple[Inline, ...]

    @property
    def strong(self) -> bool:
        return self.marker == "**"


@dataclass(frozen=True)
class Say:
    """``[printed](say: spoken)``: printed text on paper and captions, spoken text in audio."""

    printed: str
    spoken: str


@dataclass(frozen=True)
class Variant:
    """``{en-GB: colour | en-US: color}``; a script locale without a branch gets empty text."""

    branches: tuple[tuple[str, tuple[Inline, ...]], ...]
    line: int
    col: int

    def for_locale(self, locale: str) -> tuple[Inline, ...]:
        for tag, children in self.branches:
            if tag == locale:
                return children
        return ()


@dataclass(frozen=True)
class Pause:
    """An explicit pause tag of any form, with its exact length and where it was written."""

    seconds: float
    source: str  # the tag as written, e.g. "[pause 3s]" or '<break strength="weak"/>'
    line: int
    col: int


@dataclass(frozen=True)
class BellTag:
    """``[bell]`` (``seconds`` None: the pause lasts the whole ring) or ``[bell 10s]``."""

    seconds: float | None
    source: str  # the tag as written
    line: int
    col: int


Inline = Text | Emphasis | Say | Variant | Pause | BellTag


@dataclass(frozen=True)
class Paragraph:
    line: int  # line of the paragraph's first character
    items: tuple[Inline, ...]


@dataclass(frozen=True)
class Section:
    """A section (a chapter of the track). ``number`` is 0 only for an opening section
    without a heading; ``heading`` is None exactly then."""

    number: int
    heading: tuple[Inline, ...] | None
    level: int  # number of '#' (0 for the opening section)
    line: int
    paragraphs: tuple[Paragraph, ...]


@dataclass(frozen=True)
class Lexicon:
    """Spoken replacements for whole words, already merged across lexicon files
    (nearest file wins per key). ``by_scope`` maps "all" or a locale to (word, spoken) pairs."""

    by_scope: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()

    def for_locale(self, locale: str) -> dict[str, str]:
        scopes = dict(self.by_scope)
        merged = dict(scopes.get("all", ()))
        merged.update(dict(scopes.get(locale, ())))
        return merged


@dataclass(frozen=True)
class Script:
    path: str  # as shown in messages (relative to the project root where possible)
    slug: str
    meta: FrontMatter
    sections: tuple[Section, ...]
    lexicon: Lexicon = field(default_factory=Lexicon)
    body_line: int = 1  # first line after the front matter
    # Where each front-matter value was written, for errors found after parsing.
    positions: tuple[tuple[str, int, int], ...] = field(default=(), compare=False, repr=False)
    # The length of the bell's ring in seconds, as measured (not rounded). None when no
    # [bell] needs it, or when the bell is a file and the script was parsed without loading.
    bell_seconds: float | None = None

    def position_of(self, key: str) -> tuple[int, int]:
        """(line, column) of front-matter ``key``'s value; (1, 1) when it was not written."""
        return next(((line, col) for k, line, col in self.positions if k == key), (1, 1))


# --------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class Sentence:
    printed: str
    spoken: str  # after say-substitution and the lexicon: exactly what an engine reads


@dataclass(frozen=True)
class SpeechSegment:
    """Text between two pause points of one paragraph, as rendered in one locale."""

    id: str  # "S<section>-<nn>", the same in every locale
    section: int
    paragraph: int  # index of the paragraph in the whole script, from 0; -1 for a spoken heading
    line: int
    col: int
    inlines: tuple[Inline, ...]  # printed form for this locale: Text, Emphasis and Say only
    printed: str
    spoken: str
    sentences: tuple[Sentence, ...]
    kind: Literal["speech"] = "speech"


SilenceSource = Literal["lead_in", "pause", "paragraph", "section", "tail"]


@dataclass(frozen=True)
class Silence:
    source: SilenceSource
    seconds: float
    line: int | None = None  # for explicit pauses: where the tag was written
    section: int | None = None  # for explicit pauses: the section holding the tag
    paragraph: int | None = None  # for explicit pauses: the paragraph holding the tag
    kind: Literal["silence"] = "silence"


@dataclass(frozen=True)
class Bell:
    """A bell struck where a ``[bell]`` tag stands. It counts as an explicit pause of
    ``seconds``: the ring rounded up to 0.1 s, or the tag's length when ``explicit`` (the
    ring is then cut to it, with a fade, if it is longer). The strike starts the pause."""

    seconds: float
    line: int
    explicit: bool
    section: int | None = None  # the section holding the tag
    paragraph: int | None = None  # the paragraph holding the tag
    kind: Literal["bell"] = "bell"


PlanItem = SpeechSegment | Silence | Bell


@dataclass(frozen=True)
class SectionInfo:
    number: int
    title: str  # printed heading for the locale, or the track title for an opening section
    heading: tuple[Inline, ...] | None
    line: int


@dataclass(frozen=True)
class LocalePlan:
    """The ordered timeline of one track: speech segments and the silences between them.
    Silences follow the timing model exactly; sentence gaps live inside speech segments."""

    script: Script
    locale: str
    sections: tuple[SectionInfo, ...]
    items: tuple[PlanItem, ...]

    @property
    def meta(self) -> FrontMatter:
        return self.script.meta

    @property
    def speech(self) -> tuple[SpeechSegment, ...]:
        return tuple(i for i in self.items if isinstance(i, SpeechSegment))

    @property
    def scripted_silence(self) -> float:
        """Seconds of the track without speech: silences and bells, which count as pauses."""
        return sum(i.seconds for i in self.items if isinstance(i, Silence | Bell))


# --------------------------------------------------------------------------- voices


@dataclass(frozen=True)
class VoiceSpec:
    """One engine choice of a voice profile for one locale."""

    engine: str
    model: str | None = None
    model_path: str | None = None  # relative to the project root
    config_path: str | None = None
    speaker: str | None = None
    speaker_wav: tuple[str, ...] = ()
    language: str | None = None
    speed: float = 1.0
    gain_db: float = 0.0
    dir: str | None = None  # engine "takes": folder of recorded takes

    @property
    def label(self) -> str:
        name = self.model or self.model_path or self.dir or ""
        return f"{self.engine}:{name}" if name else self.engine


@dataclass(frozen=True)
class ResolvedVoice:
    """What a role resolves to for one locale on this machine."""

    role: str
    locale: str
    spec: VoiceSpec
    fallback: bool  # True when the profile's first choice was not available
    skipped: tuple[tuple[VoiceSpec, str], ...] = ()  # choices passed over, with why
    hint: str | None = None  # for a fallback: the command that gets the first choice


# --------------------------------------------------------------------------- audio


@dataclass(frozen=True, eq=False)
class Audio:
    """Mono float32 samples in [-1, 1] at ``sample_rate``."""

    samples: np.ndarray
    sample_rate: int

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sample_rate


@dataclass(frozen=True, eq=False)
class RenderedSegment:
    """A speech segment's audio at the master sample rate, sentences already joined with the
    sentence pause. ``sentence_spans`` are (start, end) sample offsets within ``audio``.
    ``audio`` is in memory, or on disk in a build's :class:`~pipeline.spool.Spool`."""

    segment_id: str
    audio: np.ndarray | Spooled
    sentence_spans: tuple[tuple[int, int], ...]


class TrackAudio:
    """A whole track as speech segments laid out on silence, read a stretch at a time.

    An hour of float32 samples is 600 MB, almost all of it silence in a typical exercise;
    this keeps only the segments (which exist anyway) and their start positions, and makes
    any stretch on request: zeros, with the overlapping segments copied in. So a stage can
    walk an hour-long track in blocks with memory for one block. Segments may be in memory
    or spooled to disk (:mod:`pipeline.spool`); a build spools them, so that not even the
    speech needs to fit in memory.
    """

    def __init__(
        self,
        length: int,
        sample_rate: int,
        segments: Sequence[tuple[int, np.ndarray | Spooled]] = (),
    ) -> None:
        placed = sorted(
            ((int(start), _one_dimensional(audio)) for start, audio in segments),
            key=lambda pair: pair[0],
        )
        placed = [(start, audio) for start, audio in placed if len(audio)]
        for (start, audio), (following, _) in zip(placed, placed[1:], strict=False):
            if start + len(audio) > following:
                raise ValueError(f"segments at samples {start} and {following} overlap")
        if placed and (placed[0][0] < 0 or placed[-1][0] + len(placed[-1][1]) > length):
            raise ValueError("a segment lies outside the track")
        self._length = int(length)
        self._sample_rate = int(sample_rate)
        self._starts = [start for start, _ in placed]
        self._segments = [audio for _, audio in placed]

    @classmethod
    def from_array(cls, samples: np.ndarray, sample_rate: int) -> TrackAudio:
        """A track over existing samples (not copied)."""
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        return cls(len(samples), sample_rate, [(0, samples)])

    @property
    def length(self) -> int:
        """Samples in the track."""
        return self._length

    @property
    def sample_rate(self) -> int:
        return self._sample_rate

    def __len__(self) -> int:
        return self._length

    @property
    def seconds(self) -> float:
        return self.length / self.sample_rate

    def read(self, start: int, stop: int) -> np.ndarray:
        """Float32 samples ``start`` to ``stop`` (a new array); zeros outside the track."""
        out = np.zeros(max(stop - start, 0), dtype=np.float32)
        first = max(bisect_right(self._starts, start) - 1, 0)
        for index in range(first, len(self._starts)):
            offset = self._starts[index]
            if offset >= stop:
                break
            audio = self._segments[index]
            lo, hi = max(start, offset), min(stop, offset + len(audio))
            if lo < hi:
                out[lo - start : hi - start] = audio[lo - offset : hi - offset]
        return out

    def is_silent(self, start: int, stop: int) -> bool:
        """True when no segment overlaps ``start`` to ``stop``, so the stretch is certainly
        all zeros (without reading it)."""
        if stop <= start:
            return True
        index = bisect_right(self._starts, start) - 1
        if index >= 0 and self._starts[index] + len(self._segments[index]) > start:
            return False
        following = index + 1
        return following >= len(self._starts) or self._starts[following] >= stop

    def spans(self) -> list[tuple[int, int]]:
        """``(start, stop)`` of every stretch that may sound, in order; the rest of the track
        is certainly silent (as :meth:`is_silent` says)."""
        placed = zip(self._starts, self._segments, strict=True)
        return [(start, start + len(audio)) for start, audio in placed]

    def window(self, start: int, stop: int) -> TrackAudio:
        """Samples ``start`` to ``stop`` as a track of their own (not copied): silent
        outside them, even where this track is not."""
        return _Window(self, start, stop)

    def blocks(self, size: int) -> Iterator[np.ndarray]:
        """The whole track in consecutive blocks of ``size`` samples (the last may be shorter)."""
        for start in range(0, self.length, size):
            yield self.read(start, min(start + size, self.length))

    def to_array(self) -> np.ndarray:
        """The whole track as one float32 array (for tests and short tracks)."""
        return self.read(0, self.length)


class _Window(TrackAudio):
    """A stretch of another track, as :meth:`TrackAudio.window` gives it."""

    def __init__(self, track: TrackAudio, start: int, stop: int) -> None:
        self._track = track
        self._offset = int(start)
        self._length = max(int(stop) - int(start), 0)
        self._sample_rate = track.sample_rate

    def read(self, start: int, stop: int) -> np.ndarray:
        lo, hi = max(start, 0), min(stop, self._length)
        if lo >= hi:
            return np.zeros(max(stop - start, 0), dtype=np.float32)
        inside = self._track.read(self._offset + lo, self._offset + hi)
        if lo == start and hi == stop:
            return inside
        out = np.zeros(stop - start, dtype=np.float32)
        out[lo - start : hi - start] = inside
        return out

    def is_silent(self, start: int, stop: int) -> bool:
        lo, hi = max(start, 0), min(stop, self._length)
        return lo >= hi or self._track.is_silent(self._offset + lo, self._offset + hi)

    def spans(self) -> list[tuple[int, int]]:
        return [
            (max(a - self._offset, 0), min(b - self._offset, self._length))
            for a, b in self._track.spans()
            if a < self._offset + self._length and b > self._offset
        ]


def _one_dimensional(audio: np.ndarray | Spooled) -> np.ndarray | Spooled:
    """Segment audio as 1-D float32; spooled audio stays on disk (it is 1-D float32)."""
    if isinstance(audio, Spooled):
        return audio
    return np.asarray(audio, dtype=np.float32).reshape(-1)


@dataclass(frozen=True)
class TimedItem:
    item: PlanItem
    start: int  # samples
    end: int


@dataclass(frozen=True)
class TimedSentence:
    segment_id: str
    printed: str
    start: int
    end: int


@dataclass(frozen=True)
class Chapter:
    title: str
    start: int
    end: int


@dataclass(frozen=True)
class Timeline:
    sample_rate: int
    items: tuple[TimedItem, ...]
    sentences: tuple[TimedSentence, ...]
    chapters: tuple[Chapter, ...]

    @property
    def length(self) -> int:
        return self.items[-1].end if self.items else 0


@dataclass(frozen=True)
class Loudness:
    integrated_lufs: float
    true_peak_dbtp: float


@dataclass(frozen=True)
class TrackTags:
    title: str
    album: str | None
    track: int | None
    artist: str | None
    language: str  # BCP 47, e.g. en-GB
    comment: str | None
    cover: bytes | None = None
    cover_mime: str | None = None


@dataclass(frozen=True)
class TrackTimes:
    """Where things fall in a track, in seconds: measured after a render, or estimated from
    the text and the timing model before one (``approximate``)."""

    duration: float
    section_starts: tuple[tuple[int, float], ...]  # (section number, start of its first speech)
    segment_starts: tuple[tuple[str, float], ...]  # (segment id, start)
    approximate: bool
