"""The build: scripts -> finished tracks, one (script, locale) pair at a time.

Every script is parsed and planned before anything is rendered, so an invalid script stops
the build with nothing written. Each track then runs plan -> synth -> assemble -> mix ->
master and encode -> publish (:func:`build_track`; docs/architecture.md has the stages).
Outputs are written to temporary files and renamed into place, the manifest last: a
manifest therefore always describes complete files, and its ``build_key`` tells a later
build whether anything that shapes the track has changed. An unchanged track is not
touched at all.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pipeline import __version__
from pipeline.assemble import assemble
from pipeline.cache import SentenceCache
from pipeline.check import VoiceProfiles, same_slug_errors, voice_errors
from pipeline.engines.base import Engine, load_engine
from pipeline.errors import OptionError, ScriptError
from pipeline.images import image_type
from pipeline.locales import canonical_locale
from pipeline.manifest import Filled, Manifest, Mastering
from pipeline.mastering import PreviousMp3, write_mastered_mp3
from pipeline.mix import load_sounds, mix, sound_files, stem_names, write_stems
from pipeline.model import (
    SAMPLE_RATE,
    LocalePlan,
    Loudness,
    ResolvedVoice,
    Script,
    SpeechSegment,
    Timeline,
    TrackTags,
    TrackTimes,
)
from pipeline.outputs import outputs_intact, record_outputs, remove_stale_temporaries
from pipeline.parse import load_script
from pipeline.paths import file_digest, require_inside
from pipeline.pdf import write_pdf
from pipeline.pieces import PieceMap
from pipeline.plan import plan_locale
from pipeline.publish import track_manifest, write_vtt
from pipeline.spool import Spool
from pipeline.synth import render_segments, render_speech, sentence_count
from pipeline.voices import resolve_voice, role_problem

log = logging.getLogger(__name__)

#: Bump when a change to assembly, mastering or encoding should re-render every track.
RENDER_FORMAT = 1

#: Progress callback: (track label, event, count) with event "start" (count = sentences in
#: the track), "sentence" (synthesised) or "cached" (taken from the cache).
Progress = Callable[[str, str, int], None]


@dataclass(frozen=True)
class BuildOptions:
    root: Path
    out_dir: Path
    locales: tuple[str, ...] = ()  # empty: every locale the script declares
    voice: str | None = None  # a role that overrides the scripts' own
    fill_missing: str | None = None  # a role that speaks segments a takes voice lacks
    force: bool = False
    jobs: int = 1
    cache_dir: Path | None = None  # default: <out_dir>/.cache
    stems: bool = False  # also write the voice and bed stems as FLAC

    @property
    def sentence_cache_dir(self) -> Path:
        return self.cache_dir or self.out_dir / ".cache" / "sentences"

    @property
    def pieces_dir(self) -> Path:
        """Where each track's piece map is kept (it describes a file in ``out_dir``)."""
        return self.out_dir / ".cache" / "pieces"


@dataclass(frozen=True)
class TrackJob:
    """One track to build: a parsed script (parsed once, before anything is rendered) and
    one of its locales."""

    script: Script
    locale: str

    @property
    def slug(self) -> str:
        return self.script.slug

    @property
    def label(self) -> str:
        return f"{self.slug} {self.locale}"


@dataclass(frozen=True)
class TrackResult:
    job: TrackJob
    voice: ResolvedVoice
    duration: float
    loudness: Loudness
    synthesised: int
    cached: int
    seconds: float
    up_to_date: bool
    files: dict[str, str] = field(default_factory=dict)
    fallback_hint: str | None = None
    filled: tuple[str, ...] = ()  # segments of a takes voice spoken by the fill-missing role


def load_scripts(paths: Iterable[Path], root: Path) -> list[Script]:
    """Parse every script, raising one ScriptError with the problems of all of them."""
    from pipeline.errors import ScriptError, SourceError

    scripts: list[Script] = []
    errors: list[SourceError] = []
    for path in paths:
        try:
            scripts.append(load_script(path, root))
        except ScriptError as exc:
            errors.extend(exc.errors)
    errors.extend(same_slug_errors([(script.path, script.slug) for script in scripts]))
    if errors:
        raise ScriptError(errors)
    return scripts


def plan_jobs(scripts: Sequence[Script], options: BuildOptions) -> list[TrackJob]:
    """A job per script and locale: the script's locales, or those of ``options.locales``
    it has. A locale asked for that no script has is an error."""
    wanted = tuple(canonical_locale(loc) or loc for loc in options.locales)
    have = sorted({loc for script in scripts for loc in script.meta.locales})
    for locale in wanted:
        if locale not in have:
            raise OptionError(
                f"--locale {locale}: no script has this locale (the scripts have {', '.join(have)})"
            )
    jobs = []
    for script in scripts:
        locales = script.meta.locales
        if wanted:
            locales = tuple(loc for loc in locales if loc in wanted)
        for locale in locales:
            jobs.append(TrackJob(script, locale))
    return jobs


def build(
    paths: Sequence[Path], options: BuildOptions, progress: Progress | None = None
) -> list[TrackResult]:
    """Validate every script, then render each (script, locale) track."""
    scripts = load_scripts(paths, options.root)
    jobs = plan_jobs(scripts, options)
    check_voices(scripts, jobs, options)
    check_outputs(jobs, options, cache=True)
    SentenceCache(options.sentence_cache_dir).remove_stale_temporaries()
    if options.jobs <= 1 or len(jobs) <= 1:
        return [build_track(job, options, progress) for job in jobs]
    return _build_parallel(jobs, options, progress)


def check_outputs(jobs: Sequence[TrackJob], options: BuildOptions, cache: bool = False) -> None:
    """The folders a build writes (``--out``, each track's ``out/<slug>/`` and, with
    ``cache``, the sentence cache) lead nowhere outside the project root."""
    folders = [options.out_dir, *dict.fromkeys(options.out_dir / job.slug for job in jobs)]
    for folder in [*folders, options.sentence_cache_dir] if cache else folders:
        require_inside(options.root, folder)


def check_voices(
    scripts: Sequence[Script], jobs: Sequence[TrackJob], options: BuildOptions
) -> None:
    """Every track's voice role exists and speaks its locale, before anything is rendered:
    a script's ``voice:`` is reported at its line, a role given as an option by name."""
    voices = VoiceProfiles.read(options.root)
    errors = list(voices.errors)
    for script in scripts:
        locales = [job.locale for job in jobs if job.slug == script.slug]
        if options.voice is None:
            errors += voice_errors(script, voices, locales)
    if errors:
        raise ScriptError(errors)
    for option, role in (("--voice", options.voice), ("--fill-missing", options.fill_missing)):
        for locale in dict.fromkeys(job.locale for job in jobs):
            problem = role and role_problem(voices.profiles, role, locale, voices.errors)
            if problem:
                raise OptionError(f"{option} {role}: {problem}")


def _build_parallel(
    jobs: Sequence[TrackJob], options: BuildOptions, progress: Progress | None
) -> list[TrackResult]:
    """Tracks rendered by worker processes. Their progress events and log records come back
    over one queue, so the parent shows both in order, above its progress bars.

    The workers end with the parent (:mod:`pipeline.lifetime`): if it is killed, or stopped
    by Ctrl-C, SIGTERM or a failure of its own, no worker goes on rendering for no one.
    """
    import multiprocessing

    context = multiprocessing.get_context()
    if context.get_start_method() == "fork":
        # What every worker would import for itself, imported once here and shared.
        import scipy.ndimage  # noqa: F401
        import scipy.signal  # noqa: F401
    level = logging.getLogger("pipeline").getEffectiveLevel()
    # A plain queue, handed to each worker as it starts: no manager process to outlive us.
    queue = context.Queue()
    pool = ProcessPoolExecutor(
        max_workers=options.jobs,
        mp_context=context,
        initializer=_worker_start,
        initargs=(queue, level),
    )
    try:
        futures = [pool.submit(_build_track_queued, job, options) for job in jobs]
        pending = set(futures)
        ended = 0
        while pending:
            ended += _drain(queue, progress, timeout=0.1)
            pending = {f for f in pending if not f.done()}
        # A worker's events travel apart from its results: wait for each task's last one.
        deadline = time.monotonic() + 5
        while ended < len(futures) and time.monotonic() < deadline:
            ended += _drain(queue, progress, timeout=0.1)
        results = [f.result() for f in futures]
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        _stop_workers()
        raise
    pool.shutdown()
    queue.close()
    return results


def _stop_workers() -> None:
    """SIGTERM every worker still running (each removes its temporary files) and wait for
    them to go."""
    import multiprocessing

    children = multiprocessing.active_children()
    for child in children:
        child.terminate()
    for child in children:
        child.join(timeout=10)
        if child.is_alive():
            child.kill()


def _worker_start(queue: Any, level: int) -> None:
    """In a worker, as it starts: end with the parent, and report through ``queue``."""
    from pipeline.lifetime import end_with_parent

    global _progress_queue
    end_with_parent()
    _progress_queue = queue
    _worker_logging(queue, level)


def _worker_logging(queue: Any, level: int) -> None:
    """In a worker: send the pipeline's log records to the parent instead of printing them.

    A forked worker inherits the parent's handlers, which would write to the terminal from
    behind the parent's progress display; they are replaced by one that queues records.
    """
    from logging.handlers import QueueHandler

    logger = logging.getLogger("pipeline")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.addHandler(QueueHandler(queue))
    logger.setLevel(level)
    logger.propagate = False


def _drain(queue: Any, progress: Progress | None, timeout: float) -> int:
    """Show the events waiting on ``queue``; return how many tasks ended among them."""
    import queue as queue_module

    ended = 0
    while True:
        try:
            event = queue.get(timeout=timeout) if timeout else queue.get_nowait()
        except queue_module.Empty:
            return ended
        if event == _TASK_END:
            ended += 1
        elif isinstance(event, logging.LogRecord):
            logging.getLogger(event.name).handle(event)
        elif progress is not None:
            progress(*event)


#: In a worker: where its progress events go (set by :func:`_worker_start`).
_progress_queue: Any = None
#: The last event of every task, after its log records and progress.
_TASK_END = ("", "end", 0)


def _build_track_queued(job: TrackJob, options: BuildOptions) -> TrackResult:
    from pipeline.lifetime import run_task

    queue = _progress_queue
    try:
        return run_task(build_track, job, options, lambda *event: queue.put(event))
    finally:
        queue.put(_TASK_END)


_engines: dict[tuple[str, str], Engine] = {}


def engine_for(voice: ResolvedVoice, root: Path) -> Engine:
    """Engines load once per process and serve every track that uses the same voice."""
    key = (repr(voice.spec), str(root))
    if key not in _engines:
        _engines[key] = load_engine(voice.spec, root)
    return _engines[key]


@dataclass(frozen=True)
class TrackVoices:
    """The voice that speaks a track, its engine, and the voice that speaks what a recording
    voice lacks (with ``--fill-missing``)."""

    voice: ResolvedVoice
    engine: Engine
    fill: tuple[ResolvedVoice, Engine] | None = None


def track_voices(script: Script, locale: str, options: BuildOptions) -> TrackVoices:
    role = options.voice or script.meta.voice
    voice = resolve_voice(role, locale, options.root)
    engine = engine_for(voice, options.root)
    fill = None
    if engine.records_segments and options.fill_missing:
        fill_voice = resolve_voice(options.fill_missing, locale, options.root)
        fill = (fill_voice, engine_for(fill_voice, options.root))
    return TrackVoices(voice, engine, fill)


def build_track(
    job: TrackJob, options: BuildOptions, progress: Progress | None = None
) -> TrackResult:
    """One track, stage by stage: plan -> synth -> assemble -> master and encode -> publish.
    A track whose build key and files are as the last build left them is not touched."""
    started = time.perf_counter()
    script = job.script
    plan = plan_locale(script, job.locale)
    voices = track_voices(script, job.locale, options)
    out = options.out_dir / script.slug
    stem = f"{script.slug}.{job.locale}"
    files = {kind: f"{stem}.{kind}" for kind in ("mp3", "vtt", "pdf")}
    if options.stems:
        files |= {f"{name}.flac": f"{stem}.{name}.flac" for name in stem_names(plan)}
    manifest_path = out / f"{stem}.json"
    sound_digests = {
        role: file_digest(path) for role, path in sound_files(plan, options.root).items()
    }
    key = build_key(plan, voices, options.root, sound_digests, options.stems)
    remove_stale_temporaries(out)
    total = sentence_count(plan)
    if progress:
        progress(job.label, "start", total)

    # --force builds from scratch: not even the last master's gain is reused.
    previous = None if options.force else Manifest.read(manifest_path)
    if (
        previous is not None
        and previous.build_key == key
        and outputs_intact(out, manifest_path, previous.outputs)
    ):
        if progress:
            progress(job.label, "cached", total)
        return _result(job, voices, previous, files, started, cached=total)

    cache = SentenceCache(options.sentence_cache_dir, enabled=not options.force)

    def sentence_done(from_cache: bool) -> None:
        if progress:
            progress(job.label, "cached" if from_cache else "sentence", 1)

    # Rendered speech waits on disk until mastering reads it, a block at a time.
    with Spool(_spool_dir(options)) as spool:
        speech = render_speech(
            plan,
            voices.engine,
            cache,
            sentence_done,
            spool,
            role=voices.voice.role,
            fill=voices.fill[1] if voices.fill else None,
        )
        sounds = load_sounds(plan, options.root)
        voice_track, timeline = assemble(plan, speech.segments, sounds.bell)
        track = mix(voice_track, timeline, plan, sounds)
        out.mkdir(parents=True, exist_ok=True)
        if options.stems:
            write_stems(track, out, stem)
        hint = previous.mastering.hint if previous and previous.mastering else None
        # The last build's pieces: what has not changed keeps its frames.
        pieces_path = options.pieces_dir / f"{stem}.json"
        piece_map = None if options.force else PieceMap.read(pieces_path)
        encoded = write_mastered_mp3(
            track,
            SAMPLE_RATE,
            out / files["mp3"],
            track_tags(script, job.locale, options.root),
            timeline.chapters,
            target_lufs=script.meta.loudness,
            hint=hint,
            previous=PreviousMp3(out / files["mp3"], piece_map) if piece_map else None,
        )
        if encoded.pieces is not None:
            encoded.pieces.write(pieces_path)
        else:
            pieces_path.unlink(missing_ok=True)
    write_vtt(timeline, out / files["vtt"])
    write_pdf(plan, measured_times(timeline), out / files["pdf"])
    manifest = track_manifest(
        plan,
        timeline,
        voices.voice,
        encoded.loudness,
        files,
        script.path,
        # What the manifest belongs with: a later build rebuilds a track whose files differ.
        build_key=key,
        outputs=record_outputs(out, files.values()),
        # Where this master landed, for the next build to start from; and what it took.
        mastering=(
            Mastering(encoded.hint, encoded.master.passes, encoded.attempts)
            if encoded.hint is not None
            else None
        ),
        voice_hint=voices.voice.hint if voices.voice.fallback else None,
        filled=_filled(voices, speech.filled),
        bed={"file": plan.meta.bed, "digest": sound_digests["bed"]} if plan.meta.bed else None,
    )
    manifest.write(manifest_path)
    result = _result(job, voices, manifest, files, started, cached=speech.stats.cached)
    return replace(result, synthesised=speech.stats.synthesised, up_to_date=False)


def _filled(voices: TrackVoices, segments: tuple[str, ...]) -> Filled | None:
    if not segments or voices.fill is None:
        return None
    spec = voices.fill[0].spec
    return Filled(voices.fill[0].role, spec.engine, spec.model or spec.model_path, segments)


def _result(
    job: TrackJob,
    voices: TrackVoices,
    manifest: Manifest,
    files: dict[str, str],
    started: float,
    cached: int,
) -> TrackResult:
    """A track's result as its manifest records it (up to date unless replaced)."""
    return TrackResult(
        job=job,
        voice=voices.voice,
        duration=manifest.duration,
        loudness=manifest.loudness,
        synthesised=0,
        cached=cached,
        seconds=time.perf_counter() - started,
        up_to_date=True,
        files=files,
        fallback_hint=voices.voice.hint if voices.voice.fallback else None,
        filled=manifest.filled.segments if manifest.filled else (),
    )


def _spool_dir(options: BuildOptions) -> Path:
    """Where rendered speech is spooled: beside the outputs, on the disk that holds them
    (the system's temporary folder may be memory-backed)."""
    options.out_dir.mkdir(parents=True, exist_ok=True)
    return options.out_dir


@dataclass(frozen=True)
class PdfOutcome:
    path: Path
    kept: bool  # True: a built track's PDF, with measured times, was left as it is


def write_pdfs(paths: Sequence[Path], options: BuildOptions) -> list[PdfOutcome]:
    """The audio-script PDFs alone, without synthesis: times are estimated and marked so.

    A PDF that a build wrote (its track's manifest records it, and it is still that file)
    has measured times, and is kept: ``voicetrack build`` is what updates it.
    """
    from pipeline.estimate import estimate_times

    scripts = load_scripts(paths, options.root)
    outcomes = []
    jobs = plan_jobs(scripts, options)
    check_outputs(jobs, options)
    for job in jobs:
        script = job.script
        folder = options.out_dir / script.slug
        stem = f"{script.slug}.{job.locale}"
        path = folder / f"{stem}.pdf"
        if _built_pdf(folder, folder / f"{stem}.json", path.name):
            outcomes.append(PdfOutcome(path, kept=True))
            continue
        plan = plan_locale(script, job.locale)
        folder.mkdir(parents=True, exist_ok=True)
        write_pdf(plan, estimate_times(plan), path)
        outcomes.append(PdfOutcome(path, kept=False))
    return outcomes


def _built_pdf(folder: Path, manifest_path: Path, name: str) -> bool:
    """True when ``name`` in ``folder`` is the PDF that the track's last build wrote."""
    previous = Manifest.read(manifest_path)
    recorded = previous.outputs if previous is not None else None
    if recorded is None or name not in recorded:
        return False
    return outputs_intact(folder, manifest_path, {name: recorded[name]})


def write_recording_sheet(
    plan: LocalePlan,
    role: str,
    *,
    root: Path,
    out_dir: Path | None = None,
    guide_voice: str | None = None,
    cache_dir: Path | None = None,
) -> list[Path]:
    """A reader's recording sheet for ``role`` (the audio script with segment IDs and the
    spoken form wherever it differs from the print) and, with ``guide_voice``, a guide track
    of that voice reading the script with its exact pauses, to read along with."""
    from pipeline.estimate import estimate_times
    from pipeline.takes import takes_dir_for

    folder = out_dir or takes_dir_for(root, role, plan.locale) / plan.script.slug
    require_inside(root, folder)
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{plan.script.slug}.{plan.locale}"
    written = []
    times = estimate_times(plan)
    if guide_voice:
        voice = resolve_voice(guide_voice, plan.locale, root)
        engine = engine_for(voice, root)
        cache = SentenceCache(
            require_inside(root, cache_dir or root / "out" / ".cache" / "sentences")
        )
        rendered, _ = render_segments(plan, engine, cache)
        track, timeline = assemble(plan, rendered)
        guide = folder / f"{stem}.guide.mp3"
        tags = replace(
            track_tags(plan.script, plan.locale, root), title=f"{plan.meta.title} (guide)"
        )
        write_mastered_mp3(
            track, SAMPLE_RATE, guide, tags, timeline.chapters, target_lufs=plan.meta.loudness
        )
        written.append(guide)
        times = measured_times(timeline)
    sheet = folder / f"{stem}.sheet.pdf"
    write_pdf(plan, times, sheet, segment_ids=True, show_spoken=True)
    written.insert(0, sheet)
    return written


def track_tags(script: Script, locale: str, root: Path) -> TrackTags:
    meta = script.meta
    cover = cover_mime = None
    if meta.cover:
        cover_path = (root / script.path).parent / meta.cover
        cover = cover_path.read_bytes()
        cover_mime = image_type(cover)  # from the bytes, whatever the file's name says
    return TrackTags(
        title=meta.title,
        album=meta.collection,
        track=meta.track,
        artist=meta.author,
        language=locale,
        comment=meta.description,
        cover=cover,
        cover_mime=cover_mime,
    )


def measured_times(timeline: Timeline) -> TrackTimes:
    rate = timeline.sample_rate
    section_starts: dict[int, float] = {}
    segment_starts = []
    for timed in timeline.items:
        if isinstance(timed.item, SpeechSegment):
            section_starts.setdefault(timed.item.section, timed.start / rate)
            segment_starts.append((timed.item.id, timed.start / rate))
    return TrackTimes(
        duration=timeline.length / rate,
        section_starts=tuple(sorted(section_starts.items())),
        segment_starts=tuple(segment_starts),
        approximate=False,
    )


def build_key(
    plan: LocalePlan,
    voices: TrackVoices,
    root: Path,
    sound_digests: dict[str, str] | None = None,
    stems: bool = False,
) -> str:
    """A digest of everything that shapes a track's files. Plans are frozen dataclasses, so
    their repr is a complete, stable description of the timeline and its text."""
    meta = plan.meta
    cover_digest = ""
    if meta.cover:
        cover_path = (root / plan.script.path).parent / meta.cover
        cover_digest = hashlib.sha256(cover_path.read_bytes()).hexdigest()
    fill = voices.fill
    parts = {
        "voicetrack": __version__,
        "render_format": RENDER_FORMAT,
        # The page's tags and text do not shape the audio: editing them re-renders nothing.
        "meta": repr(replace(meta, techniques=(), about=None)),
        "locale": plan.locale,
        "sections": repr(plan.sections),
        "items": repr(plan.items),
        "voice": repr(voices.voice.spec),
        "engine": voices.engine.identity(),
        "cover": cover_digest,
        "fill": [repr(fill[0].spec), fill[1].identity()] if fill else None,
        # Replacing a bell or bed file rebuilds the tracks that use it, and only those.
        "sounds": sound_digests or {},
        "stems": stems,
    }
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()
