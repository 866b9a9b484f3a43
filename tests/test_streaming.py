"""Long tracks are streamed: the meters and the master work a block at a time, give what
the whole track at once gives, and an hour-long build stays within a memory budget."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile
from audio_helpers import lufs, speech_like
from scipy.signal import sosfilt

from pipeline import master as master_module
from pipeline.ffmpeg import decode_file
from pipeline.master import (
    LoudnessMeter,
    TruePeakMeter,
    integrated_loudness,
    k_weighting,
    master,
    measure_file,
    true_peak_dbtp,
)
from pipeline.model import SAMPLE_RATE, TrackAudio

SR = SAMPLE_RATE


def speech_and_silence(seed: int = 0) -> np.ndarray:
    """Speech-like stretches at different levels, with digital silence between them."""
    parts = [np.zeros(SR // 2, dtype=np.float32)]
    for index, level in enumerate((-18.0, -30.0, -12.0)):
        parts += [speech_like(7, seed=seed + index, level_dbfs=level)]
        parts += [np.zeros((index + 2) * SR + 123, dtype=np.float32)]
    return np.concatenate(parts)


def whole_array_loudness(samples: np.ndarray) -> float:
    """BS.1770-4 gated loudness over the whole array at once: the plain textbook form."""
    weighted = sosfilt(k_weighting(SR), samples.astype(np.float64))
    size, hop = round(0.4 * SR), round(0.1 * SR)
    starts = range(0, len(weighted) - size + 1, hop)
    energies = np.array([np.mean(np.square(weighted[s : s + size])) for s in starts])
    with np.errstate(divide="ignore"):
        levels = -0.691 + 10 * np.log10(energies)
    gated = energies[levels > -70.0]
    relative = -0.691 + 10 * math.log10(gated.mean()) - 10.0
    return -0.691 + 10 * math.log10(energies[(levels > -70.0) & (levels > relative)].mean())


def random_pieces(samples: np.ndarray, seed: int) -> list[np.ndarray]:
    """``samples`` cut at random places, into pieces from 1 sample to about 2 s."""
    rng = np.random.default_rng(seed)
    count = 2 * len(samples) // SR + 10
    short, long = rng.integers(1, 500, count), rng.integers(500, 2 * SR, count)
    cuts = np.cumsum(np.where(rng.random(count) < 0.3, short, long))
    return np.split(samples, cuts[cuts < len(samples)])


# --------------------------------------------------------------------------- the track


def test_a_track_refuses_segments_that_overlap_or_lie_outside_it():
    one = np.ones(100, dtype=np.float32)
    with pytest.raises(ValueError, match="overlap"):
        TrackAudio(1000, SR, [(0, one), (99, one)])
    with pytest.raises(ValueError, match="outside"):
        TrackAudio(1000, SR, [(950, one)])
    track = TrackAudio(1000, SR, [(900, one), (0, one)])  # any order, edge to edge is fine
    assert track.read(895, 1005).sum() == 100 and not track.is_silent(999, 1000)


# --------------------------------------------------------------------------- meters


@pytest.mark.parametrize("seed", [0, 1])
def test_streaming_loudness_equals_the_whole_array_meter(seed):
    samples = speech_and_silence(seed)
    meter = LoudnessMeter(SR)
    pieces = random_pieces(samples, seed)
    assert min(len(p) for p in pieces) < 1000 < max(len(p) for p in pieces)  # odd cuts
    for piece in pieces:
        meter.add(piece)
    streamed = meter.integrated()
    assert streamed == pytest.approx(whole_array_loudness(samples), abs=0.01)
    assert streamed == pytest.approx(integrated_loudness(samples, SR), abs=1e-9)
    assert streamed == pytest.approx(lufs(samples), abs=0.1)  # an independent meter


def test_streaming_true_peak_equals_oversampling_the_whole_array():
    samples = speech_and_silence(2)
    # Every sample oversampled, no shortcut: the largest value of the 4x signal.
    padded = np.pad(samples, (6, 7))
    exhaustive = 20 * math.log10(master_module._envelope(padded, len(samples), 0.0).max())
    meter = TruePeakMeter()
    for piece in random_pieces(samples, 3):
        meter.add(piece)
    assert meter.dbtp() == pytest.approx(exhaustive, abs=1e-6)
    assert true_peak_dbtp(samples, SR) == pytest.approx(exhaustive, abs=1e-6)
    assert exhaustive > 20 * math.log10(np.max(np.abs(samples)))  # between samples
    # Cut right at the peak, where a block's edge leaves the interpolator short of context.
    at = int(np.argmax(master_module._envelope(padded, len(samples), 0.0)))
    for offset in range(-8, 9):
        meter = TruePeakMeter()
        for piece in np.split(samples, [at + offset, at + offset + 3]):
            meter.add(piece)
        assert meter.dbtp() == pytest.approx(exhaustive, abs=1e-6), offset


def test_a_peak_in_the_last_samples_is_found():
    samples = np.zeros(SR, dtype=np.float32)
    samples[-2:] = [0.3, -0.6]
    meter = TruePeakMeter()
    meter.add(samples)
    assert meter.dbtp() >= 20 * math.log10(0.6)
    assert TruePeakMeter().dbtp() == -math.inf


# --------------------------------------------------------------------------- master


def test_mastering_a_lazy_track_gives_the_samples_of_the_whole_array():
    voice = [speech_like(6, seed=s, level_dbfs=-14 + 4 * s) for s in range(3)]
    starts = [SR, 20 * SR, 41 * SR + 17]
    track = TrackAudio(50 * SR, SR, list(zip(starts, voice, strict=True)))
    whole = track.to_array()
    from_track, report = master(track, SR)
    from_array, expected = master(whole, SR)
    assert report == expected
    assert report.max_reduction_db > 0  # the loud part was limited
    np.testing.assert_array_equal(from_track, from_array)
    silent = whole == 0
    assert silent.sum() > 30 * SR and not from_track[silent].any()


def test_measure_file_streams_the_decoded_file(tmp_path):
    samples = speech_and_silence(4)
    path = tmp_path / "speech.wav"
    soundfile.write(path, samples, SR, subtype="FLOAT")
    measured = measure_file(path)
    decoded = decode_file(path)
    assert measured.integrated_lufs == pytest.approx(whole_array_loudness(decoded), abs=0.01)
    assert measured.true_peak_dbtp == pytest.approx(true_peak_dbtp(decoded, SR), abs=0.01)


# --------------------------------------------------------------------------- an hour


HOUR_SCRIPT_HEAD = """\
---
title: An Hour
voice: tones
locales: [en-GB]
---

"""
PARAGRAPH = (
    "Paragraph {n} has a sentence of moderate length in it. "
    "Another follows it, and it is a little longer than the first one. "
    "A third carries the listener gently onward through the practice. "
    "And a fourth closes the paragraph in a calm and steady voice. [pause 3s]\n\n"
)
#: Peak resident memory allowed for building the hour, most of it speech. The whole track
#: as float32 would be 635 MB, its speech alone about 500 MB; a streamed build with its
#: speech spooled to disk needs the libraries (about 130 MB) and a few blocks.
HOUR_BUDGET_MB = 250

MEASURE_CHILD = textwrap.dedent(
    """\
    import resource, subprocess, sys
    done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
    sys.stderr.write(done.stdout + done.stderr)
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"{done.returncode} {peak_kb}")
    """
)


@pytest.mark.slow
def test_building_an_hour_long_track_stays_within_a_memory_budget(tmp_path: Path):
    (tmp_path / "scripts_src").mkdir()
    (tmp_path / "voices").mkdir()
    (tmp_path / "voices" / "tones.toml").write_text(
        '[en-GB]\nengine = "fake"\nmodel = "gb"\n', encoding="utf-8"
    )
    body = "".join(PARAGRAPH.format(n=n) for n in range(185))
    (tmp_path / "scripts_src" / "hour.md").write_text(HOUR_SCRIPT_HEAD + body, encoding="utf-8")
    build = [sys.executable, "-m", "pipeline", "build", "-q", "--jobs", "1"]
    # A process of its own that measures its child: this test process's own memory and
    # other tests' children do not count.
    done = subprocess.run(
        [sys.executable, "-c", MEASURE_CHILD, *build],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    returncode, peak_kb = map(int, done.stdout.split())
    assert returncode == 0, done.stderr
    manifest = json.loads((tmp_path / "out" / "hour" / "hour.en-GB.json").read_text())
    assert manifest["duration"] >= 59 * 60  # it really is an hour
    speech = [s["end"] - s["start"] for s in manifest["segments"] if s["kind"] == "speech"]
    assert sum(speech) >= 45 * 60  # and most of it is speech
    assert manifest["loudness"]["integrated_lufs"] == pytest.approx(-16.0, abs=0.3)
    assert peak_kb / 1024 <= HOUR_BUDGET_MB, f"peak {peak_kb / 1024:.0f} MB"
