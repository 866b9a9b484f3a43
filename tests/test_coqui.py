"""The coqui engine, through Coqui's real loading and inference code.

The tests build small untrained VITS models with Coqui's own config and model classes (a
megabyte each, a few seconds to build): they speak noise, but through exactly the path a real
VITS voice takes. Everything that needs Coqui TTS is skipped, with the reason shown, when the
optional extra is not installed.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from fixtures.tiny_vits import FRAMES_PER_TOKEN, SKIP_REASON, build_tiny_vits

from pipeline.engines import coqui
from pipeline.engines.coqui import CoquiEngine
from pipeline.errors import VoiceError, VoiceUnavailable
from pipeline.model import VoiceSpec

TEXT = "Breathe in slowly."


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project root holding two single-speaker models and one with two speakers."""
    pytest.importorskip("TTS", reason=SKIP_REASON)
    root = tmp_path_factory.mktemp("project")
    build_tiny_vits(root / "models" / "calm", seed=1)
    build_tiny_vits(root / "models" / "other", seed=2)
    build_tiny_vits(root / "models" / "duo", seed=3, speakers=("anna", "ben"))
    return root


def local(name: str, **options: object) -> VoiceSpec:
    return VoiceSpec(
        "coqui",
        model_path=f"models/{name}/model.pth",
        config_path=f"models/{name}/config.json",
        **options,  # type: ignore[arg-type]
    )


# --------------------------------------------------------------------------- without Coqui


def test_check_names_the_extra_when_coqui_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: object) -> object:
        return None if name == "TTS" else real_find_spec(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    spec = VoiceSpec("coqui", model="tts_models/en/vctk/vits", speaker="p273")
    with pytest.raises(VoiceUnavailable) as caught:
        CoquiEngine.check(spec, Path.cwd())
    assert caught.value.hint == "pip install 'voicetrack[coqui]'"


# --------------------------------------------------------------------------- a local model


def test_local_model_speaks(project: Path) -> None:
    spec = local("calm")
    CoquiEngine.check(spec, project)
    audio = CoquiEngine(spec, project).synthesize(TEXT)
    assert audio.sample_rate == 22050
    assert audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    assert np.all(np.isfinite(audio.samples)) and np.abs(audio.samples).max() <= 1.0
    assert float(np.sqrt(np.mean(audio.samples**2))) > 1e-4  # noise, but not silence
    # Coqui's 10000-sample pad after a sentence is removed: the length is the tokens' frames.
    # (graphemes with a blank between each and at both ends: 2 * len + 1 tokens)
    tokens = 2 * len(TEXT) + 1
    assert len(audio.samples) == tokens * FRAMES_PER_TOKEN * 256


def test_speed_scales_length(project: Path) -> None:
    engine = CoquiEngine(local("calm"), project)
    lengths = {speed: len(engine.synthesize(TEXT, speed).samples) for speed in (0.5, 1.0, 2.0)}
    assert lengths[0.5] / lengths[1.0] == pytest.approx(2.0, rel=0.02)
    assert lengths[1.0] / lengths[2.0] == pytest.approx(2.0, rel=0.02)
    # The model's own setting is restored after each call.
    assert engine.synthesize(TEXT).samples.shape[0] == lengths[1.0]


def test_same_text_same_audio(project: Path) -> None:
    import torch

    engine = CoquiEngine(local("calm"), project)
    first = engine.synthesize(TEXT).samples
    torch.rand(1000)  # whatever else the process draws from the random generator...
    state = torch.random.get_rng_state()
    assert np.array_equal(first, engine.synthesize(TEXT).samples)  # ...the sentence is the same
    assert torch.equal(state, torch.random.get_rng_state())  # and nobody else's draws move
    assert not np.array_equal(first, engine.synthesize("Breathe out slowly.").samples)


def test_model_is_loaded_once_per_process(project: Path) -> None:
    first = CoquiEngine(local("calm"), project)
    second = CoquiEngine(local("calm", speed=1.2), project)
    other = CoquiEngine(local("other"), project)
    assert first._loaded is second._loaded
    assert other._loaded is not first._loaded


def test_identity_follows_the_model_file(project: Path, tmp_path: Path) -> None:
    calm = CoquiEngine(local("calm"), project).identity()
    assert CoquiEngine(local("calm"), project).identity() == calm
    assert CoquiEngine(local("other"), project).identity() != calm
    fields = json.loads(calm)
    assert fields["version"] == coqui.metadata.version("coqui-tts")
    assert fields["model_sha256"] == coqui.file_digest(project / "models/calm/model.pth")

    # Same config, retrained weights under the same name: a new identity.
    copy = tmp_path / "root"
    shutil.copytree(project / "models" / "calm", copy / "models" / "calm")
    before = CoquiEngine(local("calm"), copy).identity()
    build_tiny_vits(copy / "models" / "calm", seed=99)
    assert CoquiEngine(local("calm"), copy).identity() != before


def test_speakers_of_a_multi_speaker_model(project: Path) -> None:
    anna = CoquiEngine(local("duo", speaker="anna"), project)
    ben = CoquiEngine(local("duo", speaker="ben"), project)
    assert not np.array_equal(anna.synthesize(TEXT).samples, ben.synthesize(TEXT).samples)
    assert anna.identity() != ben.identity()
    with pytest.raises(VoiceError, match="set speaker"):
        CoquiEngine(local("duo"), project)
    with pytest.raises(VoiceError, match="no speaker 'carol'"):
        CoquiEngine(local("duo", speaker="carol"), project)
    with pytest.raises(VoiceError, match="one language"):
        CoquiEngine(local("calm", language="en"), project)


def test_local_model_problems(project: Path) -> None:
    with pytest.raises(VoiceUnavailable, match="does not exist"):
        CoquiEngine.check(local("missing"), project)
    outside = VoiceSpec("coqui", model_path="../x/model.pth", config_path="../x/config.json")
    with pytest.raises(VoiceError, match="outside the project root"):
        CoquiEngine.check(outside, project)
    with pytest.raises(VoiceError, match="both model_path and config_path"):
        CoquiEngine.check(VoiceSpec("coqui", model_path="models/calm/model.pth"), project)
    wav = local("calm", speaker_wav=("takes/me.wav",))
    with pytest.raises(VoiceUnavailable, match="speaker_wav takes/me.wav does not exist"):
        CoquiEngine.check(wav, project)


@pytest.mark.skipif(os.name == "nt", reason="uses a POSIX shell script as the program")
def test_phoneme_models_need_the_espeak_program(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "root"
    shutil.copytree(project / "models" / "calm", root / "models" / "phonemes")
    config_path = root / "models" / "phonemes" / "config.json"
    config = json.loads(config_path.read_text())
    config.update(use_phonemes=True, phonemizer="espeak", phoneme_language="en-us")
    config_path.write_text(json.dumps(config))
    spec = local("phonemes")
    programs = tmp_path / "bin"
    programs.mkdir()
    monkeypatch.setenv("PATH", str(programs))
    with pytest.raises(VoiceUnavailable, match="needs the espeak-ng program") as caught:
        CoquiEngine.check(spec, root)
    assert "apt install espeak-ng" in (caught.value.hint or "")
    CoquiEngine.check(local("calm"), project)  # grapheme models do not need it

    program = programs / "espeak-ng"
    program.write_text("#!/bin/sh\nexit 0\n")
    program.chmod(0o755)
    CoquiEngine.check(spec, root)


# --------------------------------------------------------------------------- catalogue models


@pytest.fixture
def coqui_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Coqui model folder and Hugging Face cache of the test's own."""
    pytest.importorskip("TTS", reason=SKIP_REASON)
    import huggingface_hub.constants

    monkeypatch.setenv("TTS_HOME", str(tmp_path / "coqui"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    return tmp_path / "coqui" / "tts"


def test_data_dir_agrees_with_coqui(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("TTS", reason=SKIP_REASON)
    from trainer.io import get_user_data_dir

    monkeypatch.delenv("TTS_HOME", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    assert coqui.coqui_data_dir() == get_user_data_dir("tts")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert coqui.coqui_data_dir() == get_user_data_dir("tts")
    monkeypatch.setenv("TTS_HOME", str(tmp_path / "home"))
    assert coqui.coqui_data_dir() == get_user_data_dir("tts")


def test_catalogue_model_not_downloaded(coqui_home: Path) -> None:
    for name in ("tts_models/en/vctk/vits", "tts_models/multilingual/multi-dataset/xtts_v2"):
        with pytest.raises(VoiceUnavailable) as caught:
            CoquiEngine.check(VoiceSpec("coqui", model=name), Path.cwd())
        assert caught.value.hint == f"voicetrack voices install {name}"
    assert not coqui_home.exists()  # looking never downloads or creates anything


def test_unknown_catalogue_model(coqui_home: Path) -> None:
    with pytest.raises(VoiceError, match="did you mean tts_models/en/vctk/vits"):
        CoquiEngine.check(VoiceSpec("coqui", model="tts_models/en/vctk/vitz"), Path.cwd())


def test_downloaded_catalogue_model_loads_from_coquis_folder(
    project: Path, coqui_home: Path
) -> None:
    # Laid out as Coqui's ModelManager leaves a GitHub-release model.
    folder = coqui_home / "tts_models--en--ljspeech--vits"
    folder.mkdir(parents=True)
    shutil.copy(project / "models/calm/model.pth", folder / "model_file.pth")
    shutil.copy(project / "models/calm/config.json", folder / "config.json")
    spec = VoiceSpec("coqui", model="en/ljspeech/vits")
    CoquiEngine.check(spec, Path.cwd())
    engine = CoquiEngine(spec, Path.cwd())
    assert engine.model.checkpoint == folder / "model_file.pth"
    assert len(engine.synthesize(TEXT).samples) > 0


def test_licences_from_coquis_catalogue() -> None:
    pytest.importorskip("TTS", reason=SKIP_REASON)
    vctk = CoquiEngine.licence(VoiceSpec("coqui", model="tts_models/en/vctk/vits"))
    assert "apache 2.0" in vctk and "VCTK" in vctk and "CC BY 4.0" in vctk
    xtts = CoquiEngine.licence(
        VoiceSpec("coqui", model="tts_models/multilingual/multi-dataset/xtts_v2")
    )
    assert "Coqui Public Model License" in xtts and "non-commercial" in xtts
    assert "unknown" in CoquiEngine.licence(local("calm"))


def test_non_commercial_licence_is_stated_once(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("TTS", reason=SKIP_REASON)
    monkeypatch.setattr(coqui, "_warned", set())
    xtts = coqui.CoquiModel(
        "xtts",
        Path("model.pth"),
        Path("config.json"),
        catalogue_name="tts_models/multilingual/multi-dataset/xtts_v2",
    )
    vits = coqui.CoquiModel(
        "vits", Path("model.pth"), Path("config.json"), catalogue_name="tts_models/en/vctk/vits"
    )
    with caplog.at_level(logging.WARNING, logger="pipeline.engines.coqui"):
        for model in (xtts, vits, xtts):
            coqui._state_licence_once(model)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert "xtts_v2" in warnings[0] and "non-commercial" in warnings[0]


# --------------------------------------------------------------------------- a whole build


def test_build_with_a_coqui_profile(project: Path, tmp_path: Path) -> None:
    from pipeline.build import BuildOptions, build

    root = tmp_path / "root"
    shutil.copytree(project / "models" / "calm", root / "models" / "calm")
    (root / "voices").mkdir()
    (root / "voices" / "noise.toml").write_text(
        'description = "Untrained VITS"\n\n[en-GB]\nengine = "coqui"\n'
        'model_path = "models/calm/model.pth"\nconfig_path = "models/calm/config.json"\n'
    )
    script = root / "scripts_src" / "breathe.md"
    script.parent.mkdir()
    script.write_text(
        "---\ntitle: Breathe\nlocales: [en-GB]\nvoice: noise\n---\n\n"
        "Breathe in. [pause 1s] Breathe out.\n"
    )
    options = BuildOptions(root=root, out_dir=root / "out")

    [result] = build([script], options)
    assert not result.up_to_date and result.synthesised == 2
    manifest = json.loads((root / "out" / "breathe" / "breathe.en-GB.json").read_text())
    assert manifest["voice"] == {
        "role": "noise",
        "engine": "coqui",
        "model": "models/calm/model.pth",
        "fallback": False,
    }
    assert (root / "out" / "breathe" / "breathe.en-GB.mp3").stat().st_size > 0
    segments = manifest["segments"]
    speech = {s["text"]: s["end"] - s["start"] for s in segments if s["kind"] == "speech"}
    assert list(speech) == ["Breathe in.", "Breathe out."]
    for text, seconds in speech.items():  # every token's frames, nothing trimmed or padded
        tokens = 2 * len(text) + 1
        assert seconds == pytest.approx(tokens * FRAMES_PER_TOKEN * 256 / 22050, abs=0.002)
    [pause] = [s for s in segments if s["kind"] == "silence" and s["source"] == "pause"]
    assert pause["end"] - pause["start"] == pytest.approx(1.0, abs=0.001)

    assert build([script], options)[0].up_to_date  # same model, same identity
    build_tiny_vits(root / "models" / "calm", seed=7)  # retrained in place
    again = build([script], options)[0]
    assert not again.up_to_date and again.synthesised == 2
