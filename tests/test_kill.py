"""A parallel build killed part way, in real processes: what is left running, what is left on
disk, and what the next build makes of it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.build import BuildOptions, build
from tests.audio_helpers import decode

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads the process table from /proc"
)

TONES = 'description = "test tones"\n\n[en-GB]\nengine = "fake"\nmodel = "gb"\n\n'
TONES += '[en-US]\nengine = "fake"\nmodel = "us"\n'


def script() -> str:
    """Long enough (about two minutes a locale) that a kill lands while work is going on."""
    lines = ["---", "title: Long Evening", "voice: tones", "pause: 2s", "---", ""]
    for section in range(3):
        lines += [f"# Part {section + 1}", ""]
        for sentence in range(8):
            lines.append(
                f"Sentence {sentence + 1} of part {section + 1} is said slowly and calmly. "
                f"[pause {1 + sentence % 3}s]"
            )
        lines.append("")
    return "\n".join(lines)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "scripts_src").mkdir()
    (tmp_path / "voices").mkdir()
    (tmp_path / "scripts_src" / "long-evening.md").write_text(script(), encoding="utf-8")
    (tmp_path / "voices" / "tones.toml").write_text(TONES, encoding="utf-8")
    return tmp_path


def session_processes(session: int) -> list[int]:
    """Live (not zombie) processes of ``session``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[3]) == session and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def wait_for(condition, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the build never got there")
        time.sleep(0.005)


def track_folder(project: Path) -> Path:
    return project / "out" / "long-evening"


def hidden(project: Path) -> list[str]:
    folder = track_folder(project)
    return (
        sorted(p.name for p in folder.iterdir() if p.name.startswith("."))
        if folder.exists()
        else []
    )


def cache_entries(project: Path) -> list[Path]:
    return list((project / "out" / ".cache" / "sentences").rglob("*.flac"))


MOMENTS = {
    # A worker is synthesising: the first sentences are in the cache.
    "synthesis": lambda project: len(cache_entries(project)) >= 3,
    # A worker is mastering into the encoder: its temporary MP3 exists.
    "encoding": lambda project: any(name.endswith(".tmp.mp3") for name in hidden(project)),
}


@pytest.mark.parametrize("moment", sorted(MOMENTS))
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_killed_parallel_build_ends_whole_and_the_next_build_is_right(
    project: Path, moment: str, signum: int
) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "build", "--jobs", "2", "-q"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its session holds every process the build starts
    )
    try:
        wait_for(lambda: MOMENTS[moment](project))
        assert process.poll() is None
        assert len(session_processes(process.pid)) >= 3  # the build and its two workers
        os.kill(process.pid, signum)
        killed_ns = time.time_ns()
        # Nothing keeps the build's output open: every process that had it has ended.
        process.communicate(timeout=60)
        wait_for(lambda: not session_processes(process.pid), seconds=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    folder = track_folder(project)
    late = (
        [p.name for p in folder.iterdir() if p.stat().st_mtime_ns > killed_ns + 1_000_000_000]
        if folder.exists()
        else []
    )
    assert late == []  # no worker went on to finish a track for a build that was gone
    if signum == signal.SIGTERM:
        assert hidden(project) == []  # a terminated build removes its temporary files

    results = build(
        [project / "scripts_src" / "long-evening.md"],
        BuildOptions(root=project, out_dir=project / "out"),
    )
    assert len(results) == 2
    assert hidden(project) == []
    for locale in ("en-GB", "en-US"):
        data = json.loads((folder / f"long-evening.{locale}.json").read_text(encoding="utf-8"))
        for name, record in data["outputs"].items():
            assert (folder / name).stat().st_size == record["bytes"]
        samples = decode(folder / f"long-evening.{locale}.mp3")
        assert len(samples) / 44100 == pytest.approx(data["duration"], abs=0.01)
