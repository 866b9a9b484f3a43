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
