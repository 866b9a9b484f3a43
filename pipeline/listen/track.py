"""Listening to a built track: manifest + MP3 + script -> word error rate per track and sentence.

manifest, MP3 -> transcribe (cached) -> words by the manifest's times -> per segment:
normalise both sides, align with jiwer -> WER, flagged sentences, lexicon suggestions
-> ``out/<slug>/<slug>.<locale>.listen.json``

The reference is what a listener should hear: the script's text with its say-substitutions
(``[CFT](say: compassion focused therapy)``) but without lexicon respellings, which tell an
engine how to pronounce a written word and are not different words. It is rebuilt from the
script with the lexicon left out; the manifest's own ``spoken`` text (lexicon applied) only
checks that the track was built from the script as it is now.

Each heard word belongs to the speech segment its middle falls in, each segment's span
stretched halfway into the silences either side (recognisers place words a little early or
late; segments are always a pause apart). A segment's words are then aligned to its text.

A transcript is cached under ``out/.cache/listen/``, keyed by the MP3's digest, the model and
the reference text, so listening again to an unchanged track transcribes nothing.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pipeline.atomic import write_text_atomic
from pipeline.errors import PipelineError
from pipeline.listen.normalise import normalise, normalise_words
from pipeline.listen.recognise import (
    HeardWord,
    Recogniser,
    RecognitionModel,
    find_model,
    require_faster_whisper,
    words_from_json,
    words_to_json,
)
from pipeline.listen.suggest import Suggestion, lexicon_entries, suggest
from pipeline.model import Lexicon, Script
from pipeline.paths import file_digest
from pipeline.plan import plan_locale

log = logging.getLogger(__name__)

LISTEN_FORMAT = 1
#: Shortest written word worth a pronunciation suggestion ("and" heard as "an" is the
#: recogniser's slip far more often than the voice's).
SUGGEST_MIN_LETTERS = 4


class ListenError(PipelineError):
    """A track cannot be listened to: not built, or built from another version of its script."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class ListenOptions:
    root: Path
    out_dir: Path
    locales: tuple[str, ...] = ()  # empty: every locale the script declares
    model: str | None = None  # a model name or folder; default tiny.en
    flag_above: float = 0.0  # a sentence whose WER is above this is flagged
    cache_dir: Path | None = None  # default: <out_dir>/.cache/listen

    @property
    def transcript_cache(self) -> Path:
        return self.cache_dir or self.out_dir / ".cache" / "listen"


@dataclass(frozen=True)
class SentenceCheck:
    """One speech segment of a track: what it should say and what was heard."""

    id: str
    start: float
    end: float
    expected: str  # the reference: printed text with say-substitutions, no lexicon
    heard: str  # the words heard, as the recogniser wrote them
    wer: float
    words: int  # words in the normalised reference
    errors: int  # substitutions + deletions + insertions
    flagged: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "start": self.start,
            "end": self.end,
            "expected": self.expected,
            "heard": self.heard,
            "wer": round(self.wer, 4),
            "flagged": self.flagged,
        }


@dataclass(frozen=True)
class TrackCheck:
    slug: str
    locale: str
    model: str
    wer: float
    words: int
    sentences: tuple[SentenceCheck, ...]
    suggestions: tuple[Suggestion, ...]
    transcribed: bool  # False when the transcript came from the cache
    report: Path

    @property
    def flagged(self) -> tuple[SentenceCheck, ...]:
        return tuple(s for s in self.sentences if s.flagged)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": LISTEN_FORMAT,
            "model": self.model,
            "wer": round(self.wer, 4),
            "words": self.words,
            "sentences": [s.to_json() for s in self.sentences],
        }


@dataclass(frozen=True)
class _Segment:
    id: str
    start: float
    end: float
    reference: str


def listen(
    scripts: Sequence[Script],
    options: ListenOptions,
    recogniser: Recogniser | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[TrackCheck]:
    """Listen to every built track of ``scripts`` (each locale, or ``options.locales``).

    The model is loaded once, and only when some track has no cached transcript."""
    require_faster_whisper()
    model = recogniser.model if recogniser else find_model(options.model, options.root)
    loaded: list[Recogniser] = [recogniser] if recogniser else []

    def get_recogniser() -> Recogniser:
        if not loaded:
            loaded.append(Recogniser(model))
        return loaded[0]

    # Every track is looked at before any is heard: one not built stops the run early,
    # with nothing written.
    tracks = []
    for script in scripts:
        locales = script.meta.locales
        if options.locales:
            locales = tuple(loc for loc in locales if loc in options.locales)
        tracks += [_built_track(script, locale, options) for locale in locales]
    checks = []
    for track in tracks:
        if progress:
            progress(f"{track.script.slug} {track.locale}")
        checks.append(listen_track(track, options, model, get_recogniser))
    return checks


@dataclass(frozen=True)
class BuiltTrack:
    script: Script
    locale: str
    mp3: Path
    segments: tuple[_Segment, ...]

    @property
    def report(self) -> Path:
        return self.mp3.parent / f"{self.script.slug}.{self.locale}.listen.json"


def _built_track(script: Script, locale: str, options: ListenOptions) -> BuiltTrack:
    folder = options.out_dir / script.slug
    stem = f"{script.slug}.{locale}"
    manifest_path = folder / f"{stem}.json"
    manifest = _read_manifest(manifest_path, script)
    mp3 = folder / manifest.get("files", {}).get("mp3", f"{stem}.mp3")
    if not mp3.is_file():
        raise ListenError(f"{mp3} is missing", hint=f"voicetrack build {script.path}")
    segments = _segments(script, locale, manifest, manifest_path)
    return BuiltTrack(script, locale, mp3, tuple(segments))


def listen_track(
    track: BuiltTrack,
    options: ListenOptions,
    model: RecognitionModel,
    get_recogniser: Callable[[], Recogniser],
) -> TrackCheck:
    """Check one built track and write its ``.listen.json``."""
    script, locale, mp3, segments = track.script, track.locale, track.mp3, track.segments
    key = _transcript_key(mp3, model, segments)
    cached = options.transcript_cache / f"{key}.json"
    words = _cached_words(cached)
    transcribed = words is None
    if words is None:
        log.info("transcribing %s with %s", mp3, model.name)
        words = get_recogniser().transcribe(mp3, language=locale.split("-")[0])
        cached.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(cached, json.dumps({"words": words_to_json(words)}) + "\n")

    entries = lexicon_entries(options.root / script.path, options.root, locale)
    sentences: list[SentenceCheck] = []
    suggestions: list[Suggestion] = []
    for segment, heard in zip(segments, _words_by_segment(words, segments), strict=True):
        check, pairs = _check_segment(segment, heard, options.flag_above)
        sentences.append(check)
        if not check.flagged:
            continue
        for written, said in pairs:
            if len(written) >= SUGGEST_MIN_LETTERS or written in entries:
                suggestions.append(
                    suggest(
                        segment.id,
                        written,
                        said,
                        script=options.root / script.path,
                        root=options.root,
                        locale=locale,
                        entries=entries,
                    )
                )
    total = sum(s.words for s in sentences)
    errors = sum(s.errors for s in sentences)
    result = TrackCheck(
        slug=script.slug,
        locale=locale,
        model=model.name,
        wer=errors / total if total else 0.0,
        words=total,
        sentences=tuple(sentences),
        suggestions=tuple(suggestions),
        transcribed=transcribed,
        report=track.report,
    )
    text = json.dumps(result.to_json(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    write_text_atomic(result.report, text)
    return result


def reference_plan_texts(script: Script, locale: str) -> dict[str, str]:
    """What a listener should hear in each segment: say-substitutions, no lexicon."""
    plan = plan_locale(replace(script, lexicon=Lexicon()), locale)
    return {segment.id: segment.spoken for segment in plan.speech}


def _read_manifest(path: Path, script: Script) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ListenError(
            f"{script.path} has not been built: there is no {path}",
            hint=f"voicetrack build {script.path}",
        ) from None
    except (OSError, ValueError) as exc:
        raise ListenError(f"cannot read {path}: {exc}", hint="build the track again") from exc
    if not isinstance(data, dict):
        raise ListenError(f"{path} is not a manifest", hint="build the track again")
    return data


def _segments(
    script: Script, locale: str, manifest: dict[str, Any], manifest_path: Path
) -> list[_Segment]:
    """The track's speech segments with their times and reference text; refuses a track
    built from another version of the script (its spoken text differs)."""
    built = [s for s in manifest.get("segments", ()) if s.get("kind") == "speech"]
    current = {s.id: s.spoken for s in plan_locale(script, locale).speech}
    if [s.get("id") for s in built] != list(current) or any(
        s.get("spoken") != current[s["id"]] for s in built
    ):
        raise ListenError(
            f"{manifest_path} was built from an earlier version of {script.path}",
            hint=f"voicetrack build {script.path}",
        )
    reference = reference_plan_texts(script, locale)
    return [
        _Segment(s["id"], float(s["start"]), float(s["end"]), reference[s["id"]]) for s in built
    ]


def _transcript_key(mp3: Path, model: RecognitionModel, segments: Sequence[_Segment]) -> str:
    parts = {
        "format": LISTEN_FORMAT,
        "mp3": file_digest(mp3),
        "model": model.identity(),
        "reference": [[s.id, s.reference] for s in segments],
    }
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


def _cached_words(path: Path) -> tuple[HeardWord, ...] | None:
    try:
        return words_from_json(json.loads(path.read_text(encoding="utf-8"))["words"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _words_by_segment(
    words: Sequence[HeardWord], segments: Sequence[_Segment]
) -> list[list[HeardWord]]:
    """Each word goes to the segment whose span, stretched halfway to its neighbours,
    holds the word's middle; except that a word the whole-track alignment matches exactly
    to a word of the neighbouring segment goes there (a recogniser's times can be a few
    hundred milliseconds off, which matters where a script has ``[pause 0s]``)."""
    bounds = [(a.end + b.start) / 2 for a, b in zip(segments, segments[1:], strict=False)]
    owner = [bisect.bisect_right(bounds, word.middle) for word in words]
    for k, matched in _matched_segments(words, segments).items():
        if abs(matched - owner[k]) == 1:
            owner[k] = matched
    buckets: list[list[HeardWord]] = [[] for _ in segments]
    for word, k in zip(words, owner, strict=True):
        buckets[k].append(word)
    return buckets


def _matched_segments(words: Sequence[HeardWord], segments: Sequence[_Segment]) -> dict[int, int]:
    """Heard word index -> the segment of the script word jiwer aligns it with exactly."""
    import jiwer

    script = [(j, w) for j, s in enumerate(segments) for w in normalise_words(s.reference)]
    heard = [(k, w) for k, word in enumerate(words) for w in normalise_words(word.text)]
    if not script or not heard:
        return {}
    out = jiwer.process_words(" ".join(w for _, w in script), " ".join(w for _, w in heard))
    matched: dict[int, int] = {}
    for chunk in out.alignments[0]:
        if chunk.type == "equal":
            for offset in range(chunk.ref_end_idx - chunk.ref_start_idx):
                k = heard[chunk.hyp_start_idx + offset][0]
                matched.setdefault(k, script[chunk.ref_start_idx + offset][0])
    return matched


def _check_segment(
    segment: _Segment, heard: Sequence[HeardWord], flag_above: float
) -> tuple[SentenceCheck, list[tuple[str, str]]]:
    """The segment's WER and the (written, heard) word pairs the alignment substituted."""
    import jiwer

    heard_text = " ".join(w.text for w in heard)
    reference, hypothesis = normalise(segment.reference), normalise(heard_text)
    pairs: list[tuple[str, str]] = []
    if reference:
        out = jiwer.process_words(reference, hypothesis)
        words = len(out.references[0])
        errors = out.substitutions + out.deletions + out.insertions
        pairs = _misheard(out.alignments[0], out.references[0], out.hypotheses[0])
    else:  # nothing to say (a segment of symbols alone): every word heard is an error
        words, errors = 0, len(hypothesis.split())
    wer = errors / words if words else float(errors > 0)
    check = SentenceCheck(
        id=segment.id,
        start=segment.start,
        end=segment.end,
        expected=segment.reference,
        heard=heard_text,
        wer=wer,
        words=words,
        errors=errors,
        flagged=wer > flag_above,
    )
    return check, pairs


def _misheard(chunks: Sequence[Any], written: list[str], said: list[str]) -> list[tuple[str, str]]:
    """(written word, what was heard in its place) for each run of the alignment that
    differs and has words on both sides: a word heard as two ("kinder" as "kind or") is one
    run of a substitution and an insertion."""
    pairs: list[tuple[str, str]] = []
    run: list[Any] = []
    for chunk in [*chunks, None]:
        if chunk is not None and chunk.type != "equal":
            run.append(chunk)
            continue
        if run:
            ref = written[run[0].ref_start_idx : run[-1].ref_end_idx]
            hyp = said[run[0].hyp_start_idx : run[-1].hyp_end_idx]
            if ref and hyp:
                pairs += [(word, " ".join(hyp)) for word in ref]
            run = []
    return pairs


def format_report(check: TrackCheck) -> list[str]:
    """The flagged sentences of a track, heard against meant, and the suggestions."""
    lines = []
    for sentence in check.flagged:
        lines.append(
            f"  ! {sentence.id} at {_clock(sentence.start)}: {sentence.wer:.0%} of "
            f"{sentence.words} words wrong"
        )
        lines.append(f"      expected: {sentence.expected}")
        lines.append(f"      heard:    {sentence.heard or '(nothing)'}")
    lines += [f"  suggestion: {s}" for s in check.suggestions]
    return lines


def _clock(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60.0)
    return f"{int(minutes)}:{rest:05.2f}"
