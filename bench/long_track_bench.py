"""Benchmark one long track: wall time and peak memory of building it.

Run by hand, not by the tests:

    .venv/bin/python bench/long_track_bench.py [--minutes 60] [--pause 3]

It writes a speech-dense script (paragraphs of four sentences, each paragraph followed by
``--pause`` seconds of silence) long enough for about ``--minutes`` of audio, spoken by the
fake tone engine so that the figures are the pipeline's own, and builds it in a child
process with ``voicetrack build --jobs 1``. It prints the track's length and how much of it
is speech, the build's wall time, its peak resident memory, and what the whole track would
take as float32 in memory for comparison.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAD = "---\ntitle: A Long Track\nvoice: tones\nlocales: [en-GB]\n---\n\n"
PARAGRAPH = (
    "Paragraph {n} has a sentence of moderate length in it. "
    "Another follows it, and it is a little longer than the first one. "
    "A third carries the listener gently onward through the practice. "
    "And a fourth closes the paragraph in a calm and steady voice. [pause {pause}s]\n\n"
)
#: Seconds of audio one paragraph gives with the fake engine and a 3 s pause, measured.
PARAGRAPH_SECONDS = 19.7


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--pause", type=float, default=3.0, help="seconds after each paragraph")
    args = parser.parse_args()

    paragraphs = max(1, round(args.minutes * 60 / (PARAGRAPH_SECONDS - 3.0 + args.pause)))
    with tempfile.TemporaryDirectory(prefix="voicetrack-bench-") as folder:
        project = Path(folder)
        (project / "scripts_src").mkdir()
        (project / "voices").mkdir()
        (project / "voices" / "tones.toml").write_text(
            '[en-GB]\nengine = "fake"\nmodel = "gb"\n', encoding="utf-8"
        )
        body = "".join(PARAGRAPH.format(n=n, pause=args.pause) for n in range(paragraphs))
        (project / "scripts_src" / "long.md").write_text(HEAD + body, encoding="utf-8")

        command = [sys.executable, "-m", "pipeline", "build", "-q", "--jobs", "1"]
        started = time.perf_counter()
        subprocess.run(command, cwd=project, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - started
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

        data = json.loads((project / "out" / "long" / "long.en-GB.json").read_text("utf-8"))
    duration = data["duration"]
    speech = sum(s["end"] - s["start"] for s in data["segments"] if s["kind"] == "speech")
    whole_mb = duration * data["sample_rate"] * 4 / 2**20
    print(f"track:              {duration / 60:.1f} min, {speech / 60:.1f} min of it speech")
    print(f"build wall time:    {wall:.1f} s ({duration / wall:.0f} s of audio per second)")
    print(f"peak RSS:           {peak_mb:.0f} MB")
    print(f"whole track, f32:   {whole_mb:.0f} MB (for comparison)")


if __name__ == "__main__":
    main()
