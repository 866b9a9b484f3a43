"""Benchmark the build on the sample scripts, in both locales.

Run by hand, not by the tests:

    .venv/bin/python bench/build_bench.py [--scripts scripts_src] [--voice narrator]

It copies the scripts and voice profiles into a temporary project, then measures:

- cold build (empty cache), and the raw engine time for the same sentences called directly,
  whose ratio is the pipeline's overhead;
- a rebuild with nothing changed;
- a rebuild after one sentence is edited: the first of the first script, then one in its
  middle, then its last (an edit re-encodes what it moves: everything after it);
- peak resident memory, and seconds of audio rendered per second of wall time.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.build import BuildOptions, build, engine_for, load_scripts  # noqa: E402
from pipeline.check import find_scripts  # noqa: E402
from pipeline.model import SAMPLE_RATE  # noqa: E402
from pipeline.plan import plan_locale  # noqa: E402
from pipeline.voices import resolve_voice  # noqa: E402


def cpu_seconds() -> float:
    """CPU time of this process and of every child it has waited for (workers, ffmpeg)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(fn):
    """fn() -> (result, wall seconds, CPU seconds)."""
    started, cpu = time.perf_counter(), cpu_seconds()
    result = fn()
    return result, time.perf_counter() - started, cpu_seconds() - cpu


def encode_seconds(audio: Iterable[bytes]) -> float:
    """CPU seconds of one encode at the shipped settings of each of ``audio`` (float32
    samples at 44.1 kHz), encoded one after another."""
    import subprocess

    from pipeline.encode import encoder_command

    total = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for samples in audio:
            command = encoder_command(SAMPLE_RATE, Path(tmp) / "encoded.mp3")
            before = cpu_seconds()
            subprocess.run(command, input=samples, check=True)
            total += cpu_seconds() - before
    return total


def decoded_tracks(tracks: list[Path]) -> Iterator[bytes]:
    """Each built track's audio, decoded."""
    from pipeline.ffmpeg import decode_file

    for track in tracks:
        yield decode_file(track).tobytes()


def decoded_speech(project: Path, slug: str) -> Iterator[bytes]:
    """The pieces of each of ``slug``'s built tracks, decoded: what an edit at the very start
    of the script must encode again (the samples after it all move)."""
    from pipeline.encode import encoder_frame_format
    from pipeline.ffmpeg import decode_file
    from pipeline.mp3frames import DECODER_DELAY
    from pipeline.pieces import PieceMap

    delay = encoder_frame_format()[1] + DECODER_DELAY
    for mp3 in sorted((project / "out" / slug).glob("*.mp3")):
        pieces = PieceMap.read(project / "out" / ".cache" / "pieces" / f"{mp3.stem}.json")
        if pieces is None:
            continue
        decoded = decode_file(mp3)
        yield b"".join(
            decoded[max(p.piece.start - delay, 0) : p.piece.stop - delay].tobytes()
            for p in pieces.pieces
        )


def raw_engine_seconds(project: Path, voice: str | None) -> tuple[float, int]:
    """CPU seconds of each engine called directly on every sentence the build speaks (no
    cache, no assembly), in this process."""
    scripts = load_scripts(find_scripts([project / "scripts_src"]), project)
    total = 0.0
    sentences = 0
    # The engines are loaded first: loading a model is not synthesis.
    for script in scripts:
        for locale in script.meta.locales:
            engine_for(resolve_voice(voice or script.meta.voice, locale, project), project)
    for script in scripts:
        for locale in script.meta.locales:
            plan = plan_locale(script, locale)
            resolved = resolve_voice(voice or script.meta.voice, locale, project)
            engine = engine_for(resolved, project)
            speed = resolved.spec.speed * script.meta.rate
            for segment in plan.speech:
                for sentence in segment.sentences:
                    started = time.process_time()
                    engine.synthesize(sentence.spoken, speed)
                    total += time.process_time() - started
                    sentences += 1
    return total, sentences


def edit_one_sentence(project: Path, where: str = "first") -> str:
    """Reword one sentence of the first script (one that is written out whole on one line),
    as a content editor would: the first such sentence, the middle one or the last."""
    script = find_scripts([project / "scripts_src"])[0]
    text = script.read_text(encoding="utf-8")
    plan = plan_locale(load_scripts([script], project)[0], "en-GB")
    candidates = [
        sentence.printed
        for segment in plan.speech
        for sentence in segment.sentences
        if len(sentence.printed.rstrip(".").split()) > 4
        and text.count(sentence.printed) == 1
        and sentence.printed.endswith(".")
    ]
    if not candidates:
        raise SystemExit("no sentence to edit")
    chosen = {"first": 0, "middle": len(candidates) // 2, "last": len(candidates) - 1}[where]
    printed = candidates[chosen]
    edited = printed[:-1] + ", gently."
    script.write_text(text.replace(printed, edited), encoding="utf-8")
    return f"{script.name}: {edited!r}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scripts", type=Path, default=ROOT / "scripts_src")
    parser.add_argument("--voice", default=None, help="voice role for every script")
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="voicetrack-bench-") as tmp:
        project = Path(tmp)
        shutil.copytree(args.scripts, project / "scripts_src")
        if (ROOT / "voices").is_dir():
            shutil.copytree(ROOT / "voices", project / "voices")
        options = BuildOptions(
            root=project, out_dir=project / "out", voice=args.voice, jobs=args.jobs
        )
        paths = find_scripts([project / "scripts_src"])

        cold, cold_s, cold_cpu = timed(lambda: build(paths, options))
        # The workers' peak (with --jobs the tracks render in them), or this process's.
        build_mb = (
            resource.getrusage(
                resource.RUSAGE_CHILDREN if args.jobs > 1 else resource.RUSAGE_SELF
            ).ru_maxrss
            / 1024
        )
        audio_s = sum(r.duration for r in cold)
        raw_s, sentences = raw_engine_seconds(project, args.voice)
        mp3s = [project / "out" / r.job.slug / r.files["mp3"] for r in cold]
        encode_s = encode_seconds(decoded_tracks(mp3s))
        floor_s = encode_seconds(decoded_speech(project, cold[0].job.slug))
        _, again_s, _ = timed(lambda: build(paths, options))
        edits = []
        for where in ("first", "middle", "last"):
            edited = edit_one_sentence(project, where)
            edit, edit_s, edit_cpu = timed(lambda: build(paths, options))
            edits.append((where, edited, edit, edit_s, edit_cpu))
        print(f"tracks: {len(cold)}  sentences: {sentences}  audio: {audio_s / 60:.1f} min")
        for r in cold:
            stem = f"{r.job.slug}.{r.job.locale}.json"
            data = json.loads((project / "out" / r.job.slug / stem).read_text())
            took = data.get("mastering", {})
            print(
                f"  {r.job.label:40} {r.voice.spec.label:24} {r.duration:7.1f} s  "
                f"{took.get('encodes', '?')} encode(s)"
            )
        budget = raw_s + encode_s
        print(f"cold build:               {cold_s:8.2f} s wall, {cold_cpu:8.2f} s CPU")
        print(f"raw engine CPU:           {raw_s:8.2f} s")
        print(f"one encode of each track: {encode_s:8.2f} s CPU")
        print(f"cold CPU / (engine + encode): {cold_cpu / budget:5.2f} x  (at most 2)")
        print(f"no-change rebuild:        {again_s:8.2f} s wall  (at most 0.3)")
        print(
            f"an edit at the start of {cold[0].job.slug} encodes all its speech again: "
            f"{floor_s:.2f} s CPU for the encoder alone, {floor_s / cold_cpu:.1%} of the cold build"
        )
        for where, edited, edit, edit_s, edit_cpu in edits:
            resynth = sum(r.synthesised for r in edit)
            print(f"one-sentence edit, the {where} ({edited}):")
            print(
                f"  {edit_s:.2f} s wall, {edit_cpu:.2f} s CPU, {resynth} sentence(s) "
                f"synthesised, {sum(not r.up_to_date for r in edit)} track(s) re-rendered"
            )
            print(
                f"  {edit_s / cold_s:.1%} of the cold build's wall time, "
                f"{edit_cpu / cold_cpu:.1%} of its CPU  (at most 10 %)"
            )
        print(f"peak RSS of the build:    {build_mb:8.0f} MB (a worker's, with --jobs)")
        print(f"audio per wall second:    {audio_s / cold_s:8.1f} s/s (cold)")


if __name__ == "__main__":
    main()
