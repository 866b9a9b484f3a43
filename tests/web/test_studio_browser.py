"""The recording studio in a real browser with a fake microphone: Chromium (through
Playwright) reads a stand-in reading from a WAV file as its microphone, the real server
(``voicetrack serve`` in a process of its own) stores the takes, splits a whole reading and
builds the track.

The stand-in readings are hibari's ``heart`` voice (it ships in the hibari-tts wheel). The
fake microphone plays its file in a loop, so each take holds some rotation of the loop: a
take is found in the input, and in the built track, by normalised cross-correlation.
"""

from __future__ import annotations

import functools
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("django", reason="voicetrack serve's tests need the web extra")
sync_api = pytest.importorskip("playwright.sync_api", reason="the studio's tests need playwright")
pytest.importorskip("hibari", reason="the stand-in readings are spoken by hibari (hibari-tts)")

import pyloudnorm  # noqa: E402
import soundfile as sf  # noqa: E402
from scipy import signal  # noqa: E402

from tests.web.serving import PASSWORD, free_port  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Chromium at /usr/bin/chromium")

THERAPIST = "lee@example.org"
SLUG = "studio-practice"
RATE = 48000
SEGMENTS = (
    ("S0-01", "Welcome to this short practice."),
    ("S0-02", "Notice your breath."),
    ("S0-03", "Let your shoulders soften."),
)
SCRIPT = """\
---
title: Studio practice
voice: tones
---

Welcome to this short practice. [pause 2s]

Notice your breath. [pause 3s]

Let your shoulders soften.
"""
expect = sync_api.expect


# --------------------------------------------------------------------------- stand-ins


@functools.cache
def spoken(text: str) -> np.ndarray:
    """``text`` read by hibari's heart voice at 48 kHz, trimmed to its sound, peak -6 dBFS."""
    from pipeline.engines.base import load_engine
    from pipeline.model import VoiceSpec

    audio = load_engine(VoiceSpec("hibari", model="heart"), Path.cwd()).synthesize(text)
    x = signal.resample_poly(audio.samples.astype(np.float64), RATE, audio.sample_rate)
    loud = np.flatnonzero(np.abs(x) > 1e-3 * np.abs(x).max())
    x = x[loud[0] : loud[-1] + 1]
    return 0.5 * x / np.abs(x).max()


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE))


def write_wav(path: Path, x: np.ndarray) -> Path:
    noise = np.random.default_rng(0).normal(0.0, 10 ** (-70 / 20), len(x))  # a quiet room
    sf.write(path, (x + noise).astype(np.float32), RATE, subtype="PCM_16")
    return path


def match(needle: np.ndarray, haystack: np.ndarray) -> float:
    """The best normalised cross-correlation of ``needle`` anywhere inside ``haystack``."""
    needle = needle - needle.mean()
    products = signal.correlate(haystack, needle, mode="valid", method="fft")
    running = np.concatenate([[0.0], np.cumsum(haystack**2)])
    energy = running[len(needle) :] - running[: -len(needle)]
    scores = products / (np.linalg.norm(needle) * np.sqrt(np.maximum(energy, 1e-12)))
    return float(scores.max())


def windows_match(x: np.ndarray, rate: int, source: np.ndarray) -> list[float]:
    """How well each voiced quarter second of ``x`` is found in ``source`` (same rate).

    Window by window, since the fake microphone's loop is not seamless: each stretch of a
    take is a copy of the file, but the file's position jumps now and then."""
    size = rate // 4
    scores = []
    for start in range(0, len(x) - size + 1, size):
        window = x[start : start + size]
        if np.sqrt(np.mean(window**2)) > 0.01:
            scores.append(match(window, source))
    return scores


def at_rate(x: np.ndarray, rate: int, target: int) -> np.ndarray:
    if rate == target:
        return x
    g = math.gcd(rate, target)
    return signal.resample_poly(x, target // g, rate // g)


# --------------------------------------------------------------------------- the server


@dataclass
class Studio:
    url: str
    root: Path


def voicetrack(root: Path, *args: str, **kwargs) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DJANGO_SETTINGS_MODULE", "VOICETRACK_ROOT")
    }
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args], cwd=root, env=env, text=True,
        capture_output=True, **kwargs,
    )  # fmt: skip


@pytest.fixture(scope="module")
def studio(project_copy) -> Iterator[Studio]:
    """The test project with the practice script built and published, a therapist's account
    and ``voicetrack serve`` running on it."""
    root: Path = project_copy()
    (root / "scripts_src" / f"{SLUG}.md").write_text(SCRIPT, encoding="utf-8")
    published = voicetrack(root, "publish")
    assert published.returncode == 0, published.stderr
    added = voicetrack(root, "users", "add", THERAPIST, "--password-stdin", input=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    port = free_port()
    log = root / "server.log"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DJANGO_SETTINGS_MODULE", "VOICETRACK_ROOT")
    }
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "pipeline", "serve", "--port", str(port)],
            cwd=root, env={**env, "PYTHONUNBUFFERED": "1"}, stdout=output,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    for _ in range(600):  # the server says when it listens
        if "Serving" in log.read_text() or process.poll() is not None:
            break
        time.sleep(0.1)
    assert process.poll() is None, log.read_text()
    yield Studio(f"http://127.0.0.1:{port}", root)
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture
def browser_with_microphone(tmp_path: Path):
    """open(wav) -> a page of a Chromium whose microphone plays ``wav`` in a loop."""
    with sync_api.sync_playwright() as playwright:
        browsers = []

        def open_page(wav: Path):
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM),
                args=[
                    "--no-sandbox",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--no-first-run",
                    "--use-fake-ui-for-media-stream",
                    "--use-fake-device-for-media-stream",
                    f"--use-file-for-fake-audio-capture={wav.resolve()}",
                    "--autoplay-policy=no-user-gesture-required",
                ],
            )
            browsers.append(browser)
            page = browser.new_context().new_page()
            page.set_default_timeout(60_000)
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.errors = errors  # type: ignore[attr-defined]
            return page

        yield open_page
        for browser in browsers:
            browser.close()


def sign_in_and_open_the_studio(page, studio: Studio) -> None:
    page.goto(f"{studio.url}/{SLUG}/")
    page.get_by_role("link", name="Sign in", exact=True).click()
    page.get_by_role("textbox", name="Email").fill(THERAPIST)
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Record in your own voice").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Record “Studio practice” in your own voice"
    )
    page.get_by_role("button", name="Use my microphone").click()
    expect(page.get_by_role("combobox", name="Microphone")).to_be_enabled()
    expect(page.locator("#studio")).to_have_attribute("data-ready", "true")


def role_of(studio: Studio) -> str:
    folders = list((studio.root / "instance" / "takes").iterdir())
    assert len(folders) == 1
    return folders[0].name


# --------------------------------------------------------------------------- tests


def test_record_three_segments_retake_one_build_and_listen(
    studio: Studio, browser_with_microphone, tmp_path: Path
) -> None:
    # The microphone says one sentence every four seconds.
    phrase = np.concatenate([silence(0.5), spoken("Notice the weight of your body."), silence(0.9)])
    loop = np.concatenate([phrase] * 2)  # every rotation of the loop is inside two periods
    page = browser_with_microphone(write_wav(tmp_path / "phrase.wav", phrase))
    sign_in_and_open_the_studio(page, studio)
    root = page.locator("#studio")
    expect(root).to_have_attribute("data-recording-type", "audio/webm;codecs=pcm")
    # Echo cancellation, noise suppression and automatic gain are off, as the browser says.
    expect(root).to_have_attribute("data-processing", "off")

    # Set-up: the meter moves with the voice, and the room is measured as quiet.
    meter = page.get_by_role("meter")
    page.wait_for_function(
        "() => Number(document.querySelector('[role=meter]').getAttribute('aria-valuenow')) > -12"
    )
    assert meter.get_attribute("aria-valuemin") == "-60"
    page.get_by_role("button", name="Measure the room's noise (3 s)").click()
    advice = page.locator("[data-advice]")
    expect(advice).to_contain_text("The room is quiet enough", timeout=10_000)
    assert float(page.locator("#studio").get_attribute("data-noise-floor")) < -60

    progress = page.get_by_role("status").filter(has_text="recorded")
    expect(progress).to_have_text("0 of 3 recorded")
    card = page.locator("[data-card]")
    expect(card.locator("[data-segment-text]")).to_have_text(SEGMENTS[0][1])
    expect(card.locator("[data-segment-cue]")).to_have_text("Pause, 2 s")

    # Space records and stops; → moves on. Each take is uploaded when it stops.
    for n in range(3):
        page.keyboard.press("Space")
        expect(page.get_by_role("button", name="Stop")).to_be_enabled()
        page.wait_for_timeout(2500)
        page.keyboard.press("Space")
        expect(progress).to_have_text(f"{n + 1} of 3 recorded")
        if n < 2:
            page.keyboard.press("ArrowRight")
            expect(card.locator("[data-segment-text]")).to_have_text(SEGMENTS[n + 1][1])
    role = role_of(studio)
    folder = studio.root / "instance" / "takes" / role / SLUG
    before = {sid: (folder / f"{sid}.flac").read_bytes() for sid, _ in SEGMENTS}
    first_length = sf.info(folder / "S0-02.flac").duration

    # ← goes back; Retake replaces that take only.
    page.keyboard.press("ArrowLeft")
    expect(root).to_have_attribute("data-current", "S0-02")
    page.get_by_role("button", name="Retake").click()
    page.wait_for_timeout(3300)  # longer than the first take: the loop may repeat it exactly
    page.get_by_role("button", name="Stop").click()
    page.wait_for_function(
        "() => !document.querySelector('[data-segment=\"S0-02\"]').dataset.uploading"
    )
    expect(progress).to_have_text("3 of 3 recorded")
    assert sf.info(folder / "S0-02.flac").duration > first_length + 0.4
    assert {sid: (folder / f"{sid}.flac").read_bytes() for sid in ("S0-01", "S0-03")} == {
        sid: before[sid] for sid in ("S0-01", "S0-03")
    }

    # What is stored: a 24-bit FLAC per segment holding the microphone's sound, and records.
    records = json.loads((folder / "takes.json").read_text())["segments"]
    assert {sid: records[sid]["text"] for sid in records} == dict(SEGMENTS)
    for sid, _ in SEGMENTS:
        take, rate = sf.read(folder / f"{sid}.flac")
        assert sf.info(folder / f"{sid}.flac").subtype == "PCM_24"
        # Each take is 2.5 s of recording (the retake 3.3 s), give or take the browser.
        assert 1.5 < len(take) / rate < (5.0 if sid == "S0-02" else 3.5), sid
        scores = windows_match(take, rate, at_rate(loop, RATE, rate))
        assert len(scores) >= 2 and min(scores) > 0.95, (sid, scores)
    status = voicetrack(studio.root, "takes", "status", f"scripts_src/{SLUG}.md", "--voice", role)
    assert status.returncode == 0, status.stdout + status.stderr
    assert [line.split()[:2] for line in status.stdout.splitlines()[:3]] == [
        [sid, "ok"] for sid, _ in SEGMENTS
    ]

    # Play back plays the stored take.
    page.get_by_role("button", name="Play back").click()
    page.wait_for_function("() => document.querySelector('[data-playback]').currentTime > 0.2")

    # Build my track: progress on the page, then the track plays there.
    published = (studio.root / "out" / "site" / SLUG / f"{SLUG}.en-GB.mp3").read_bytes()
    page.get_by_role("button", name="Build my track").click()
    expect(page.get_by_text("Your track is ready.")).to_be_visible(timeout=180_000)
    page.wait_for_function("() => document.querySelector('[data-track]').duration > 5")
    expect(page.get_by_role("button", name="Send securely to my client")).to_be_visible()
    assert page.errors == []  # type: ignore[attr-defined]

    out = studio.root / "instance" / "studio" / role / SLUG
    manifest = json.loads((out / f"{SLUG}.en-GB.json").read_text())
    assert manifest["voice"]["role"] == role and manifest["voice"]["engine"] == "takes"
    assert (studio.root / "out" / "site" / SLUG / f"{SLUG}.en-GB.mp3").read_bytes() == published
    check_track(studio, out / f"{SLUG}.en-GB.mp3", manifest, loop)


def check_track(studio: Studio, mp3: Path, manifest: dict, loop: np.ndarray) -> None:
    """The pauses are the script's, to the millisecond and silent; each segment is the
    microphone's sound; the loudness is on target."""
    from pipeline.ffmpeg import decode_file
    from pipeline.parse import load_script
    from pipeline.plan import plan_locale

    rate = 44100
    track = decode_file(mp3, rate)
    track = track.mean(axis=1) if track.ndim == 2 else track
    plan = plan_locale(
        load_script(studio.root / "scripts_src" / f"{SLUG}.md", studio.root), "en-GB"
    )
    planned = [item.seconds for item in plan.items if item.kind == "silence"]
    silences = [s for s in manifest["segments"] if s["kind"] == "silence"]
    assert [round(s["end"] - s["start"], 3) for s in silences] == planned
    for entry in silences:
        start, end = int(entry["start"] * rate) + 441, int(entry["end"] * rate) - 441
        if end > start:
            quiet = track[start:end]
            assert 20 * np.log10(np.sqrt(np.mean(quiet**2)) + 1e-12) < -60, entry
    source = at_rate(loop, RATE, rate)
    for entry in (s for s in manifest["segments"] if s["kind"] == "speech"):
        excerpt = track[int(entry["start"] * rate) : int(entry["end"] * rate)]
        scores = windows_match(excerpt, rate, source)
        assert len(scores) >= 2 and min(scores) > 0.9, (entry["id"], scores)
    meter = pyloudnorm.Meter(rate)
    assert abs(meter.integrated_loudness(track) - plan.meta.loudness) <= 1.0


def test_one_take_is_split_into_a_take_per_segment(
    studio: Studio, browser_with_microphone, tmp_path: Path
) -> None:
    readings = [spoken(text) for _, text in SEGMENTS]
    parts = [silence(1.0), readings[0], silence(1.6), readings[1], silence(2.2), readings[2]]
    parts.append(silence(1.5))
    reading = np.concatenate(parts)
    starts = np.cumsum([0] + [len(x) for x in parts]) / RATE
    truth = {sid: (starts[1 + 2 * k], starts[2 + 2 * k]) for k, (sid, _) in enumerate(SEGMENTS)}
    page = browser_with_microphone(write_wav(tmp_path / "reading.wav", reading))
    sign_in_and_open_the_studio(page, studio)
    role = page.locator("#studio").get_attribute("data-take-url").split("/")[3]

    page.get_by_role("button", name="Record in one take").click()
    expect(page.locator("#studio")).to_have_attribute("data-mode", "reading")
    started = time.monotonic()
    # The reader moves the page on in each pause: → once, Space once.
    for (_, end), key in zip(list(truth.values())[:2], ("ArrowRight", "Space"), strict=True):
        page.wait_for_timeout(max(0.0, end + 0.6 - (time.monotonic() - started)) * 1000)
        page.keyboard.press(key)
    expect(page.locator("#studio")).to_have_attribute("data-current", "S0-03")
    length = len(reading) / RATE
    page.wait_for_timeout(max(0.0, length - 0.7 - (time.monotonic() - started)) * 1000)
    page.get_by_role("button", name="Finish the reading").click()
    expect(page.get_by_role("status").filter(has_text="The reading was cut")).to_have_text(
        "The reading was cut into 3 takes.", timeout=120_000
    )
    expect(page.get_by_role("status").filter(has_text="recorded")).to_have_text("3 of 3 recorded")

    folder = studio.root / "instance" / "takes" / role / SLUG
    records = json.loads((folder / "takes.json").read_text())["segments"]
    assert sorted(records) == [sid for sid, _ in SEGMENTS]
    for k, (sid, _) in enumerate(SEGMENTS):
        record = records[sid]
        assert record["source"].startswith(f"instance/recordings/{role}/{SLUG}.en-GB.")
        # Cut at the speech (within 0.25 s: the handles, and the recorder's start-up).
        start, end = truth[sid]
        assert abs(record["start"] - start) < 0.25 and abs(record["end"] - end) < 0.25, sid
        take, rate = sf.read(folder / f"{sid}.flac")
        said = at_rate(readings[k], RATE, rate)
        padded = np.concatenate([np.zeros(len(said)), take, np.zeros(len(said))])
        assert match(said, padded) > 0.9, sid  # each take holds its own segment's reading
    assert page.errors == []  # type: ignore[attr-defined]
