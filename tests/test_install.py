"""Installing voices from a local HTTP server: verified, atomic, and clear when offline.

Every test serves generated files from 127.0.0.1 and points the installer at it with
VOICETRACK_VOICES_URL, exactly as a mirror would be used; nothing reaches the network.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fixtures.tiny_vits import SKIP_REASON

from pipeline import install
from pipeline.engines.hibari import HibariEngine
from pipeline.engines.piper import PIPER_BASE_URL, PiperEngine
from pipeline.errors import InstallError, VoiceUnavailable
from pipeline.install import BASE_URL_ENV, available_voices, install_voice
from pipeline.model import VoiceSpec

PIPER_VOICE = "en_GB-northern_english_male-medium"
PIPER_FOLDER = "en/en_GB/northern_english_male/medium"


class VoiceServer:
    """A static file server on 127.0.0.1 that can also cut a body short."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.cut_short: set[str] = set()  # paths whose body stops halfway, connection closed
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
                server.requests.append(self.path)
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.path in server.cut_short:
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[VoiceServer]:
    running = VoiceServer()
    monkeypatch.setenv(BASE_URL_ENV, running.url)
    yield running
    running.close()


@pytest.fixture
def homes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Empty hibari cache and voicetrack data folders of the test's own."""
    folders = {"hibari": tmp_path / "hibari", "data": tmp_path / "data"}
    monkeypatch.setenv("HIBARI_HOME", str(folders["hibari"]))
    monkeypatch.setenv("VOICETRACK_DATA_DIR", str(folders["data"]))
    return folders


def fake_model(size: int, seed: int = 0) -> bytes:
    """Incompressible bytes standing in for a model file."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


@pytest.fixture
def hibari_emma(server: VoiceServer, monkeypatch: pytest.MonkeyPatch) -> bytes:
    """Serve a stand-in for emma's model and make hibari's registry describe it."""
    import hibari.voices

    body = fake_model(300_000)
    entry = dict(hibari.voices.VOICES["emma"])
    entry.update(bytes=len(body), sha256=hashlib.sha256(body).hexdigest())
    monkeypatch.setitem(hibari.voices.VOICES, "emma", entry)
    server.files[f"/hibari/{entry['file']}"] = body
    return body


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


# --------------------------------------------------------------------------- hibari


def test_hibari_voice_installs_where_the_engine_finds_it(
    hibari_emma: bytes, homes: dict[str, Path], tmp_path: Path
) -> None:
    spec = VoiceSpec("hibari", model="emma")
    with pytest.raises(VoiceUnavailable, match="not downloaded"):
        HibariEngine.check(spec, tmp_path)
    seen: list[tuple[str, int, int | None]] = []
    path = install_voice("emma", progress=lambda *event: seen.append(event))
    assert path == homes["hibari"] / "bf_emma.int8.onnx"
    assert path.read_bytes() == hibari_emma
    HibariEngine.check(spec, tmp_path)  # found
    assert install.is_installed("emma") and not install.is_installed("fable")
    assert leftovers(homes["hibari"]) == ["bf_emma.int8.onnx"]
    done = [event[1] for event in seen]
    assert done[0] == 0 and done[-1] == len(hibari_emma) and done == sorted(done)
    assert {event[2] for event in seen} == {len(hibari_emma)}


def test_installed_voice_is_not_fetched_again(
    hibari_emma: bytes, homes: dict[str, Path], server: VoiceServer
) -> None:
    install_voice("emma")
    assert len(server.requests) == 1
    install_voice("emma")
    assert len(server.requests) == 1
    install_voice("emma", force=True)
    assert len(server.requests) == 2


def test_damaged_installed_file_is_replaced(
    hibari_emma: bytes, homes: dict[str, Path], server: VoiceServer
) -> None:
    damaged = homes["hibari"] / "bf_emma.int8.onnx"
    damaged.parent.mkdir(parents=True)
    damaged.write_bytes(b"half a model")
    assert install_voice("emma").read_bytes() == hibari_emma


def test_checksum_mismatch_installs_nothing(
    hibari_emma: bytes, homes: dict[str, Path], server: VoiceServer
) -> None:
    # Same length, one byte different: only the checksum can tell.
    path = "/hibari/bf_emma.int8.onnx"
    server.files[path] = hibari_emma[:-1] + bytes([hibari_emma[-1] ^ 1])
    with pytest.raises(InstallError, match="does not match its published sha256"):
        install_voice("emma")
    assert leftovers(homes["hibari"]) == []


def test_interrupted_download_installs_nothing(
    hibari_emma: bytes, homes: dict[str, Path], server: VoiceServer
) -> None:
    server.cut_short.add("/hibari/bf_emma.int8.onnx")
    with pytest.raises(InstallError, match=r"stopped after 150000 of 300000 bytes"):
        install_voice("emma")
    assert leftovers(homes["hibari"]) == []


def test_no_server_explains_how_to_install_by_hand(
    homes: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv(BASE_URL_ENV, f"http://127.0.0.1:{port}")
    with pytest.raises(InstallError) as caught:
        install_voice("fable")
    error = caught.value
    assert f"cannot reach 127.0.0.1:{port}" in str(error)
    assert "refused" in str(error).lower()
    import hibari.voices

    entry = hibari.voices.VOICES["fable"]
    assert error.hint is not None
    assert f"http://127.0.0.1:{port}/hibari/{entry['file']}" in error.hint
    assert str(homes["hibari"] / entry["file"]) in error.hint
    assert entry["sha256"] in error.hint
    assert BASE_URL_ENV in error.hint
    assert leftovers(homes["hibari"]) == []


def test_missing_file_on_server(homes: dict[str, Path], server: VoiceServer) -> None:
    with pytest.raises(InstallError, match="answered HTTP 404"):
        install_voice("kore")
    assert leftovers(homes["hibari"]) == []


def test_folder_copied_from_another_machine(
    hibari_emma: bytes, homes: dict[str, Path], tmp_path: Path
) -> None:
    mirror = tmp_path / "usb stick"
    (mirror / "hibari").mkdir(parents=True)
    (mirror / "hibari" / "bf_emma.int8.onnx").write_bytes(hibari_emma)
    path = install_voice("emma", base_url=mirror.as_uri())
    assert path.read_bytes() == hibari_emma


# --------------------------------------------------------------------------- piper


PIPER_CONFIG = {
    "audio": {"sample_rate": 22050, "quality": "medium"},
    "espeak": {"voice": "en-gb-x-gbclan"},
    "num_speakers": 1,
    "speaker_id_map": {},
}
PIPER_CARD = b"# Model card for northern_english_male (medium)\n\n* License: CC BY-SA 4.0\n"


@pytest.fixture
def piper_voice(server: VoiceServer) -> dict[str, bytes]:
    """Serve a piper voice and a voices.json that lists it with sizes and md5 digests."""
    files = {
        f"{PIPER_FOLDER}/{PIPER_VOICE}.onnx": fake_model(200_000, seed=1),
        f"{PIPER_FOLDER}/{PIPER_VOICE}.onnx.json": json.dumps(PIPER_CONFIG).encode(),
        f"{PIPER_FOLDER}/MODEL_CARD": PIPER_CARD,
    }
    publish_piper(server, files)
    return files


def publish_piper(server: VoiceServer, files: dict[str, bytes], listed: dict | None = None) -> None:
    catalogue = {
        PIPER_VOICE: {
            "key": PIPER_VOICE,
            "files": listed
            or {
                path: {"size_bytes": len(body), "md5_digest": hashlib.md5(body).hexdigest()}
                for path, body in files.items()
            },
            "aliases": [],
        }
    }
    server.files["/piper/voices.json"] = json.dumps(catalogue).encode()
    for path, body in files.items():
        server.files[f"/piper/{path}"] = body


def test_piper_voice_installs_where_the_engine_finds_it(
    piper_voice: dict[str, bytes], homes: dict[str, Path], tmp_path: Path
) -> None:
    spec = VoiceSpec("piper", model=PIPER_VOICE)
    with pytest.raises(VoiceUnavailable):
        PiperEngine.check(spec, tmp_path)
    path = install_voice(PIPER_VOICE)
    folder = homes["data"] / "piper"
    assert path == folder / f"{PIPER_VOICE}.onnx"
    assert path.read_bytes() == piper_voice[f"{PIPER_FOLDER}/{PIPER_VOICE}.onnx"]
    PiperEngine.check(spec, tmp_path)
    assert install.is_installed(PIPER_VOICE)
    assert PiperEngine.licence(spec) == "CC BY-SA 4.0"  # read from the installed MODEL_CARD
    assert leftovers(folder) == [
        f"{PIPER_VOICE}.MODEL_CARD",
        f"{PIPER_VOICE}.onnx",
        f"{PIPER_VOICE}.onnx.json",
    ]


def test_piper_md5_mismatch_installs_nothing(
    piper_voice: dict[str, bytes], homes: dict[str, Path], server: VoiceServer
) -> None:
    config = f"/piper/{PIPER_FOLDER}/{PIPER_VOICE}.onnx.json"
    server.files[config] = server.files[config].replace(b"22050", b"22051")
    with pytest.raises(InstallError, match="does not match its published md5"):
        install_voice(PIPER_VOICE)
    assert leftovers(homes["data"]) == ["piper"]  # the folder, empty


def test_piper_size_must_match_the_catalogue(
    piper_voice: dict[str, bytes], homes: dict[str, Path], server: VoiceServer
) -> None:
    model = f"{PIPER_FOLDER}/{PIPER_VOICE}.onnx"
    listed = {path: {"size_bytes": len(body)} for path, body in piper_voice.items()}
    listed[model] = {"size_bytes": len(piper_voice[model]) + 1}
    publish_piper(server, piper_voice, listed)
    with pytest.raises(InstallError, match="not the 200001 its catalogue lists"):
        install_voice(PIPER_VOICE)
    assert leftovers(homes["data"] / "piper") == []


def test_piper_interrupted_model_leaves_nothing(
    piper_voice: dict[str, bytes], homes: dict[str, Path], server: VoiceServer
) -> None:
    # The config and card arrive first, whole; the model breaks off: none of them is kept.
    server.cut_short.add(f"/piper/{PIPER_FOLDER}/{PIPER_VOICE}.onnx")
    with pytest.raises(InstallError, match="stopped after 100000 of 200000 bytes"):
        install_voice(PIPER_VOICE)
    assert leftovers(homes["data"] / "piper") == []


def test_piper_voice_not_in_catalogue(
    piper_voice: dict[str, bytes], homes: dict[str, Path]
) -> None:
    with pytest.raises(InstallError, match="has no voice 'en_GB-nobody-medium'") as caught:
        install_voice("en_GB-nobody-medium")
    assert "by hand" not in (caught.value.hint or "")  # there is nothing to fetch by hand


def test_piper_offline_names_both_files(
    homes: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(BASE_URL_ENV, "http://127.0.0.1:9")  # discard port: refused
    with pytest.raises(InstallError) as caught:
        install_voice(PIPER_VOICE)
    hint = caught.value.hint or ""
    folder = homes["data"] / "piper"
    for name in (f"{PIPER_VOICE}.onnx", f"{PIPER_VOICE}.onnx.json"):
        assert f"http://127.0.0.1:9/piper/{PIPER_FOLDER}/{name}" in hint
        assert str(folder / name) in hint


def test_default_piper_source_is_pipers_own() -> None:
    from piper.download_voices import URL_FORMAT

    assert URL_FORMAT.startswith(PIPER_BASE_URL + "/")


# --------------------------------------------------------------------------- the catalogue


def test_available_voices() -> None:
    voices = {voice.name: voice for voice in available_voices()}
    assert len(voices) == len(available_voices())  # names are unique
    for name, locale in (
        ("emma", "en-GB"),
        ("fable", "en-GB"),
        ("fenrir", "en-US"),
        ("kore", "en-US"),
    ):
        assert voices[name].engine == "hibari" and voices[name].locale == locale
        assert voices[name].size and voices[name].size > 7_000_000
        assert "Apache-2.0" in voices[name].licence
    assert "heart" not in voices  # ships inside hibari
    assert voices[PIPER_VOICE].engine == "piper" and voices[PIPER_VOICE].locale == "en-GB"
    assert "non-commercial" in voices["en_US-lessac-medium"].licence
    xtts = voices["tts_models/multilingual/multi-dataset/xtts_v2"]
    assert xtts.engine == "coqui" and "non-commercial" in xtts.licence
    for voice in voices.values():
        assert voice.description and voice.licence and voice.source.startswith("https://")


def test_unknown_voice() -> None:
    with pytest.raises(InstallError, match="no installable voice is called 'emmaa'") as caught:
        install_voice("emmaa")
    assert "voicetrack voices available" in (caught.value.hint or "")


# --------------------------------------------------------------------------- coqui


def test_coqui_model_without_coqui(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.engines import coqui

    monkeypatch.setattr(coqui, "coqui_available", lambda: False)
    with pytest.raises(InstallError) as caught:
        install_voice("tts_models/en/vctk/vits")
    assert caught.value.hint == "pip install 'voicetrack[coqui]'"


@pytest.fixture
def coqui_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    pytest.importorskip("TTS", reason=SKIP_REASON)
    import huggingface_hub.constants

    monkeypatch.setenv("TTS_HOME", str(tmp_path / "coqui"))
    monkeypatch.delenv("COQUI_TOS_AGREED", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    return tmp_path / "coqui" / "tts"


@pytest.fixture
def ljspeech_zip(server: VoiceServer, tmp_path: Path) -> bytes:
    """A release ZIP shaped like Coqui's, holding a tiny untrained VITS."""
    import zipfile

    from fixtures.tiny_vits import build_tiny_vits

    model = build_tiny_vits(tmp_path / "build", seed=5)
    archive = tmp_path / "tts_models--en--ljspeech--vits.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("tts_models--en--ljspeech--vits/", "")  # as zip -r writes it
        zipped.write(model / "model.pth", "tts_models--en--ljspeech--vits/model_file.pth")
        zipped.write(model / "config.json", "tts_models--en--ljspeech--vits/config.json")
    body = archive.read_bytes()
    server.files["/coqui/tts_models--en--ljspeech--vits.zip"] = body
    return body


def test_coqui_release_model_installs_where_the_engine_finds_it(
    ljspeech_zip: bytes, coqui_home: Path, tmp_path: Path
) -> None:
    from pipeline.engines.coqui import CoquiEngine

    spec = VoiceSpec("coqui", model="tts_models/en/ljspeech/vits")
    with pytest.raises(VoiceUnavailable):
        CoquiEngine.check(spec, tmp_path)
    assert not install.is_installed("tts_models/en/ljspeech/vits")
    seen: list[tuple[str, int, int | None]] = []
    folder = install_voice(spec.model or "", progress=lambda *event: seen.append(event))
    assert install.is_installed("tts_models/en/ljspeech/vits")
    assert folder == coqui_home / "tts_models--en--ljspeech--vits"
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model_file.pth"]
    assert [p.name for p in coqui_home.iterdir()] == [folder.name]  # no staging left
    assert seen[0][1] == 0 and seen[-1][1] == seen[-1][2] > 0
    CoquiEngine.check(spec, tmp_path)
    assert len(CoquiEngine(spec, tmp_path).synthesize("Rest here.").samples) > 0


@pytest.mark.parametrize("damage", ["truncated", "flipped byte"])
def test_coqui_damaged_zip_installs_nothing(
    ljspeech_zip: bytes, coqui_home: Path, server: VoiceServer, damage: str
) -> None:
    if damage == "truncated":  # the ZIP's directory is at its end
        body = ljspeech_zip[:-200]
    else:  # inside the compressed checkpoint: only the CRC or the inflater can tell
        middle = len(ljspeech_zip) // 2
        body = (
            ljspeech_zip[:middle]
            + bytes([ljspeech_zip[middle] ^ 0xFF])
            + ljspeech_zip[middle + 1 :]
        )
    server.files["/coqui/tts_models--en--ljspeech--vits.zip"] = body
    with pytest.raises(InstallError, match="not a valid ZIP"):
        install_voice("tts_models/en/ljspeech/vits")
    assert list(coqui_home.iterdir()) == []


def test_coqui_offline(coqui_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BASE_URL_ENV, "http://127.0.0.1:9")
    with pytest.raises(InstallError, match="cannot reach") as caught:
        install_voice("tts_models/en/vctk/vits")
    hint = caught.value.hint or ""
    assert "http://127.0.0.1:9/coqui/tts_models--en--vctk--vits.zip" in hint
    assert str(coqui_home / "tts_models--en--vctk--vits") in hint
    assert list(coqui_home.iterdir()) == []


def test_xtts_needs_its_licence_accepted(coqui_home: Path) -> None:
    with pytest.raises(InstallError, match="Coqui Public Model License") as caught:
        install_voice("tts_models/multilingual/multi-dataset/xtts_v2")
    assert "COQUI_TOS_AGREED=1" in (caught.value.hint or "")


# --------------------------------------------------------------------------- the profiles


@pytest.mark.parametrize("role", ["narrator-male", "narrator-vctk"])
def test_profiles_of_installable_voices_render_anywhere(
    role: str, homes: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.voices import load_profiles, resolve_voice

    monkeypatch.setenv("TTS_HOME", str(tmp_path / "coqui"))  # nothing installed anywhere
    project = Path(__file__).resolve().parents[1]
    profile = load_profiles(project)[role]
    offline = {"en-GB": "espeak-ng:en-gb-x-rp", "en-US": "hibari:heart"}
    for locale, last in offline.items():
        choices = profile.choices(locale)
        assert choices[0].engine in ("piper", "hibari", "coqui")
        assert choices[-1].label == last
        voice = resolve_voice(role, locale, project)
        assert voice.fallback  # the neural first choice is not installed here...
        assert voice.skipped[0][1]  # ...and the reason is given


# --------------------------------------------------------------------------- end to end


def test_after_installing_emma_the_narrator_speaks_british_english_without_fallback(
    server: VoiceServer,
    homes: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`voicetrack voices install emma`, then a build: en-GB is rendered by hibari emma and
    no fallback is reported. The server hands out a real hibari model (the bundled voice's
    file, under emma's name, with the registry describing it), so the build really speaks."""
    import hibari.voices
    from click.testing import CliRunner

    from pipeline.cli import main
    from pipeline.engines.hibari import _voice_file

    body = _voice_file("heart").read_bytes()
    entry = dict(hibari.voices.VOICES["emma"])
    entry.update(bytes=len(body), sha256=hashlib.sha256(body).hexdigest())
    monkeypatch.setitem(hibari.voices.VOICES, "emma", entry)
    server.files[f"/hibari/{entry['file']}"] = body

    project = tmp_path / "project"
    (project / "scripts_src").mkdir(parents=True)
    (project / "scripts_src" / "hello.md").write_text(
        "---\ntitle: Hello\n---\n\nWelcome, and thank you for joining this practice.\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(project)
    runner = CliRunner()

    before = runner.invoke(main, ["voices"], catch_exceptions=False)
    assert "voicetrack voices install emma" in before.stdout

    installed = runner.invoke(main, ["voices", "install", "emma"], catch_exceptions=False)
    assert installed.exit_code == 0, installed.output
    assert f"/hibari/{entry['file']}" in server.requests

    built = runner.invoke(
        main, ["build", "-q", "--locale", "en-GB", "--jobs", "1"], catch_exceptions=False
    )
    assert built.exit_code == 0, built.output
    assert "fallback" not in built.stdout
    manifest = json.loads(
        (project / "out" / "hello" / "hello.en-GB.json").read_text(encoding="utf-8")
    )
    assert manifest["voice"] == {
        "role": "narrator",
        "engine": "hibari",
        "model": "emma",
        "fallback": False,
    }
    assert "voice_hint" not in manifest
    assert manifest["duration"] > 2.0
