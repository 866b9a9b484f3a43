"""The engine registry: names from entry points without imports, classes loaded on demand,
and a plug-in that fails to load turned into a warning that leaves the other engines working.

The plug-ins here are real distributions: a ``.dist-info`` folder with an ``entry_points.txt``
on ``sys.path``, found by importlib.metadata exactly as an installed package would be.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.engines import base
from pipeline.engines.fake import FakeEngine
from pipeline.errors import ScriptError, VoiceError
from pipeline.voices import load_profiles

BROKEN_MODULE = "voicetrack_test_broken_engine"
NOT_AN_ENGINE_MODULE = "voicetrack_test_not_an_engine"


def make_distribution(folder: Path) -> None:
    """A distribution declaring two engines: one whose module raises on import, one that is
    not an Engine subclass."""
    info = folder / "voicetrack_test_plugins-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: voicetrack-test-plugins\nVersion: 1.0\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        "[voicetrack.engines]\n"
        f"broken = {BROKEN_MODULE}:BrokenEngine\n"
        f"not-an-engine = {NOT_AN_ENGINE_MODULE}:helper\n",
        encoding="utf-8",
    )
    (folder / f"{BROKEN_MODULE}.py").write_text(
        'raise RuntimeError("the model library is missing")\n', encoding="utf-8"
    )
    (folder / f"{NOT_AN_ENGINE_MODULE}.py").write_text(
        "def helper():\n    return None\n", encoding="utf-8"
    )


@pytest.fixture
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """A registry that reads the entry points again, as a new process would."""
    monkeypatch.setattr(base, "_registered", {})
    monkeypatch.setattr(base, "_declared", None)
    monkeypatch.setattr(base, "_broken", {})


@pytest.fixture
def plugins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_registry: None
) -> Iterator[Path]:
    folder = tmp_path / "site"
    make_distribution(folder)
    monkeypatch.syspath_prepend(str(folder))
    yield folder
    for module in (BROKEN_MODULE, NOT_AN_ENGINE_MODULE):
        sys.modules.pop(module, None)


def test_engine_names_come_from_entry_points_without_importing_engines(
    fresh_registry: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    for module in [m for m in sys.modules if m.startswith("pipeline.engines.")]:
        if module != "pipeline.engines.base":
            monkeypatch.delitem(sys.modules, module)
    names = base.engine_names()
    assert {"coqui", "espeak-ng", "fake", "hibari", "piper", "takes"} <= set(names)
    assert [m for m in sys.modules if m.startswith("pipeline.engines.")] == [
        "pipeline.engines.base"
    ]
    assert base.engine_class("fake").__module__ == "pipeline.engines.fake"
    assert "pipeline.engines.fake" in sys.modules
    assert "pipeline.engines.piper" not in sys.modules  # only the engine asked for


def test_a_plugin_that_fails_to_load_is_a_warning(
    plugins: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert {"broken", "not-an-engine", "fake"} <= set(base.engine_names())
    with caplog.at_level(logging.WARNING, logger="pipeline.engines.base"):
        loaded = base.engine_classes()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "engine plug-in broken could not be loaded: RuntimeError: the model library is missing",
        f"entry point {NOT_AN_ENGINE_MODULE}:helper is not an Engine subclass; ignored",
    ]
    # the other engines still load, and the broken ones are no longer offered
    assert loaded["fake"] is FakeEngine
    assert {"espeak-ng", "hibari", "piper", "coqui", "takes"} <= set(loaded)
    assert "broken" not in loaded and "not-an-engine" not in loaded
    assert "broken" not in base.engine_names()
    assert base.engine_class("fake") is FakeEngine
    with pytest.raises(VoiceError) as caught:
        base.engine_class("broken")
    assert str(caught.value) == (
        "the engine plug-in 'broken' could not be loaded: "
        "RuntimeError: the model library is missing"
    )
    # the warning is given once, not on every use
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="pipeline.engines.base"):
        base.engine_classes()
    assert caplog.records == []


def test_a_profile_naming_a_broken_plugin_says_so_at_its_line(
    plugins: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "project"
    (root / "voices").mkdir(parents=True)
    (root / "voices" / "calm.toml").write_text(
        '[en-GB]\nengine = "broken"\n\n[en-US]\nengine = "fake"\n', encoding="utf-8"
    )
    with (
        caplog.at_level(logging.WARNING, logger="pipeline.engines.base"),
        pytest.raises(ScriptError) as caught,
    ):
        load_profiles(root)
    assert [str(e) for e in caught.value.errors] == [
        "voices/calm.toml:2:1: the engine plug-in 'broken' could not be loaded: "
        "RuntimeError: the model library is missing"
    ]
    assert "engine plug-in broken could not be loaded" in caplog.text


def test_an_unknown_engine_is_not_loaded_and_lists_the_installed_ones(
    fresh_registry: None,
) -> None:
    with pytest.raises(VoiceError) as caught:
        base.engine_class("espeak")
    assert str(caught.value).startswith("unknown engine 'espeak' (installed engines: coqui, ")


# --------------------------------------------------------------------------- layering

#: The layers an engine sits below: an engine that imported one of these would be an import
#: cycle waiting to happen, and would make every command that loads engines load them too.
ABOVE_ENGINES = (
    "pipeline.voices",
    "pipeline.install",
    "pipeline.cli",
    "pipeline.check",
    "pipeline.build",
    "pipeline.synth",
    "pipeline.plan",
    "pipeline.parse",
)


def test_engines_import_nothing_above_them() -> None:
    import ast

    folder = Path(base.__file__).parent
    found: list[str] = []
    for source in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                if any(name == up or name.startswith(up + ".") for up in ABOVE_ENGINES):
                    found.append(f"{source.name}:{node.lineno} imports {name}")
    assert found == []
