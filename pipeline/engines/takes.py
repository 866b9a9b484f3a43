"""The ``takes`` engine: a person's own recorded takes, played as a voice.

LocalePlan, takes folder -> RenderedSegment per speech segment that has a usable take

A recorded take cannot say arbitrary sentences, so this engine speaks no text: it
:attr:`~pipeline.engines.base.Engine.records_segments`, and the synth stage asks it for whole
*segments*, each from its take (see :mod:`pipeline.takes`)::

    result = engine.recorded_segments(plan, voice.role, allow_missing=...)
    result.segments                                    # {segment id: RenderedSegment}
    result.unrendered                                  # ids to fill with another voice

``check`` only verifies that the takes folder exists (whether every segment of a given script
has a take is a property of the script, reported by :func:`render_takes`). ``identity``
digests the takes on disk, so re-recording a take changes the build key of the tracks using
it. Sentence times for captions come from the pauses inside each take.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.engines.base import Engine, RecordedSpeech
from pipeline.errors import VoiceUnavailable
from pipeline.model import SAMPLE_RATE, LocalePlan, RenderedSegment, Sentence, VoiceSpec
from pipeline.spool import Spool
from pipeline.takes.clean import CLEAN_FORMAT, CleanOptions, CleanTake, clean_take
from pipeline.takes.store import (
    TAKE_SUFFIXES,
    TAKES_JSON,
    TakeError,
    read_audio,
    takes_folder,
    takes_status,
)

log = logging.getLogger(__name__)

SPLIT_HINT = "record the script and cut it into takes with: voicetrack takes split RECORDING SCRIPT"


class TakesIncomplete(TakeError):
    """Some segments of a script have no usable take, and no other voice fills them."""

    exit_status = 2

    def __init__(self, message: str, missing: Sequence[str], stale: Sequence[str]):
        super().__init__(message)
        self.missing = tuple(missing)
        self.stale = tuple(stale)
        self.hint = (
            "record them (voicetrack takes status shows which), or build with "
            "--fill-missing ROLE to speak them with another voice"
        )


class TakesEngine(Engine):
    name = "takes"
    description = "a person's own recorded takes, one per speech segment"
    supports_speed = False
    records_segments = True
    options = frozenset({"dir"})

    @classmethod
    def check(cls, spec: VoiceSpec, root: Path) -> None:
        # Without the role the default folder (takes/<role>) is unknown here; its parent must
        # at least exist.
        relative = spec.dir or "takes"
        if not (Path(root) / relative).is_dir():
            raise VoiceUnavailable(
                f"there is no takes folder {relative}/ in the project", hint=SPLIT_HINT
            )

    @classmethod
    def licence(cls, spec: VoiceSpec) -> str:
        return "the speaker's own recordings"

    @property
    def sample_rate(self) -> int:
        return SAMPLE_RATE

    def identity(self) -> str:
        folder = Path(self.root) / (self.spec.dir or "takes")
        return json.dumps(
            {
                "engine": self.name,
                "clean_format": CLEAN_FORMAT,
                "dir": self.spec.dir,
                "gain_db": self.spec.gain_db,
                "takes": folder_digest(folder),
            },
            sort_keys=True,
        )

    def recorded_segments(
        self,
        plan: LocalePlan,
        role: str,
        *,
        allow_missing: bool = False,
        spool: Spool | None = None,
        options: CleanOptions | None = None,
    ) -> TakesRender:
        """Render ``plan``'s segments from the takes of ``role`` (see :func:`render_takes`)."""
        return render_takes(
            plan,
            takes_folder(self.spec, self.root, role),
            gain_db=self.spec.gain_db,
            allow_missing=allow_missing,
            options=options,
            spool=spool,
        )


def folder_digest(folder: Path) -> str:
    """A digest of every take and ``takes.json`` under ``folder`` by name, size and
    modification time: cheap (no audio read) and changed by any re-recording."""
    h = hashlib.sha256()
    if folder.is_dir():
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames.sort()
            for name in sorted(filenames):
                if name.startswith(".") or not (
                    name == TAKES_JSON or Path(name).suffix.lower() in TAKE_SUFFIXES
                ):
                    continue
                path = Path(dirpath) / name
                st = path.stat()
                h.update(
                    f"{path.relative_to(folder).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode()
                )
    return h.hexdigest()


@dataclass(frozen=True)
class TakesRender(RecordedSpeech):
    """The segments rendered from takes, and those that could not be."""

    missing: tuple[str, ...] = ()  # no take
    stale: tuple[str, ...] = ()  # a take recorded for other text: not played

    @property
    def unrendered(self) -> tuple[str, ...]:
        """Segments another voice must speak (missing or stale takes)."""
        return self.missing + self.stale


def render_takes(
    plan: LocalePlan,
    takes_dir: Path,
    *,
    gain_db: float = 0.0,
    allow_missing: bool = False,
    use_stale: bool = False,
    options: CleanOptions | None = None,
    sample_rate: int = SAMPLE_RATE,
    spool: Spool | None = None,
) -> TakesRender:
    """Clean and render the take of every speech segment of ``plan`` found in ``takes_dir``
    (the voice's folder, holding ``<slug>/``); with a ``spool``, each cleaned take is kept
    on disk rather than in memory.

    A stale take (recorded for text that has since changed) is not played unless
    ``use_stale``. When a segment has no usable take, :class:`TakesIncomplete` is raised
    unless ``allow_missing``; then the result lists it in ``unrendered`` for another voice.
    """
    status = takes_status(plan, takes_dir)
    stale = () if use_stale else status.stale
    unusable = set(status.missing) | set(stale)
    if unusable and not allow_missing:
        raise TakesIncomplete(
            _incomplete_message(plan, status.folder, status.missing, stale), status.missing, stale
        )
    warnings = list(status.warnings)
    for entry in status.entries:
        if entry.condition == "stale":
            warnings.append(f"{entry.segment_id}: take is stale ({entry.reason})")
    sentences = {s.id: s.sentences for s in plan.speech}
    rendered: dict[str, RenderedSegment] = {}
    for entry in status.entries:
        if entry.segment_id in unusable or entry.path is None:
            continue
        take = clean_take(
            read_audio(entry.path), options, sample_rate=sample_rate, label=entry.path.name
        )
        warnings.extend(take.warnings)
        samples = take.samples * np.float32(10 ** (gain_db / 20)) if gain_db else take.samples
        spans = sentence_spans(take, sentences[entry.segment_id])
        audio = spool.put(samples) if spool is not None else samples
        rendered[entry.segment_id] = RenderedSegment(entry.segment_id, audio, spans)
    return TakesRender(
        segments=rendered,
        missing=status.missing,
        stale=stale,
        warnings=tuple(warnings),
    )


def _incomplete_message(
    plan: LocalePlan, folder: Path, missing: Sequence[str], stale: Sequence[str]
) -> str:
    parts = []
    if missing:
        parts.append(f"no take for {', '.join(missing)}")
    if stale:
        parts.append(f"stale takes (the text changed) for {', '.join(stale)}")
    return f"{plan.script.path} ({plan.locale}): {'; '.join(parts)} in {folder}"


def sentence_spans(take: CleanTake, sentences: Sequence[Sentence]) -> tuple[tuple[int, int], ...]:
    """Where each sentence of a take is, as (start, end) sample offsets.

    The sentence boundaries are placed in the take's own pauses: of the gaps between its
    speech regions, the ones chosen are long (a sentence pause, not a stop consonant) and near
    where the text says a boundary falls (splitting the speech in proportion to each
    sentence's length). Without enough pauses the take is split in proportion to text length.
    """
    length = len(take.samples)
    n = len(sentences)
    if n <= 1:
        return ((0, length),)
    rate = take.sample_rate
    weights = np.array([max(len(s.printed.strip()), 1) for s in sentences], dtype=np.float64)
    regions = take.regions
    gaps = [
        (a.end, b.start)
        for a, b in zip(regions, regions[1:], strict=False)
        if b.start - a.end >= 0.12
    ]
    if len(gaps) >= n - 1:
        speech_start, speech_end = regions[0].start, regions[-1].end
        targets = (
            speech_start + (speech_end - speech_start) * np.cumsum(weights)[:-1] / weights.sum()
        )
        chosen = _choose_gaps(gaps, targets, (speech_end - speech_start) / n)
        cuts = [(int(round(g0 * rate)), int(round(g1 * rate))) for g0, g1 in chosen]
    else:
        bounds = np.round(length * np.cumsum(weights)[:-1] / weights.sum()).astype(int)
        cuts = [(int(b), int(b)) for b in bounds]
    starts = [0] + [end for _, end in cuts]
    ends = [start for start, _ in cuts] + [length]
    return tuple(zip(starts, ends, strict=True))


def _choose_gaps(
    gaps: Sequence[tuple[float, float]], targets: np.ndarray, sentence_length: float
) -> list[tuple[float, float]]:
    """Pick ``len(targets)`` gaps, in order, trading closeness to each target against gap
    length (a long pause is more likely a sentence end than a hesitation)."""
    k, g = len(targets), len(gaps)
    middles = np.array([(a + b) / 2 for a, b in gaps])
    lengths = np.array([b - a for a, b in gaps])
    spread = max(0.35 * sentence_length, 0.3)
    fit = ((middles[None, :] - targets[:, None]) / spread) ** 2 - 2.0 * np.log(lengths / 0.12)[
        None, :
    ]
    best = np.full((k, g), math.inf)
    back = np.full((k, g), -1, dtype=np.int64)
    best[0] = fit[0]
    for i in range(1, k):
        running, arg = math.inf, -1
        for j in range(g):
            if j >= 1 and best[i - 1, j - 1] < running:
                running, arg = best[i - 1, j - 1], j - 1
            if arg >= 0:
                best[i, j] = running + fit[i, j]
                back[i, j] = arg
    j = int(np.argmin(best[k - 1]))
    picked = [j]
    for i in range(k - 1, 0, -1):
        j = int(back[i, j])
        picked.append(j)
    return [gaps[j] for j in reversed(picked)]
