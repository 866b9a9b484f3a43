"""Splitting a recording into takes: one reading of a script -> one take per segment.

recording, LocalePlan -> detect speech -> align regions to segments -> cut, write, report

The person reads the whole script (or a run of its segments) in one go, pausing roughly where
the script pauses. :mod:`.detect` finds the stretches of speech, :mod:`.align` decides which
stretches make up which segment, and each segment's speech is cut out with a short handle of
the recording on either side and written losslessly as ``<slug>/<segment-id>.flac``. The
report gives every cut with a confidence and flags the ones that look wrong, so a person
listens to those and not to all of them.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from pipeline.model import LocalePlan
from pipeline.takes.align import Alignment, AlignOptions, align_regions, expected_segments
from pipeline.takes.detect import DetectOptions, detect_speech
from pipeline.takes.store import (
    ensure_takes_profile,
    normalise_text,
    profile_dir,
    read_audio,
    read_takes_json,
    record_for,
    script_folder,
    write_audio,
    write_takes_json,
)

if TYPE_CHECKING:
    from pipeline.listen.recognise import HeardWord
    from pipeline.listen.takes import HeardTakes

log = logging.getLogger(__name__)

#: Seconds added to found and expected lengths before comparing them.
LENGTH_SOFTENING = 0.3


@dataclass(frozen=True)
class SplitOptions:
    detect: DetectOptions = DetectOptions()
    align: AlignOptions | None = None  # default: weights with the script's sentence pause
    handle: float = 0.08  # seconds of recording kept either side of the speech in a take
    format: Literal["flac", "wav"] = "flac"
    # A take is flagged when its voiced length is under ``too_short`` or over ``too_long``
    # times the expected one. Both are softened by 0.3 s, since a two-word segment's length
    # is hard to predict: readings of a script vary by about 25 %; a skipped or an added
    # sentence is more.
    too_short: float = 0.6
    too_long: float = 1.5
    low_confidence: float = 0.3


@dataclass(frozen=True)
class SplitSegment:
    """One row of the split report."""

    segment_id: str
    text: str  # printed text
    start: float  # where the speech starts in the recording, seconds
    end: float  # ...and ends
    cut_start: float  # extent of the take written (speech plus handles)
    cut_end: float
    expected: float  # voiced seconds the text predicts at the reader's pace
    voiced: float  # voiced seconds found
    confidence: float  # 0..1
    flags: tuple[str, ...] = ()
    path: Path | None = None  # the take written, if any

    @property
    def ratio(self) -> float:
        return self.voiced / self.expected if self.expected > 0 else float("inf")


@dataclass(frozen=True)
class SplitResult:
    recording: Path
    folder: Path  # <takes dir>/<slug>
    locale: str
    segments: tuple[SplitSegment, ...]
    tempo: float  # the reader's pace: voiced length over the script's estimate
    noise_floor_db: float
    left_out: tuple[tuple[float, float], ...]  # sounds assigned to no segment, seconds
    written: bool
    profile: Path | None = None  # voice profile created by the split
    warnings: tuple[str, ...] = field(default=())
    missing: tuple[str, ...] = ()  # with words heard: segments that were not read
    heard: HeardTakes | None = None  # with words heard: readings, retakes and misreads

    @property
    def flagged(self) -> tuple[SplitSegment, ...]:
        return tuple(s for s in self.segments if s.flags)


def split_recording(
    recording: Path,
    plan: LocalePlan,
    *,
    root: Path,
    role: str,
    takes_dir: Path | None = None,
    segments: Collection[str] | None = None,
    options: SplitOptions | None = None,
    write: bool = True,
    heard: Sequence[HeardWord] | None = None,
) -> SplitResult:
    """Cut ``recording`` (a reading of ``plan``, or of the ``segments`` of it, in order) into
    takes under ``takes_dir`` (default ``<root>/takes/<role>``), merge their records into
    ``takes.json``, and create ``voices/<role>.toml`` when there is none.

    With ``write=False`` nothing is written: the result is the report of what would be cut.
    With ``heard`` (the recording's words, :mod:`pipeline.listen`), the words decide which
    speech is which segment's reading (:mod:`pipeline.listen.takes`): retakes, skipped
    segments and misreads are reported, and a skipped segment gets no take.
    Raises :class:`~pipeline.takes.align.AlignmentError` when the recording cannot be matched
    to the script at all, and :class:`~pipeline.takes.store.TakeError` when it cannot be read.
    """
    options = options or SplitOptions()
    root = Path(root)
    takes_dir = Path(takes_dir) if takes_dir is not None else root / "takes" / role
    folder = script_folder(takes_dir, plan.script.slug)
    if write:
        profile_dir(root, role, takes_dir)  # refuse a bad role or folder before cutting
    audio = read_audio(Path(recording))
    samples, rate = audio.samples, audio.sample_rate

    detection = detect_speech(samples, rate, options.detect)
    expected = expected_segments(plan, segments)
    align_options = options.align or AlignOptions(sentence_pause=plan.meta.sentence_pause)
    by_words = None
    if heard is None:
        alignment = align_regions(detection.regions, expected, align_options)
    else:
        from pipeline.listen.takes import align_by_words

        by_words = align_by_words(heard, detection.regions, plan, expected)
        alignment = by_words.alignment
    rows = _rows(plan, alignment, detection.duration, options)
    if by_words is not None:
        rows = [replace(row, flags=row.flags + by_words.flags(row.segment_id)) for row in rows]
    left_out = tuple(
        (detection.regions[i].start, detection.regions[i].end) for i in alignment.left_out
    )
    warnings = [
        f"sound at {start:.2f}-{end:.2f}s was not taken for any segment" for start, end in left_out
    ]
    warnings += [f"{row.segment_id}: {flag}" for row in rows for flag in row.flags]
    missing = by_words.missing if by_words else ()
    warnings += [f"{segment_id}: missing: no reading of it was heard" for segment_id in missing]

    profile = None
    if write:
        rows = _write_takes(rows, samples, rate, plan, folder, Path(recording), root, options)
        profile, note = ensure_takes_profile(root, role, plan.locale, takes_dir)
        if note:
            warnings.append(note)
    for warning in warnings:
        log.warning("%s", warning)
    return SplitResult(
        recording=Path(recording),
        folder=folder,
        locale=plan.locale,
        segments=tuple(rows),
        tempo=alignment.tempo,
        noise_floor_db=detection.noise_floor_db,
        left_out=left_out,
        written=write,
        profile=profile,
        warnings=tuple(warnings),
        missing=missing,
        heard=by_words,
    )


def _rows(
    plan: LocalePlan, alignment: Alignment, duration: float, options: SplitOptions
) -> list[SplitSegment]:
    by_id = {s.id: s for s in plan.speech}
    placements = alignment.placements
    rows = []
    for k, p in enumerate(placements):
        # Handles stop halfway to the neighbouring speech: a take never holds a neighbour's word.
        low = (placements[k - 1].end + p.start) / 2 if k else 0.0
        high = (p.end + placements[k + 1].start) / 2 if k + 1 < len(placements) else duration
        flags = []
        fit = (p.voiced + LENGTH_SOFTENING) / (p.expected + LENGTH_SOFTENING)
        if fit < options.too_short:
            flags.append(
                f"far too short for its text ({p.voiced:.1f}s, expected ~{p.expected:.1f}s)"
            )
        elif fit > options.too_long:
            flags.append(
                f"far too long for its text ({p.voiced:.1f}s, expected ~{p.expected:.1f}s)"
            )
        if p.confidence < options.low_confidence:
            flags.append(f"low confidence ({p.confidence:.2f}): listen to this cut")
        rows.append(
            SplitSegment(
                segment_id=p.segment_id,
                text=normalise_text(by_id[p.segment_id].printed),
                start=p.start,
                end=p.end,
                cut_start=max(p.start - options.handle, low),
                cut_end=min(p.end + options.handle, high),
                expected=p.expected,
                voiced=p.voiced,
                confidence=p.confidence,
                flags=tuple(flags),
            )
        )
    return rows


def _write_takes(
    rows: list[SplitSegment],
    samples: np.ndarray,
    rate: int,
    plan: LocalePlan,
    folder: Path,
    recording: Path,
    root: Path,
    options: SplitOptions,
) -> list[SplitSegment]:
    """Write each take, then the merged takes.json (last, so it never names a take that
    is not there yet)."""
    source = _project_relative(recording, root)
    by_id = {s.id: s for s in plan.speech}
    records = read_takes_json(folder)
    written = []
    for row in rows:
        cut = samples[int(round(row.cut_start * rate)) : int(round(row.cut_end * rate))]
        path = write_audio(folder / f"{row.segment_id}.{options.format}", cut, rate)
        records[row.segment_id] = record_for(
            by_id[row.segment_id], source=source, start=row.cut_start, end=row.cut_end
        )
        written.append(replace(row, path=path))
    write_takes_json(folder, records)
    return written


def _project_relative(path: Path, root: Path) -> str:
    """The recording as takes.json names it: relative to the project when inside it (so the
    folder can move with the project), else just its file name."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.name


def format_table(result: SplitResult) -> str:
    """The split report as plain text, one row per segment, flagged rows marked ``!``."""
    lines = [
        f"  {'segment':8} {'start':>8} {'end':>8} {'length':>7} {'expect':>7} {'conf':>5}  text"
    ]
    for row in result.segments:
        mark = "!" if row.flags else " "
        text = row.text if len(row.text) <= 48 else row.text[:47] + "…"
        lines.append(
            f"{mark} {row.segment_id:8} {_clock(row.start):>8} {_clock(row.end):>8} "
            f"{row.voiced:7.1f} {row.expected:7.1f} {row.confidence:5.2f}  {text}"
        )
        lines.extend(f"    ! {flag}" for flag in row.flags)
    lines.extend(
        f"! {segment_id:8} missing: no reading of it was heard" for segment_id in result.missing
    )
    return "\n".join(lines)


def _clock(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60.0)
    return f"{int(minutes)}:{rest:05.2f}"
