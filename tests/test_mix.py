"""Bells and a background bed, built end to end on the fake engine: where the bell strikes,
how loud the bed sits and how far it dips, the stems, and the encoded mix on target."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from pipeline.build import BuildOptions, build
from pipeline.ffmpeg import decode_file
from pipeline.master import LoudnessMeter, integrated_loudness, measure_file
from pipeline.sound import bowl

SR = 44100
TONES = """\
description = "test tones"

[en-GB]
engine = "fake"
model = "gb"
"""
SCRIPT = """\
---
title: Bell and Bed
voice: tones
locales: [en-GB]
bed: rain.wav
bed_level: -18
bed_duck: 8
lead_in: 2s
tail: 3s
---

[bell]

Settle into a comfortable position. Let your shoulders drop.

[pause 8s]

Breathe in slowly. Breathe out gently. Notice the air.

[bell 3s] [pause 2s]

Rest here for a moment longer.

[bell]
"""


def rain(seconds: float = 7.3) -> np.ndarray:
    """A steady noise bed, shaped darker like rain on a roof (seeded, so always the same)."""
    rng = np.random.default_rng(7)
    white = rng.normal(0.0, 1.0, int(seconds * SR))
    dark = np.convolve(white, np.ones(8) / 8, mode="same")
    return (0.2 * dark / np.abs(dark).max()).astype(np.float32)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    project = tmp_path_factory.mktemp("mix")
    (project / "scripts_src").mkdir()
    (project / "voices").mkdir()
    (project / "voices" / "tones.toml").write_text(TONES, encoding="utf-8")
    (project / "scripts_src" / "bell-and-bed.md").write_text(SCRIPT, encoding="utf-8")
    sf.write(project / "scripts_src" / "rain.wav", rain(), SR, subtype="FLOAT")
    options = BuildOptions(root=project, out_dir=project / "out", stems=True)
    build(sorted((project / "scripts_src").glob("*.md")), options)
    return project / "out" / "bell-and-bed"


def manifest(out: Path) -> dict:
    return json.loads((out / "bell-and-bed.en-GB.json").read_text())


def stem(out: Path, name: str) -> np.ndarray:
    samples, rate = sf.read(out / f"bell-and-bed.en-GB.{name}.flac", dtype="float32")
    assert rate == SR
    return samples


def spans(data: dict, kind: str) -> list[tuple[int, int]]:
    return [
        (round(s["start"] * SR), round(s["end"] * SR))
        for s in data["segments"]
        if s["kind"] == kind
    ]


def test_bells_strike_at_their_pauses_and_take_the_ring_s_length(built):
    data = manifest(built)
    bells = [s for s in data["segments"] if s["kind"] == "bell"]
    assert [b["line"] for b in bells] == [12, 20, 24]
    ring = len(bowl()) / SR
    lengths = [round(b["end"] - b["start"], 3) for b in bells]
    # [bell]: the ring rounded up to 0.1 s; [bell 3s]: 3 s, then its own [pause 2s] after.
    assert lengths == [math.ceil(ring * 10 - 1e-9) / 10, 3.0, math.ceil(ring * 10 - 1e-9) / 10]
    after = data["segments"][data["segments"].index(bells[1]) + 1]
    assert after["kind"] == "silence" and round(after["end"] - after["start"], 3) == 2.0
    # The strike is exact to the sample: the voice stem holds the bowl, unchanged, from
    # one sample on (and from no other near it); that sample is the manifest's time.
    voice = stem(built, "voice")
    strike = bowl()
    for start, _ in spans(data, "bell")[::2]:
        exact = [
            at
            for at in range(start - 25, start + 26)
            if np.abs(voice[at : at + len(strike)] - strike).max() < 1e-6
        ]
        assert len(exact) == 1 and abs(exact[0] - start) <= SR // 2000
    # The [bell 3s] ring is cut to its pause with a fade: nothing rings into the next one.
    start, end = spans(data, "bell")[1]
    assert np.abs(voice[start - 25 : start + SR]).max() == pytest.approx(0.5, abs=0.01)
    assert not voice[end + 25 : end + 2 * SR - 100].any()  # until the next speech
    assert np.abs(voice[end - 200 : end - 25]).max() < 0.01 * np.abs(strike).max()


def test_captions_have_no_cue_for_a_bell(built):
    vtt = (built / "bell-and-bed.en-GB.vtt").read_text()
    assert "bell" not in vtt.lower()
    assert vtt.count("-->") == 6  # the six sentences


def test_the_bed_sits_at_its_level_in_the_pauses_and_dips_under_speech(built):
    data = manifest(built)
    voice, bed = stem(built, "voice"), stem(built, "bed")
    assert len(voice) == len(bed)
    assert abs(len(voice) - data["duration"] * SR) < SR / 1000
    speech = spans(data, "speech")
    # The pause of 8 s after the first paragraph, clear of the attack and release.
    pause_start, pause_end = speech[0][1], speech[1][0]
    quiet = bed[pause_start + SR : pause_end - SR]
    voice_only_speech = np.concatenate([voice[a:b] for a, b in speech])
    voice_lufs = integrated_loudness(voice_only_speech, SR)
    assert integrated_loudness(quiet, SR) - voice_lufs == pytest.approx(-18, abs=1.0)
    # Under speech (clear of the ramps) the bed is bed_duck dB down from the pauses.
    under = np.concatenate([bed[a + SR // 2 : b - SR // 2] for a, b in speech if b - a > SR * 2])
    depth = 20 * np.log10(np.sqrt(np.mean(under**2)) / np.sqrt(np.mean(quiet**2)))
    assert depth == pytest.approx(-8, abs=1.5)
    # It fades in over lead_in and out over tail: it starts and ends in silence.
    assert abs(bed[0]) < 1e-4 and abs(bed[-1]) < 1e-4
    assert np.abs(bed[: SR // 10]).max() < np.abs(bed[2 * SR : 3 * SR]).max() / 4


def test_the_mix_is_on_target_and_the_voice_keeps_its_timing(built):
    data = manifest(built)
    mp3 = built / "bell-and-bed.en-GB.mp3"
    measured = measure_file(mp3)
    assert measured.integrated_lufs == pytest.approx(-16.0, abs=0.5)
    assert measured.true_peak_dbtp <= -1.0
    assert data["loudness"]["integrated_lufs"] == pytest.approx(measured.integrated_lufs, abs=0.1)
    assert data["bed"]["file"] == "rain.wav" and len(data["bed"]["digest"]) == 64
    decoded = decode_file(mp3)
    voice, bed = stem(built, "voice"), stem(built, "bed")
    assert len(decoded) == len(voice)
    # The stems sum to the master before limiting: the decoded mix is one gain times their
    # sum, up to the limiter and the codec.
    mixed = voice + bed
    gain = float(np.dot(decoded, mixed) / np.dot(mixed, mixed))
    residual = decoded - gain * mixed
    assert 10 * np.log10(np.mean(residual**2) / np.mean(decoded**2)) < -20
    # Each speech segment of the mix lines up with the voice stem, to the sample.
    for start, end in spans(data, "speech"):
        window = slice(start, min(end, start + SR))
        reference = voice[window]
        lags = range(-20, 21)
        scores = [
            float(np.dot(decoded[start + lag : start + lag + len(reference)], reference))
            for lag in lags
        ]
        assert lags[int(np.argmax(scores))] == 0


def test_replacing_the_bed_rebuilds_the_tracks_that_use_it(tmp_path):
    (tmp_path / "scripts_src").mkdir()
    (tmp_path / "voices").mkdir()
    (tmp_path / "voices" / "tones.toml").write_text(TONES, encoding="utf-8")
    (tmp_path / "scripts_src" / "bell-and-bed.md").write_text(SCRIPT, encoding="utf-8")
    plain = SCRIPT.replace("bed: rain.wav\n", "").replace("[bell]", "").replace("[bell 3s]", "")
    (tmp_path / "scripts_src" / "plain.md").write_text(plain, encoding="utf-8")
    sf.write(tmp_path / "scripts_src" / "rain.wav", rain(), SR, subtype="FLOAT")
    options = BuildOptions(root=tmp_path, out_dir=tmp_path / "out")
    paths = sorted((tmp_path / "scripts_src").glob("*.md"))
    build(paths, options)
    assert all(r.up_to_date for r in build(paths, options))
    sf.write(tmp_path / "scripts_src" / "rain.wav", rain(5.1), SR, subtype="FLOAT")
    again = {r.job.slug: r.up_to_date for r in build(paths, options)}
    assert again == {"bell-and-bed": False, "plain": True}


def test_a_track_without_a_bed_is_the_voice_alone(tmp_path):
    (tmp_path / "scripts_src").mkdir()
    (tmp_path / "voices").mkdir()
    (tmp_path / "voices" / "tones.toml").write_text(TONES, encoding="utf-8")
    script = SCRIPT.replace("bed: rain.wav\n", "")
    (tmp_path / "scripts_src" / "bells.md").write_text(script, encoding="utf-8")
    options = BuildOptions(root=tmp_path, out_dir=tmp_path / "out", stems=True)
    build([tmp_path / "scripts_src" / "bells.md"], options)
    out = tmp_path / "out" / "bells"
    assert (out / "bells.en-GB.voice.flac").exists()
    assert not (out / "bells.en-GB.bed.flac").exists()
    data = json.loads((out / "bells.en-GB.json").read_text())
    assert "bed" not in data
    meter = LoudnessMeter(SR)
    meter.add(decode_file(out / "bells.en-GB.mp3"))
    assert meter.integrated() == pytest.approx(-16.0, abs=0.5)
