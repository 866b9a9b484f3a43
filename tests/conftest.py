"""Shared fixtures: build scripts from a body and front-matter lines."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pipeline.errors import ScriptError
from pipeline.model import Script
from pipeline.parse import parse_script

SCRIPT_PATH = "scripts_src/example.md"


def script_source(body: str, front: str = "") -> str:
    """A script with a title, the given extra front-matter lines and ``body``."""
    return f"---\ntitle: Example\n{front}---\n{body}"


@pytest.fixture
def parse() -> Callable[..., Script]:
    """parse(body, front="") -> Script; body starts on line 4 (line 4 + n with front lines)."""

    def parse_body(body: str, front: str = "") -> Script:
        return parse_script(script_source(body, front), SCRIPT_PATH)

    return parse_body


@pytest.fixture
def errors() -> Callable[..., list[str]]:
    """errors(body, front="") -> every 'path:line:col: message' the script raises."""

    def errors_of(body: str, front: str = "") -> list[str]:
        with pytest.raises(ScriptError) as caught:
            parse_script(script_source(body, front), SCRIPT_PATH)
        return [str(e) for e in caught.value.errors]

    return errors_of


# --------------------------------------------------------------------------- site and browser


@pytest.fixture(scope="session")
def site_project(tmp_path_factory: pytest.TempPathFactory):
    """A small project (two short scripts on the fake engine), built and published once."""
    from pipeline.site.publish import publish_site
    from tests.site_helpers import make_project

    root = make_project(tmp_path_factory.mktemp("site-project"))
    publish_site(root, root / "out", base_url="https://example.org/audio/")
    return root


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
    "--mute-audio",
]


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright; skipped, saying why, when either is missing.

    One per test module: Playwright's sync API runs an event loop while it is open, and a
    test elsewhere that opens its own ``sync_playwright()`` cannot while this one is."""
    import os

    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the browser tests need Playwright (the test extra)"
    )
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"the browser tests need Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
