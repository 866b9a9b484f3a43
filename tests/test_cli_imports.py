"""Commands that synthesise nothing import only what they need.

``voicetrack --help`` and ``voicetrack check`` must stay quick, so instead of timing them
(bench/commands_bench.py does that) these tests count the work: they run each command in a
fresh interpreter and list the modules it imported. An engine's library, the signal
processing stack, the PDF writer or the web server showing up here is an import that moved to
the top of a module on a command's path.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

#: Libraries no command that only reads scripts may import: engines and their models, audio
#: processing, encoding, the PDF, the site and the server, speech recognition.
HEAVY = (
    "scipy",
    "torch",
    "TTS",
    "onnxruntime",
    "hibari",
    "piper",
    "espeakng_loader",
    "soundfile",
    "pydub",
    "mutagen",
    "pyloudnorm",
    "noisereduce",
    "webrtcvad",
    "imageio_ffmpeg",
    "ffmpeg",
    "fpdf",
    "fontTools",
    "jinja2",
    "markdown_it",
    "feedgen",
    "django",
    "waitress",
    "whitenoise",
    "faster_whisper",
    "ctranslate2",
    "rich",
)

PROBE = """
import json, sys
from pipeline.cli import main
try:
    main(sys.argv[1:], prog_name="voicetrack")
except SystemExit as exit:
    status = exit.code
else:
    status = 0
sys.stdout.flush()
sys.stderr.write("\\nMODULES " + json.dumps({"status": status, "modules": sorted(sys.modules)}))
"""


def imported_by(args: list[str], cwd: Path) -> tuple[int, set[str], str]:
    """Run ``voicetrack ARGS`` in a new interpreter: its exit status, every module it
    imported and its output."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "HOME": str(cwd)},
    )
    report = json.loads(done.stderr.rsplit("\nMODULES ", 1)[1])
    return report["status"], set(report["modules"]), done.stdout


def heavy_among(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY)


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("samples")
    shutil.copytree(REPO / "scripts_src", project / "scripts_src")
    return project


def test_help_imports_neither_the_pipeline_nor_numpy(samples: Path) -> None:
    status, modules, out = imported_by(["--help"], samples)
    assert status == 0 and "Commands:" in out
    assert heavy_among(modules) == []
    assert {"numpy", "pysbd"} & modules == set()
    # the parser, the planner, the voice profiles and the engine registry wait for a command
    pipeline = {m for m in modules if m.startswith("pipeline.")}
    assert {"pipeline.cli", "pipeline.errors"} <= pipeline
    assert {
        "pipeline.model",
        "pipeline.check",
        "pipeline.parse",
        "pipeline.plan",
        "pipeline.voices",
        "pipeline.engines.base",
        "pipeline.build",
    } & pipeline == set()


def test_check_imports_no_engine_library_and_no_audio_stack(samples: Path) -> None:
    status, modules, out = imported_by(["check", "scripts_src"], samples)
    assert status == 0 and out.rstrip().endswith("3 scripts OK")
    assert heavy_among(modules) == []
    # the profiles name engines, whose adapters load; nothing that renders or publishes does
    assert {
        "pipeline.engines.takes",
        "pipeline.takes",
        "pipeline.synth",
        "pipeline.build",
        "pipeline.master",
        "pipeline.encode",
        "pipeline.pdf",
        "pipeline.install",
    } & modules == set()


def test_check_of_a_broken_script_imports_no_more(samples: Path, tmp_path: Path) -> None:
    (samples / "scripts_src" / "zz-broken.md").write_text(
        "---\ntitle: Broken\n---\n[pause forever]\n", encoding="utf-8"
    )
    try:
        status, modules, _ = imported_by(["check", "scripts_src"], samples)
    finally:
        (samples / "scripts_src" / "zz-broken.md").unlink()
    assert status == 2
    assert heavy_among(modules) == []
