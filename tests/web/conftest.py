"""Set-up shared by voicetrack serve's tests.

The test-client tests run under pytest-django with ``pipeline.web.settings`` on a project
made once per session in a temporary folder: one script built on the fake engine (its
title holds markup, to show it is escaped everywhere) and published. The end-to-end tests
copy that project and run ``voicetrack serve`` on it as a separate process.

Everything here is skipped, with the reason shown, when the web extra is not installed.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

WEB_INSTALLED = importlib.util.find_spec("django") is not None
NEEDS_WEB = "voicetrack serve's tests need the web extra: pip install -e '.[test,web]'"

SLUG = "calm-place"
TITLE = "A Calm <script>alert('x')</script> Place"
SCRIPT = f"""\
---
title: {TITLE}
collection: Test Collection
track: 1
description: A short exercise for the tests.
voice: tones
---

Settle into a comfortable position. [pause 1s]

# Breathing

Breathe in slowly.
"""
TONES = """\
description = "test tones"

[en-GB]
engine = "fake"
model = "gb"

[en-US]
engine = "fake"
model = "us"
"""

#: The project the test-client tests' Django settings point at (read once, at set-up).
PROJECT = Path(tempfile.mkdtemp(prefix="voicetrack-serve-tests-"))
atexit.register(shutil.rmtree, PROJECT, ignore_errors=True)

if WEB_INSTALLED:
    # Before any test module imports a model (pytest-django finds the settings here).
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pipeline.web.settings")
    os.environ["VOICETRACK_ROOT"] = str(PROJECT)
    import django

    django.setup()


def make_project(root: Path) -> Path:
    """Write, build and publish the test project in ``root``."""
    from pipeline.build import BuildOptions, build
    from pipeline.site.publish import publish_site

    (root / "scripts_src").mkdir(parents=True, exist_ok=True)
    (root / "voices").mkdir(exist_ok=True)
    (root / "scripts_src" / f"{SLUG}.md").write_text(SCRIPT, encoding="utf-8")
    (root / "voices" / "tones.toml").write_text(TONES, encoding="utf-8")
    scripts = sorted((root / "scripts_src").glob("*.md"))
    build(scripts, BuildOptions(root=root, out_dir=root / "out"))
    publish_site(root, root / "out")
    return root


@pytest.fixture(scope="session")
def published() -> Path:
    """The session's project, built and published."""
    if not (PROJECT / "out" / "site" / "index.html").is_file():
        make_project(PROJECT)
    return PROJECT


@pytest.fixture(scope="session")
def project_copy(published: Path, tmp_path_factory: pytest.TempPathFactory):
    """copy() -> a fresh copy of the published project (no instance folder), for a server
    of its own."""

    def copy() -> Path:
        target = tmp_path_factory.mktemp("project")
        shutil.copytree(
            published, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("instance")
        )
        return target

    return copy


def free_port() -> int:
    """A port nothing listens on now (servers here cannot be given port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
