"""Time the commands that synthesise nothing: ``voicetrack --help`` and ``voicetrack check``.

Run by hand, not by the tests (tests/test_cli_imports.py counts their imports instead):

    .venv/bin/python bench/commands_bench.py [--runs 9] [--scripts scripts_src]

Each command runs as a new process, the way a person starts it, several times; the figures
are the median wall and CPU seconds of those runs, with the slowest run beside them, and the
wall time of an empty interpreter for comparison (what no change to voicetrack can remove).
The target is 0.5 s of wall time for each command.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 0.5


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(args: list[str], cwd: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of one run of the command ``ARGS`` in ``cwd``."""
    cpu = children_cpu()
    started = time.perf_counter()
    done = subprocess.run(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr.decode(errors='replace')}")
    return wall, children_cpu() - cpu


def measure(label: str, args: list[str], cwd: Path, runs: int) -> float:
    run_once(args, cwd)  # warm the file cache and the bytecode
    walls, cpus = zip(*(run_once(args, cwd) for _ in range(runs)), strict=True)
    wall = statistics.median(walls)
    verdict = "" if label == "python (empty)" else ("  ok" if wall <= TARGET_S else "  SLOW")
    print(
        f"{label:28} wall {wall:5.3f} s (median of {runs}, slowest {max(walls):5.3f} s)  "
        f"CPU {statistics.median(cpus):5.3f} s{verdict}"
    )
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9, help="runs of each command (default 9)")
    parser.add_argument("--scripts", default="scripts_src", help="what check reads")
    options = parser.parse_args()
    # the console script a person runs, else the module (the same import of pipeline.cli)
    script = Path(sys.executable).with_name("voicetrack")
    cli = [str(script)] if script.is_file() else [sys.executable, "-m", "pipeline"]
    print(f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.2f}")
    measure("python (empty)", [sys.executable, "-c", "pass"], ROOT, options.runs)
    slow = [
        wall > TARGET_S
        for wall in (
            measure("voicetrack --help", [*cli, "--help"], ROOT, options.runs),
            measure(
                f"voicetrack check {options.scripts}",
                [*cli, "check", options.scripts],
                ROOT,
                options.runs,
            ),
        )
    ]
    sys.exit(1 if any(slow) else 0)


if __name__ == "__main__":
    main()
