"""The sound of a track besides the voice: the bell, the files people bring, the bed.

Takes the script's sound settings (a bell name or file, a bed file, the bed's level and
ducking) and gives mono float32 samples at :data:`pipeline.model.SAMPLE_RATE`:

- :func:`bowl` makes the built-in singing bowl in code (no asset file); :func:`bowl_seconds`
  says how long it rings without making it.
- :func:`probe_seconds` finds a file's length cheaply with ffmpeg; :func:`read_sound` reads a
  whole file through pydub (``AudioSegment.from_file``, ffmpeg underneath) and converts it
  once to the pipeline's float arrays.
- :func:`ring_samples` cuts a ring to the pause a ``[bell 10s]`` gives it.
- :class:`Bed` is the bed under a whole track, looped with an equal-power crossfade at its
  seam, at a level gain, ducked under speech and faded at both ends, made a block at a time.

Nothing here needs ffprobe (the ffmpeg that imageio-ffmpeg ships has none), and scipy is
imported only where a file has to be resampled, so importing this module stays cheap.
"""

from __future__ import annotations

import functools
import math
import re
import subprocess
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.errors import PipelineError
from pipeline.ffmpeg import ffmpeg_exe
from pipeline.model import SAMPLE_RATE

#: The front-matter value of the built-in bell.
BOWL = "bowl"
#: Fade (seconds) when a ring is cut short by ``[bell 10s]``.
BELL_FADE_S = 0.5
#: The longest sound file a script may name, in seconds.
MAX_SOUND_S = 3600.0

#: Length of the built-in bowl: long enough to ring out, short enough for an opening.
BOWL_S = 10.0
#: The bowl's peak level.
BOWL_PEAK_DBFS = -6.0

#: The bed's loop crossfade: at most this long, and at most a quarter of the file.
LOOP_CROSSFADE_S = 1.0
#: The bed starts dipping this long before speech (the timeline is known in advance) ...
DUCK_ATTACK_S = 0.25
#: ... and comes back up over this long after it, so short gaps between sentences do not
#: let it swell back in full (it breathes rather than pumps).
DUCK_RELEASE_S = 0.8


class SoundError(PipelineError):
    """A sound file cannot be used. ``str(error)`` is the message alone (``not an audio
    file: rain.txt``): the caller puts the script's ``path:line:col`` in front of it."""


# --------------------------------------------------------------------------- the bowl


@dataclass(frozen=True)
class _Partial:
    ratio: float  # to the fundamental; a bowl's modes are far from whole multiples
    amplitude: float
    decay_s: float  # time constant of the exponential decay (1/e)
    beat_hz: float  # the mode is a slightly detuned pair, so it beats


#: Modes of a small Tibetan-style bowl, roughly as measured on real ones: higher modes
#: start quieter and die away sooner.
_BOWL_FUNDAMENTAL_HZ = 196.0
_BOWL_PARTIALS = (
    _Partial(1.0, 1.0, 3.2, 0.9),
    _Partial(2.71, 0.55, 1.9, 1.7),
    _Partial(5.13, 0.3, 1.1, 2.6),
    _Partial(8.22, 0.14, 0.65, 3.4),
    _Partial(11.95, 0.07, 0.4, 4.1),
)
_BOWL_ONSET_S = 0.004  # a soft mallet: the modes swell in over a few milliseconds
_BOWL_STRIKE_S = 0.03  # the knock of the mallet itself
_BOWL_FADE_S = 2.0  # the last stretch fades to true silence
_BOWL_SEED = 15  # the strike's noise is fixed, so every bowl is the same bytes


def bowl_seconds() -> float:
    """How long the built-in bowl rings: ``len(bowl()) / SAMPLE_RATE``, without making it."""
    return round(BOWL_S * SAMPLE_RATE) / SAMPLE_RATE


def bowl(sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The built-in singing bowl: inharmonic partials, each a beating pair with its own
    exponential decay, after a soft strike; :data:`BOWL_S` long, ending in silence, peaking
    at :data:`BOWL_PEAK_DBFS`. The same bytes on every call."""
    return _bowl(sample_rate).copy()


@functools.lru_cache(maxsize=2)
def _bowl(sample_rate: int) -> np.ndarray:
    count = round(BOWL_S * sample_rate)
    t = np.arange(count) / sample_rate
    ring = np.zeros(count)
    for partial in _BOWL_PARTIALS:
        frequency = _BOWL_FUNDAMENTAL_HZ * partial.ratio
        # Two modes a few tenths of a hertz either side, one a little weaker: the bowl's
        # slow wavering, never quite cancelling.
        low = np.sin(2 * np.pi * (frequency - partial.beat_hz / 2) * t)
        high = 0.8 * np.sin(2 * np.pi * (frequency + partial.beat_hz / 2) * t + 0.7)
        ring += partial.amplitude * np.exp(-t / partial.decay_s) * (low + high)
    strike_count = round(_BOWL_STRIKE_S * sample_rate)
    noise = np.random.default_rng(_BOWL_SEED).standard_normal(strike_count)
    smoothing = max(1, round(sample_rate / 4000))  # a felt mallet: no hiss, just a thud
    knock = np.convolve(noise, np.ones(smoothing) / smoothing, mode="same")
    knock *= np.exp(-t[:strike_count] / 0.006)
    ring[:strike_count] += 0.15 * knock
    onset = round(_BOWL_ONSET_S * sample_rate)
    ring[:onset] *= 0.5 - 0.5 * np.cos(np.pi * np.arange(onset) / onset)

    fade = round(_BOWL_FADE_S * sample_rate)
    ring[-fade:] *= 0.5 + 0.5 * np.cos(np.pi * np.arange(1, fade + 1) / fade)
    ring *= 10 ** (BOWL_PEAK_DBFS / 20) / np.abs(ring).max()
    result = ring.astype(np.float32)
    result.flags.writeable = False
    return result


def ring_samples(
    sound: np.ndarray, seconds: float | None, sample_rate: int = SAMPLE_RATE
) -> np.ndarray:
    """The bell as placed: the whole ring when ``seconds`` is None, else the ring cut to
    ``seconds`` with a :data:`BELL_FADE_S` fade-out, if it is longer than that."""
    if seconds is None:
        return sound
    keep = round(seconds * sample_rate)
    if keep >= len(sound):
        return sound
    cut = np.array(sound[:keep], dtype=np.float32)
    fade = min(keep, round(BELL_FADE_S * sample_rate))
    if fade:
        cut[keep - fade :] *= _falling(np.arange(fade), fade).astype(np.float32)
    return cut


def _falling(position: np.ndarray, count: int) -> np.ndarray:
    """A raised-cosine fade from 1 down to 0 at ``count`` (position 0 is just below 1)."""
    return 0.5 + 0.5 * np.cos(np.pi * (position + 1) / count)


# --------------------------------------------------------------------------- files


@dataclass(frozen=True)
class _Probe:
    seconds: float
    codec: str  # of the first audio stream, as ffmpeg names it (also its decoder's name)
    sample_rate: int


_DURATION = re.compile(r"^\s*Duration: (?:(\d+):(\d\d):(\d\d(?:\.\d+)?)|N/A)", re.MULTILINE)
_AUDIO_STREAM = re.compile(r"^\s*Stream #\d+:\d+\S*: Audio: (\w+)[^\n]*?(\d+) Hz", re.MULTILINE)


def probe_seconds(path: Path) -> float:
    """Length in seconds of the sound file at ``path``, read from the file's header by
    ffmpeg (decoded to the end only when the header does not say, or ffmpeg has to guess
    it from the bit rate).

    Raises :class:`SoundError` when the file is missing, cannot be read or holds no audio.
    """
    return _probe(Path(path)).seconds


def _probe(path: Path) -> _Probe:
    name = path.name
    if not path.exists():
        raise SoundError(f"no such file: {name}")
    if not path.is_file():
        raise SoundError(f"cannot read {name}: not a file")
    try:
        with path.open("rb") as file:
            file.read(1)
    except OSError as exc:
        raise SoundError(f"cannot read {name}: {exc.strerror or exc}") from exc
    # ffmpeg with an input and no output describes the input and exits with status 1.
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)]
    result = subprocess.run(command, capture_output=True, check=False)
    report = result.stderr.decode("utf-8", "replace")
    stream = _AUDIO_STREAM.search(report)
    if stream is None:
        if "Permission denied" in report:
            raise SoundError(f"cannot read {name}: permission denied")
        raise SoundError(f"not an audio file: {name}")
    codec, rate = stream.group(1), int(stream.group(2))
    duration = _DURATION.search(report)
    # A guess from the bit rate (a VBR MP3 without its header, raw AAC) can be seconds off,
    # and a bell's pause is its length: such files are decoded and counted instead.
    guessed = "Estimating duration from bitrate" in report
    if duration is not None and duration.group(1) is not None and not guessed:
        hours, minutes, seconds = duration.groups()
        return _Probe(int(hours) * 3600 + int(minutes) * 60 + float(seconds), codec, rate)
    return _Probe(_decoded_seconds(path, rate), codec, rate)


def _decoded_seconds(path: Path, sample_rate: int) -> float:
    """Length of a file's first audio stream found by decoding it all (for files whose
    header has no duration), a block at a time."""
    from pipeline.errors import EncodeError
    from pipeline.master import decoded_blocks

    count = 0
    try:
        for block in decoded_blocks(path, sample_rate):
            count += len(block)
    except EncodeError as exc:
        raise SoundError(f"not an audio file: {path.name}") from exc
    if not count:
        raise SoundError(f"not an audio file: {path.name}")
    return count / sample_rate


def read_sound(path: Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The sound file at ``path`` as mono float32 at ``sample_rate``.

    pydub reads it (``AudioSegment.from_file``: WAV itself, anything else through ffmpeg);
    its channels are averaged, and a file at another rate is resampled once with a
    polyphase filter (``scipy.signal.resample_poly``, which pydub's linear interpolation is
    not a match for). The whole file is held while it is converted: beds of a few minutes
    are what this is for. Raises :class:`SoundError` as :func:`probe_seconds` does.
    """
    path = Path(path)
    probe = _probe(path)
    audio_segment, decode_error = _pydub()
    try:
        # The codec is ffmpeg's own name for the stream, so pydub need not ask ffprobe.
        segment = audio_segment.from_file(str(path), codec=probe.codec)
    except decode_error as exc:
        raise SoundError(f"not an audio file: {path.name}") from exc
    except OSError as exc:
        raise SoundError(f"cannot read {path.name}: {exc.strerror or exc}") from exc
    width, channels, rate = segment.sample_width, segment.channels, segment.frame_rate
    frames = np.frombuffer(segment.raw_data, dtype=f"<i{width}")  # pydub's bytes, not a copy
    scale = 1.0 / float(1 << (8 * width - 1))
    mono = np.empty(len(frames) // channels, dtype=np.float32)
    for start in range(0, len(mono), _CONVERT_BLOCK):  # a block at a time: no big temporaries
        block = frames[start * channels : (start + _CONVERT_BLOCK) * channels]
        mono[start : start + len(block) // channels] = (
            block.reshape(-1, channels).mean(axis=1) * scale
        )
    del frames, segment
    return _resampled(mono, rate, sample_rate)


#: Samples converted at once from pydub's integers to floats.
_CONVERT_BLOCK = 1 << 18


def _resampled(samples: np.ndarray, rate: int, sample_rate: int) -> np.ndarray:
    if rate == sample_rate or len(samples) == 0:
        return samples
    from scipy.signal import resample_poly  # slow to import; only files at another rate

    common = math.gcd(rate, sample_rate)
    resampled = resample_poly(samples, sample_rate // common, rate // common)
    return np.asarray(resampled, dtype=np.float32)


@functools.lru_cache(maxsize=1)
def _pydub() -> tuple[Any, type[Exception]]:
    """pydub's AudioSegment, pointed at the ffmpeg the pipeline uses, and its decode error.

    pydub looks for ``ffmpeg`` on PATH when imported and warns when it is not there; the
    warning is beside the point (the converter is set right after), so it is silenced.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pydub import AudioSegment
        from pydub.exceptions import CouldntDecodeError
    AudioSegment.converter = ffmpeg_exe()
    return AudioSegment, CouldntDecodeError


# --------------------------------------------------------------------------- the bed


class Bed:
    """The bed under a whole track, made on request a stretch at a time.

    ``source`` (the bed file's samples) loops for ``length`` samples. Where it wraps, its
    last :data:`LOOP_CROSSFADE_S` (at most a quarter of it) fade out while its first ones
    fade in, with equal-power (sine and cosine) gains, so the seam neither clicks nor
    dips; the very first pass starts with the file's own beginning. Then the level gain
    ``gain_db``; a dip of ``duck_db`` under each ``speech`` span (start, end) in samples,
    reached over :data:`DUCK_ATTACK_S` before the span and left over
    :data:`DUCK_RELEASE_S` after it (raised-cosine curves in decibels; where the curves of
    neighbouring spans meet, the deeper one holds, so a short gap dips back up only part
    of the way); and raised-cosine fades over the first ``fade_in`` and the last
    ``fade_out`` samples. Every sample depends only on its position, so a stretch read in
    blocks is the same as read at once, and nothing the size of the track is ever made.
    """

    def __init__(
        self,
        source: np.ndarray,
        *,
        length: int,
        gain_db: float,
        duck_db: float,
        speech: Sequence[tuple[int, int]],
        fade_in: int,
        fade_out: int,
        sample_rate: int = SAMPLE_RATE,
    ) -> None:
        if length < 0 or fade_in < 0 or fade_out < 0:
            raise ValueError("length and fades must not be negative")
        self.length = length
        self.sample_rate = sample_rate
        self._source = np.asarray(source, dtype=np.float32)
        self._period, self._cycle = _loop_cycle(self._source, sample_rate)
        self._gain = 10 ** (gain_db / 20)
        self._duck_db = duck_db
        self._fade_in = fade_in
        self._fade_out = fade_out
        self._attack = round(DUCK_ATTACK_S * sample_rate)
        self._release = round(DUCK_RELEASE_S * sample_rate)
        spans = sorted((int(start), int(end)) for start, end in speech if end > start)
        self._starts = np.array([start for start, _ in spans], dtype=np.int64)
        self._ends = np.array([end for _, end in spans], dtype=np.int64)
        # Where each span's influence begins, and (as a running maximum, so that it can be
        # searched) where the influence of it and every span before it has ended.
        self._reach_starts = self._starts - self._attack
        reach_ends = self._ends + self._release
        self._reach_ends = np.maximum.accumulate(reach_ends) if len(spans) else reach_ends

    def read(self, start: int, end: int) -> np.ndarray:
        """The bed's samples ``[start, end)``, float32, for any range inside the track."""
        if not 0 <= start <= end <= self.length:
            raise ValueError(f"range [{start}, {end}) is outside the bed (0..{self.length})")
        looped = self._looped(start, end)
        gain = self._duck_gain(start, end)
        self._apply_fades(gain, start, end)
        return (looped * gain).astype(np.float32)

    def _looped(self, start: int, end: int) -> np.ndarray:
        out = np.zeros(end - start, dtype=np.float32)
        period = self._period
        if period == 0:
            return out
        first = min(end, period)
        if start < first:
            out[: first - start] = self._source[start:first]
        position = max(start, period)
        while position < end:
            offset = position % period
            take = min(end - position, period - offset)
            out[position - start : position - start + take] = self._cycle[offset : offset + take]
            position += take
        return out

    def _duck_gain(self, start: int, end: int) -> np.ndarray:
        """The level gain with the ducking, as linear gain for ``[start, end)``."""
        gain = np.full(end - start, self._gain)
        if not self._duck_db or not len(self._starts):
            return gain
        first = int(np.searchsorted(self._reach_ends, start, side="right"))
        last = int(np.searchsorted(self._reach_starts, end, side="left"))
        if first >= last:
            return gain
        depth = np.zeros(end - start)
        for span_start, span_end in zip(
            self._starts[first:last].tolist(), self._ends[first:last].tolist(), strict=True
        ):
            _deepen(depth, start, span_start - self._attack, span_start, rising=True)
            lo, hi = max(span_start, start), min(span_end, end)
            if lo < hi:
                depth[lo - start : hi - start] = 1.0
            _deepen(depth, start, span_end, span_end + self._release, rising=False)
        return gain * np.power(10.0, depth * (-self._duck_db / 20))

    def _apply_fades(self, gain: np.ndarray, start: int, end: int) -> None:
        if self._fade_in and start < self._fade_in:
            stop = min(end, self._fade_in)
            position = np.arange(start, stop)
            gain[: stop - start] *= 0.5 - 0.5 * np.cos(np.pi * position / self._fade_in)
        fade_from = self.length - self._fade_out
        if self._fade_out and end > fade_from:
            lo = max(start, fade_from)
            position = np.arange(lo - fade_from, end - fade_from)
            gain[lo - start :] *= _falling(position, self._fade_out)


def _deepen(depth: np.ndarray, offset: int, lo: int, hi: int, *, rising: bool) -> None:
    """Raise ``depth`` (samples from ``offset``) to a raised-cosine ramp over ``[lo, hi)``:
    from 0 up to 1 at ``hi`` if ``rising``, else from 1 at ``lo`` down to 0."""
    width = hi - lo
    a, b = max(lo, offset), min(hi, offset + len(depth))
    if width <= 0 or a >= b:
        return
    phase = np.pi * (np.arange(a, b) - lo) / width
    ramp = 0.5 - 0.5 * np.cos(phase) if rising else 0.5 + 0.5 * np.cos(phase)
    window = depth[a - offset : b - offset]
    np.maximum(window, ramp, out=window)


def _loop_cycle(source: np.ndarray, sample_rate: int) -> tuple[int, np.ndarray]:
    """The loop period and one period of the looped source, its start crossfaded with the
    tail that would otherwise jump back to it."""
    count = len(source)
    crossfade = min(round(LOOP_CROSSFADE_S * sample_rate), count // 4)
    period = count - crossfade
    cycle = source[:period].copy()
    if crossfade:
        angle = (np.pi / 2) * (np.arange(crossfade) + 0.5) / crossfade
        head, tail = source[:crossfade], source[period:]
        cycle[:crossfade] = head * np.sin(angle) + tail * np.cos(angle)
    return period, cycle


# --------------------------------------------------------------------------- levels


def loudness_lufs(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> float:
    """Integrated loudness (BS.1770-4, gated) of mono ``samples`` in LUFS; -inf if silent."""
    from pipeline.master import integrated_loudness

    return integrated_loudness(np.asarray(samples, dtype=np.float32), sample_rate)


#: The bed's loudness is measured over at least this much of it, looped.
_BED_MEASURE_S = 10.0


def bed_gain_db(
    source: np.ndarray, voice_lufs: float, bed_level: float, sample_rate: int = SAMPLE_RATE
) -> float:
    """Gain in dB that puts the looped bed (before ducking and fades) ``bed_level`` LU from
    the voice's loudness ``voice_lufs``: -20 puts it 20 LU below. A silent bed gets 0."""
    from pipeline.master import BLOCK, LoudnessMeter

    length = max(len(source), round(_BED_MEASURE_S * sample_rate))
    bed = Bed(
        source,
        length=length,
        gain_db=0.0,
        duck_db=0.0,
        speech=(),
        fade_in=0,
        fade_out=0,
        sample_rate=sample_rate,
    )
    meter = LoudnessMeter(sample_rate)
    for start in range(0, length, BLOCK):
        meter.add(bed.read(start, min(length, start + BLOCK)))
    loudness = meter.integrated()
    if not math.isfinite(loudness):
        return 0.0
    return voice_lufs + bed_level - loudness
