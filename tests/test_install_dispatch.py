"""``voicetrack voices install`` asks each engine's installer whether a name is its own.

No network: the installers here record what they are asked, and the built-in ones are only
asked whether they claim a name.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from click.testing import CliRunner

from pipeline import install
from pipeline.cli import main
from pipeline.download import InstallableVoice, Progress
from pipeline.engines import base
from pipeline.engines.fake import FakeEngine
from pipeline.errors import InstallError


class ChimeInstaller(base.VoiceInstaller):
    """Installs voices called chime-<something> into a folder of the test's."""

    engine = "chime"
    naming = "chime voices as chime-<name>"
    order = 15
    folder: ClassVar[Path]
    calls: ClassVar[list[tuple[str, str | None, bool]]] = []

    def claims(self, name: str) -> bool:
        return name.startswith("chime-")

    def catalogue(self) -> list[InstallableVoice]:
        return [
            InstallableVoice(
                "chime-bright", "chime", "en-GB", "a bright chime", "CC0-1.0", "https://x", 3
            )
        ]

    def is_installed(self, name: str) -> bool:
        return (self.folder / name).is_file()

    def install(
        self, name: str, *, base: str | None, progress: Progress | None, force: bool
    ) -> Path:
        self.calls.append((name, base, force))
        path = self.folder / name
        path.write_text("ding", encoding="utf-8")
        if progress:
            progress(name, 4, 4)
        return path


class ChimeEngine(FakeEngine):
    name = "chime"

    @classmethod
    def installer(cls) -> base.VoiceInstaller:
        return ChimeInstaller()


class GreedyEngine(FakeEngine):
    """A plug-in that claims names that are another engine's."""

    name = "greedy"

    @classmethod
    def installer(cls) -> base.VoiceInstaller:
        class Greedy(ChimeInstaller):
            engine = "greedy"

            def claims(self, name: str) -> bool:
                return True

        return Greedy()


@pytest.fixture
def chime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[type[ChimeInstaller]]:
    monkeypatch.setattr(base, "_registered", dict(base._registered))
    base.register(ChimeEngine)
    monkeypatch.setattr(ChimeInstaller, "folder", tmp_path, raising=False)
    monkeypatch.setattr(ChimeInstaller, "calls", [])
    monkeypatch.delenv(install.BASE_URL_ENV, raising=False)
    yield ChimeInstaller


def test_a_name_goes_to_the_engine_that_claims_it(chime: type[ChimeInstaller]) -> None:
    assert install.installer_for("chime-bright").engine == "chime"
    assert install.installer_for("emma").engine == "hibari"
    assert install.installer_for("en_GB-alba-medium").engine == "piper"
    assert install.installer_for("tts_models/en/vctk/vits").engine == "coqui"
    assert install.installer_for("whisper-tiny.en").engine == "whisper"
    assert not install.is_installed("chime-bright")
    path = install.install_voice("chime-bright", base_url="http://127.0.0.1:9/mirror/")
    assert path.read_text(encoding="utf-8") == "ding"
    assert chime.calls == [("chime-bright", "http://127.0.0.1:9/mirror", False)]
    assert install.is_installed("chime-bright")


def test_available_voices_follow_the_installers_order(chime: type[ChimeInstaller]) -> None:
    engines = [voice.engine for voice in install.available_voices()]
    first = {engine: engines.index(engine) for engine in dict.fromkeys(engines)}
    assert list(first) == ["hibari", "chime", "piper", "coqui", "whisper"]
    assert engines == sorted(engines, key=list(first).index)  # each engine's voices together


def test_engines_without_voices_to_fetch_have_no_installer() -> None:
    for name in ("fake", "espeak-ng", "takes"):
        assert base.engine_class(name).installer() is None


def test_a_name_nobody_claims_lists_how_names_look(chime: type[ChimeInstaller]) -> None:
    with pytest.raises(InstallError) as caught:
        install.install_voice("emmaa")
    assert str(caught.value) == "no installable voice is called 'emmaa'"
    assert caught.value.hint == (
        "`voicetrack voices available` lists them: hibari voices by name (emma), chime voices "
        "as chime-<name>, piper voices as en_GB-<name>-<quality>, Coqui models as "
        "tts_models/<lang>/<dataset>/<model>"
    )
    assert chime.calls == []


def test_a_name_two_engines_claim_is_refused(
    chime: type[ChimeInstaller], monkeypatch: pytest.MonkeyPatch
) -> None:
    base.register(GreedyEngine)
    with pytest.raises(InstallError, match=r"claimed by more than one engine \(chime and greedy\)"):
        install.install_voice("chime-bright")
    assert chime.calls == []


def test_the_command_installs_through_the_engine(chime: type[ChimeInstaller]) -> None:
    result = CliRunner().invoke(main, ["voices", "install", "chime-bright"])
    assert result.exit_code == 0, result.output
    assert chime.calls == [("chime-bright", None, False)]
    assert (chime.folder / "chime-bright").read_text(encoding="utf-8") == "ding"
