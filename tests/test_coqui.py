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
import math
import os
import re
import shutil
from pathlib import Path
from typing import Any

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


# --------------------------------------------------------------------------- espeak phonemes

#: Sentences of the kind scripts hold: stress, numbers, contractions, a question, lists, a
#: parenthesis and words eSpeak reads as French (language-switch flags).
SENTENCES = (
    "Notice the breath as it moves through your body.",
    "Count slowly from 1 to 10, and let each number settle.",
    "You're doing well; there's nothing you need to fix right now.",
    "Where do you feel it most? In your chest, your throat, or your hands?",
    "Rest here (for as long as you like) before we go on.",
    "Bon voyage, and thank you for this practice.",
)


def without_program(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """PATH holds one empty folder, so no espeak program is found; returns the folder."""
    programs = tmp_path / "bin"
    programs.mkdir(exist_ok=True)
    monkeypatch.setenv("PATH", str(programs))
    return programs


def piper_clauses(text: str, voice: str) -> list[str]:
    """Clause phonemes from piper's own build of espeak-ng, language flags removed."""
    pytest.importorskip("piper", reason="piper-tts is not installed")
    from piper import espeakbridge
    from piper.phonemize_espeak import EspeakPhonemizer

    EspeakPhonemizer()  # initialises piper's espeak-ng with piper's data
    espeakbridge.set_voice(voice)
    return [re.sub(r"\([^)]+\)", "", clause) for clause, _, _ in espeakbridge.get_phonemes(text)]


def voice_listing(language: str) -> str:
    """The voice that ``espeak-ng --voices`` lists under ``language``: the one the program's
    ``-v language`` falls back to when no voice has that name."""
    from pipeline.engines.espeak import binding

    [identifier] = [v.identifier for v in binding().voices() if v.language == language]
    return identifier


@pytest.mark.parametrize(("language", "piper_voice"), [("en-us", "en-us"), ("en-gb", "gmw/en")])
def test_library_phonemes_match_pipers_espeak(language: str, piper_voice: str) -> None:
    """The library's clauses, separators removed, are piper's espeak-ng clauses exactly."""
    from pipeline.engines.espeak import binding

    bound = binding()
    voice = bound.voice_for_language(language)
    assert voice == (language if language == "en-us" else voice_listing(language))
    for text in SENTENCES:
        clauses = bound.phonemes(text, voice)
        assert all("_" in clause for clause in clauses if len(clause) > 2)  # separated
        ours = [re.sub(r"\([^)]+\)", "", clause).replace("_", "") for clause in clauses]
        assert ours == piper_clauses(text, piper_voice), text


def test_coquis_phonemizer_from_the_library(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytest.importorskip("TTS", reason=SKIP_REASON)
    from TTS.tts.utils.text import phonemizers

    from pipeline.engines import coqui_phonemes

    without_program(monkeypatch, tmp_path)
    assert coqui_phonemes.use_for_coqui() == "library"
    assert phonemizers.PHONEMIZERS["espeak"] is coqui_phonemes.LibraryESpeak
    for language in ("en", "en-us", "en-gb"):
        assert phonemizers.get_default_phonemizer(language) == "espeak"

    us = phonemizers.get_phonemizer_by_name("espeak", language="en")  # as Coqui asks for it
    assert us.language == "en-us"  # Coqui's rename
    gb = phonemizers.get_phonemizer_by_name("espeak", language="en-gb")
    assert gb.voice == voice_listing("en-gb")
    for phonemizer, voice in ((us, "en-us"), (gb, "gmw/en")):
        for text in SENTENCES[:3]:
            # What the tokenizer asks for: no separator; clauses joined as Coqui joins lines.
            expected = "".join(c.strip() for c in piper_clauses(text, voice))
            assert phonemizer._phonemize(text, "") == expected
            assert phonemizer._phonemize(text, "|").replace("|", "") == expected
    # Punctuation is kept by default, as with Coqui's ESpeak: Coqui's base class restores it.
    assert us.phonemize("Breathe in, and out.", separator="").endswith(", ænd ˈaʊt.")
    assert us.version() == coqui_phonemes.binding().version


@pytest.mark.skipif(os.name == "nt", reason="uses a POSIX shell script as the program")
def test_with_an_espeak_program_coquis_own_phonemizer_stays(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytest.importorskip("TTS", reason=SKIP_REASON)
    from TTS.tts.utils.text import phonemizers
    from TTS.tts.utils.text.phonemizers.espeak_wrapper import ESpeak

    from pipeline.engines import coqui_phonemes

    programs = without_program(monkeypatch, tmp_path)
    assert coqui_phonemes.use_for_coqui() == "library"
    program = programs / "espeak-ng"
    program.write_text('#!/bin/sh\necho "eSpeak NG text-to-speech: 1.51  Data at: /x"\n')
    program.chmod(0o755)
    assert coqui_phonemes.use_for_coqui() == "program"
    assert phonemizers.PHONEMIZERS["espeak"] is ESpeak

    # The cache key says which made the phonemes.
    coquis = ESpeak.__new__(ESpeak)
    coquis._ESPEAK_LIB, coquis._ESPEAK_VER = "espeak-ng", "1.51"
    assert coqui_phonemes.describe(coquis) == {
        "name": "espeak",
        "version": "1.51",
        "made_by": "program",
        "program": "espeak-ng",
    }
    program.unlink()
    assert coqui_phonemes.use_for_coqui() == "library"


@pytest.fixture(scope="module")
def phoneme_models(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project root with the calm model reading espeak phonemes, as Coqui's VITS models do,
    once per language (``models/en-us``, ``models/en-gb``).

    VITS's vocabulary grows by the IPA symbols when it reads phonemes, so the model is built
    again from the calm model's config."""
    import torch
    from TTS.tts.configs.vits_config import VitsConfig
    from TTS.tts.models.vits import Vits

    from pipeline.engines.coqui_phonemes import use_for_coqui

    root = tmp_path_factory.mktemp("phonemes")
    for seed, language in enumerate(("en-us", "en-gb"), start=11):
        folder = root / "models" / language
        folder.mkdir(parents=True)
        config = VitsConfig()
        config.load_json(str(project / "models" / "calm" / "config.json"))
        config.use_phonemes = True
        config.phonemizer = "espeak"
        config.phoneme_language = language
        config.characters = None  # VITS's own set: graphemes and IPA
        # Vits builds its tokenizer, and with it the phonemizer, from the config.
        with pytest.MonkeyPatch.context() as patch:
            without_program(patch, root)
            use_for_coqui()
            torch.manual_seed(seed)
            model = Vits(config)
        with torch.no_grad():  # every token FRAMES_PER_TOKEN frames, as in the calm model
            model.duration_predictor.proj.weight.zero_()
            model.duration_predictor.proj.bias.fill_(math.log(FRAMES_PER_TOKEN))
        torch.save({"model": model.state_dict()}, folder / "model.pth")
        model.config.save_json(str(folder / "config.json"))
    return root


@pytest.mark.parametrize(("language", "piper_voice"), [("en-us", "en-us"), ("en-gb", "gmw/en")])
def test_phoneme_model_speaks_without_the_espeak_program(
    language: str,
    piper_voice: str,
    phoneme_models: Path,
    project: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    without_program(monkeypatch, tmp_path)
    root = phoneme_models
    spec = local(language)
    CoquiEngine.check(spec, root)
    engine = CoquiEngine(spec, root)
    text = "Notice the breath."
    audio = engine.synthesize(text)
    assert float(np.sqrt(np.mean(audio.samples**2))) > 1e-4
    # Every token lasts the same, so the length counts the tokens the model read: piper's
    # phonemes of the cleaned (lower-case) text with its full stop, a blank around each.
    phonemes, stop = piper_sentence(text.lower(), piper_voice)
    tokens = 2 * len(phonemes + stop) + 1
    assert tokens != 2 * len(text) + 1  # not the letters
    assert len(audio.samples) == tokens * FRAMES_PER_TOKEN * 256

    described = json.loads(engine.identity())["phonemizer"]
    assert described["made_by"] == "library" and described["name"] == "espeak"
    assert described["version"] == espeak_binding().version
    assert json.loads(CoquiEngine(local("calm"), project).identity())["phonemizer"] is None


def piper_sentence(text: str, voice: str) -> tuple[str, str]:
    """Piper's phonemes of a one-clause sentence, and the punctuation that ends it."""
    pytest.importorskip("piper", reason="piper-tts is not installed")
    from piper import espeakbridge

    piper_clauses(text, voice)  # initialises piper's espeak-ng and sets the voice
    [(phonemes, stop, _)] = espeakbridge.get_phonemes(text)
    return phonemes, stop


def espeak_binding() -> Any:
    from pipeline.engines.espeak import binding

    return binding()


def test_identity_follows_the_espeak_version(
    phoneme_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    without_program(monkeypatch, tmp_path)
    root = phoneme_models
    spec = local("en-us")
    before = CoquiEngine(spec, root).identity()
    monkeypatch.setattr(espeak_binding(), "version", "1.49.2")  # another espeak-ng
    assert CoquiEngine(spec, root).identity() != before


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
