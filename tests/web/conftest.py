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
import tempfile
from pathlib import Path

import pytest

from tests.web.serving import make_project

WEB_INSTALLED = importlib.util.find_spec("django") is not None

#: The project the test-client tests' Django settings point at (read once, at set-up).
PROJECT = Path(tempfile.mkdtemp(prefix="voicetrack-serve-tests-"))
atexit.register(shutil.rmtree, PROJECT, ignore_errors=True)

if WEB_INSTALLED:
    # Before any test module imports a model (pytest-django finds the settings here).
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pipeline.web.settings")
    os.environ["VOICETRACK_ROOT"] = str(PROJECT)
    import django

    django.setup()


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
