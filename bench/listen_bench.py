"""Benchmark listening: the realtime factor of a speech-recognition model on a built track.

Run by hand, not by the tests:

    .venv/bin/python bench/listen_bench.py [--threads 2] [--repeat 3] [--model tiny.en]
        [--script scripts_src/breathing-practice.md] [--locale en-US]

It copies the project's scripts (and lexicon) into a temporary folder, builds the script's
track for the locale (hibari's ``heart`` for en-US, as shipped), loads the model once, and
transcribes the MP3 ``--repeat`` times with word timestamps, as ``voicetrack listen`` does,
on ``--threads`` CPU threads. It prints the track's length, the model's load time, each
transcription's wall time and the best realtime factor (seconds of audio per second of
transcription), then the track's word error rate as ``voicetrack listen`` reports it.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--model", default=None, help="model name or folder (default tiny.en)")
    parser.add_argument("--script", default="scripts_src/breathing-practice.md")
    parser.add_argument("--locale", default="en-US")
    args = parser.parse_args()

    from pipeline.build import load_scripts
    from pipeline.listen import ListenOptions, Recogniser, find_model, listen

    with tempfile.TemporaryDirectory(prefix="voicetrack-bench-") as folder:
        project = Path(folder)
        shutil.copytree(ROOT / "scripts_src", project / "scripts_src")
        script = project / args.script
        command = [sys.executable, "-m", "pipeline", "build", "-q", "--locale", args.locale]
        subprocess.run([*command, str(script)], cwd=project, check=True, stdout=subprocess.DEVNULL)
        slug = script.stem
        mp3 = project / "out" / slug / f"{slug}.{args.locale}.mp3"

        model = find_model(args.model, project)
        started = time.perf_counter()
        recogniser = Recogniser(model, threads=args.threads)
        load = time.perf_counter() - started

        from faster_whisper import decode_audio

        duration = len(decode_audio(str(mp3), sampling_rate=16000)) / 16000
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            words = recogniser.transcribe(mp3)
            times.append(time.perf_counter() - started)

        options = ListenOptions(root=project, out_dir=project / "out", locales=(args.locale,))
        check = listen(load_scripts([script], project), options, recogniser)[0]

    print(f"track: {slug} {args.locale}, {duration:.1f} s, {len(words)} words heard")
    print(f"model: {model.name} ({model.folder}), loaded in {load:.1f} s, {args.threads} threads")
    print("transcriptions: " + ", ".join(f"{t:.2f} s" for t in times))
    print(f"realtime factor: {duration / min(times):.1f}x (best of {args.repeat})")
    print(f"word error rate: {check.wer:.1%} over {check.words} words")


if __name__ == "__main__":
    main()
