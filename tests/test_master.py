"""Mastering: loudness measurement, true-peak detection, the limiter, and file measurement."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile
from audio_helpers import lufs, speech_like, tone
from scipy.signal import resample_poly

from pipeline import master as master_module
from pipeline.errors import EncodeError
from pipeline.ffmpeg import run_ffmpeg
from pipeline.master import (
    MAX_MAKEUP_DB,
    MP3_MARGIN_DB,
    RELEASE_S,
    _release,
    as_track,
    integrated_loudness,
    k_weighting,
    limit,
    master,
    measure_file,
    true_peak_dbtp,
)

SR = 44100


def reference_true_peak(samples: np.ndarray) -> float:
    """8x oversampled peak with a long filter: a slow, independent yardstick."""
    upsampled = resample_poly(samples.astype(np.float32), 8, 1, window=("kaiser", 8.0))
    return 20 * math.log10(np.max(np.abs(upsampled)))


SILENCE_END = 31 * SR  # where the long silence of speech_with_silences ends


def speech_with_silences(seed: int = 0, level_dbfs: float = -24.0) -> np.ndarray:
    """Two stretches of speech-like sound around a long digital silence."""
    return np.concatenate(
        [
            np.zeros(SR, dtype=np.float32),
            speech_like(10, seed=seed, level_dbfs=level_dbfs),
            np.zeros(SILENCE_END - 11 * SR, dtype=np.float32),
            speech_like(6, seed=seed + 1, level_dbfs=level_dbfs - 3),
            np.zeros(2 * SR, dtype=np.float32),
        ]
    )


def speech_with_clicks(count: int = 100) -> np.ndarray:
    """Speech-like sound with ``count`` full-scale clicks: peaky, so limiting costs loudness."""
    rng = np.random.default_rng(13)
    voice = speech_like(15, seed=13, level_dbfs=-22)
    for start in rng.integers(0, len(voice) - 88, count):
        voice[start : start + 88] += rng.standard_normal(88).astype(np.float32)
    return voice


# --------------------------------------------------------------------------- measurement


def test_k_weighting_matches_the_published_48k_coefficients():
    sos = k_weighting(48000)
    # ITU-R BS.1770-4, tables 1 and 2.
    np.testing.assert_allclose(
        sos[0], [1.53512485958697, -2.69169618940638, 1.19839281085285, 1.0,
                 -1.69065929318241, 0.73248077421585], atol=1e-9,
    )  # fmt: skip
    np.testing.assert_allclose(
        sos[1], [1.0, -2.0, 1.0, 1.0, -1.99004745483398, 0.99007225036621], atol=1e-9
    )


def test_full_scale_997_hz_sine_reads_minus_3_lufs():
    # The standard's calibration point (mono, one channel weighted 1.0).
    assert integrated_loudness(tone(10, 997.0, 1.0), SR) == pytest.approx(-3.01, abs=0.02)


@pytest.mark.parametrize("seed", [0, 1])
def test_integrated_loudness_agrees_with_pyloudnorm(seed):
    samples = speech_with_silences(seed)
    assert integrated_loudness(samples, SR) == pytest.approx(lufs(samples), abs=0.1)


def test_gating_ignores_silence():
    speech = speech_like(20, seed=4)
    padded = np.concatenate([np.zeros(60 * SR, dtype=np.float32), speech])
    assert integrated_loudness(padded, SR) == pytest.approx(
        integrated_loudness(speech, SR), abs=0.05
    )
    assert integrated_loudness(np.zeros(5 * SR, dtype=np.float32), SR) == -math.inf


def test_true_peak_finds_the_peak_between_samples():
    # A quarter-rate sine sampled 45 degrees off its crests: samples at 0.707, true peak 1.0.
    n = np.arange(SR)
    samples = np.sin(2 * np.pi * n / 4 + np.pi / 4) * np.hanning(SR) ** 0.05
    samples = samples.astype(np.float32)
    assert 20 * math.log10(np.max(np.abs(samples))) == pytest.approx(-3.01, abs=0.02)
    assert true_peak_dbtp(samples, SR) == pytest.approx(0.0, abs=0.05)


def test_true_peak_agrees_with_an_8x_reference_on_speech():
    samples = speech_like(30, seed=5, level_dbfs=-18)
    assert true_peak_dbtp(samples, SR) == pytest.approx(reference_true_peak(samples), abs=0.2)


# --------------------------------------------------------------------------- limiter


def test_release_recurrence_matches_a_sample_loop():
    rng = np.random.default_rng(6)
    held = np.where(rng.random(3000) < 0.01, rng.uniform(0, 6, 3000), 0.0)
    decay, previous = 0.004, 2.5
    expected = np.empty_like(held)
    value = previous
    for i, h in enumerate(held):
        value = max(h, value * math.exp(-decay))
        expected[i] = value if value >= 0.01 else 0.0
    np.testing.assert_allclose(_release(held, previous, decay), expected, rtol=1e-9, atol=1e-12)


def test_deep_reductions_recover_as_fast_as_shallow_ones():
    for depth in (1.0, 20.0):
        held = np.zeros(SR)
        held[0] = depth
        released = _release(held, 0.0, 1 / (RELEASE_S * SR))
        half = np.argmax(released < depth / 2)
        assert half / SR == pytest.approx(RELEASE_S * math.log(2), rel=0.01)


def test_limiter_output_does_not_depend_on_block_size(monkeypatch):
    samples = speech_like(12, seed=7, level_dbfs=-14)
    whole, _ = limit(samples, SR, 6.0, -1.5)
    monkeypatch.setattr(master_module, "BLOCK", 4096)
    blocked, _ = limit(samples, SR, 6.0, -1.5)
    np.testing.assert_allclose(blocked, whole, atol=2e-6)


def test_limiter_holds_the_true_peak_under_the_ceiling():
    samples = speech_like(20, seed=9, level_dbfs=-20)
    gain_db = -1.5 + 3.0 - reference_true_peak(samples)  # peaks 3 dB over the ceiling
    limited, reduction = limit(samples, SR, gain_db, -1.5)
    assert reduction.max_db > 2.5  # it really had work to do
    assert reference_true_peak(limited) <= -1.5 + 0.1
    # Only peaks are touched: most of the sound keeps the applied gain (within 0.05 dB).
    ratio_db = 20 * np.log10(limited[samples != 0] / samples[samples != 0])
    assert np.mean(np.abs(ratio_db - gain_db) < 0.05) > 0.8


def test_limiter_catches_a_peak_on_the_first_sample():
    samples = tone(0.5, 220.0, 0.2)
    samples[:40] += np.hanning(80)[40:].astype(np.float32) * 0.9  # loudest at sample 0
    limited, _ = limit(samples, SR, 0.0, -6.0)
    assert np.max(np.abs(limited)) <= 10 ** (-6 / 20) * 1.02
    assert reference_true_peak(limited) <= -6.0 + 0.1


def test_limiter_leaves_quiet_audio_alone():
    samples = tone(5, 440.0, 0.1)
    limited, reduction = limit(samples, SR, 6.0, -1.5)
    assert reduction.max_db == 0.0 and reduction.samples == 0
    np.testing.assert_allclose(limited, samples * 10 ** (6 / 20), rtol=1e-6)


# --------------------------------------------------------------------------- master


@pytest.mark.parametrize(
    ("target", "level"), [(-16.0, -30.0), (-16.0, -12.0), (-20.0, -24.0), (-23.0, -18.0)]
)
def test_master_lands_on_target_with_the_peak_under_the_ceiling(target, level):
    samples = speech_with_silences(seed=9, level_dbfs=level)
    mastered, report = master(samples, SR, target_lufs=target, true_peak_limit=-1.0)
    assert mastered.dtype == np.float32 and len(mastered) == len(samples)
    assert report.output_lufs == pytest.approx(target, abs=0.1)
    assert lufs(mastered) == pytest.approx(target, abs=0.15)  # by an independent meter
    assert true_peak_dbtp(mastered, SR) <= -1.0 - MP3_MARGIN_DB + 0.01
    assert reference_true_peak(mastered) <= -1.0 - MP3_MARGIN_DB + 0.15
    assert report.input_lufs == pytest.approx(lufs(samples), abs=0.1)


def test_master_keeps_silence_digitally_silent_and_rides_no_gain():
    samples = speech_with_silences(seed=10, level_dbfs=-26.0)
    mastered, report = master(samples, SR)
    silent = samples == 0
    assert silent.sum() > 20 * SR
    assert not mastered[silent].any()  # exactly zero: no noise, no dither
    # Just after the long silence the gain is the same as anywhere else unlimited.
    window = slice(SILENCE_END, SILENCE_END + SR)
    sounding = samples[window] != 0
    ratio = mastered[window][sounding] / samples[window][sounding]
    assert np.median(ratio) == pytest.approx(10 ** (report.gain_db / 20), rel=1e-4)


def test_master_bounds_makeup_gain_for_a_track_of_loud_clicks(caplog):
    # Full-scale clicks dominate the measured loudness; crushing them costs so much that
    # reaching the target would take the limiter over the whole track. Makeup gain stops
    # at its bound, with a warning, and the peaks stay under the ceiling.
    voice = speech_with_clicks()
    plain_gain = -16.0 - integrated_loudness(voice, SR)
    mastered, report = master(voice, SR)
    assert report.gain_db <= plain_gain + MAX_MAKEUP_DB + 1e-9
    assert report.output_lufs < -16.5
    assert "off target" in caplog.text
    ceiling = -1.0 - MP3_MARGIN_DB
    assert true_peak_dbtp(mastered, SR) <= ceiling + 0.01
    # White-noise clicks reach up to Nyquist, where a 4x meter (the BS.1770 method) may
    # read up to about 0.6 dB low between its points; a finer one sees that much more.
    assert reference_true_peak(mastered) <= ceiling + 0.7


@pytest.mark.parametrize("clicks", [0, 10])  # limiting costs nothing; costs loudness
def test_master_limits_the_track_once_whatever_the_search_takes(monkeypatch, clicks):
    samples = speech_with_clicks(clicks)
    runs = []
    blocks = master_module.Limiter.blocks

    def counted(self):
        runs.append(self.gain_db)
        return blocks(self)

    monkeypatch.setattr(master_module.Limiter, "blocks", counted)
    mastered, report = master(samples, SR)
    # The gain search works on the analysis; the audio is limited once, at the gain found.
    assert runs == [report.gain_db]
    assert (report.passes > 1) == (clicks > 0)
    assert report.output_lufs == pytest.approx(-16.0, abs=0.1)
    # What was sent is exactly the track limited with the final gain.
    expected, reduction = limit(samples, SR, report.gain_db, -1.0 - MP3_MARGIN_DB)
    np.testing.assert_array_equal(mastered, expected)
    assert report.max_reduction_db == reduction.max_db


def test_master_leaves_a_silent_track_alone():
    silent = np.zeros(3 * SR, dtype=np.float32)
    mastered, report = master(silent, SR)
    assert not mastered.any() and report.input_lufs == -math.inf and report.passes == 0


# --------------------------------------------------------------------------- measure_file


def ffmpeg_ebur128(path) -> tuple[float, float]:
    """(integrated LUFS, true peak dBTP) as ffmpeg's own ebur128 filter reports them."""
    import re
    import subprocess

    from pipeline.ffmpeg import ffmpeg_exe

    command = [ffmpeg_exe(), "-nostats", "-i", str(path), "-af", "ebur128=peak=true"]
    stderr = subprocess.run(
        [*command, "-f", "null", "-"], capture_output=True, text=True, check=True
    ).stderr
    summary = stderr[stderr.rfind("Summary:") :]
    integrated = re.search(r"I:\s*(-?[\d.]+) LUFS", summary)
    peak = re.search(r"Peak:\s*(-?[\d.]+) dBFS", summary)
    assert integrated and peak, stderr
    return float(integrated.group(1)), float(peak.group(1))


@pytest.mark.parametrize("suffix", [".wav", ".mp3"])
def test_measure_file_agrees_with_ffmpeg_ebur128_and_pyloudnorm(tmp_path, suffix):
    samples = speech_with_silences(seed=11, level_dbfs=-20.0)
    wav = tmp_path / "speech.wav"
    soundfile.write(wav, samples, SR, subtype="FLOAT")
    path = wav
    if suffix == ".mp3":
        path = tmp_path / "speech.mp3"
        run_ffmpeg(["-v", "error", "-i", str(wav), "-b:a", "96k", str(path)])
    measured = measure_file(path)
    ffmpeg_lufs, ffmpeg_peak = ffmpeg_ebur128(path)
    assert measured.integrated_lufs == pytest.approx(ffmpeg_lufs, abs=0.15)
    assert measured.true_peak_dbtp == pytest.approx(ffmpeg_peak, abs=0.3)
    if suffix == ".wav":
        assert measured.integrated_lufs == pytest.approx(lufs(samples), abs=0.15)
        assert measured.true_peak_dbtp == pytest.approx(reference_true_peak(samples), abs=0.3)


def test_measure_file_fails_with_the_ffmpeg_command_on_a_bad_file(tmp_path):
    path = tmp_path / "not-audio.mp3"
    path.write_text("this is not audio")
    with pytest.raises(EncodeError) as caught:
        measure_file(path)
    assert caught.value.returncode not in (None, 0)
    assert caught.value.command and str(path) in caught.value.command
    assert "not-audio.mp3" in caught.value.stderr


def test_the_limiter_works_out_its_release_only_around_the_peaks_and_gets_the_same():
    # Worked out only where a reduction is needed (and while it fades), the held and
    # released reduction is what working it out over the whole block gives.
    from scipy.ndimage import maximum_filter1d

    rng = np.random.default_rng(3)
    lookahead, decay = 221, 1 / (RELEASE_S * SR)
    for _ in range(100):
        count = int(rng.integers(1000, 50_000))
        needed = np.zeros(count + lookahead)
        peaks = int(rng.integers(0, 20))
        needed[rng.integers(0, count + lookahead, peaks)] = rng.uniform(0, 8, peaks)
        previous = float(rng.choice([0.0, rng.uniform(0, 5)]))
        held = maximum_filter1d(needed, size=lookahead, origin=-(lookahead // 2), mode="constant")
        whole = _release(held[:count], previous, decay)
        around = master_module._held_and_released(needed, count, previous, lookahead, decay)
        np.testing.assert_allclose(around, whole, rtol=0, atol=1e-9)
        assert np.array_equal(around == 0, whole == 0)


# --------------------------------------------------------------------------- the analysis


def hibari_speech() -> np.ndarray:
    """Real speech with real pauses: hibari's heart voice (it ships with hibari-tts)."""
    pytest.importorskip("hibari", reason="the speech is hibari's heart voice")
    from pathlib import Path

    from pipeline.engines.base import load_engine
    from pipeline.model import VoiceSpec
    from pipeline.sentences import prepare_sentence

    engine = load_engine(VoiceSpec("hibari", model="heart"), Path.cwd())
    parts = []
    for text in (
        "Let your breath settle into its own rhythm.",
        "Notice the weight of your hands, resting where they are.",
        "There is nothing you need to do right now.",
    ):
        parts += [prepare_sentence(engine.synthesize(text)), np.zeros(SR, dtype=np.float32)]
    return np.concatenate([np.zeros(SR // 2, dtype=np.float32), *parts])


def test_the_analysis_cells_give_the_loudness_of_measuring_the_whole_track():
    samples = hibari_speech()
    for offset in (0, 1234):  # wherever the cells fall on the speech
        shifted = np.concatenate([np.zeros(offset, dtype=np.float32), samples])
        analysis = master_module.analyse(as_track(shifted, SR), -16.0, -2.5)
        assert analysis.input_lufs == pytest.approx(integrated_loudness(shifted, SR), abs=0.05)
        assert analysis.input_lufs == pytest.approx(lufs(shifted), abs=0.1)  # pyloudnorm


@pytest.mark.parametrize("gain_db", [4.0, 8.0, 12.0])  # from no limiting to 6 dB of it
def test_the_limiter_model_gives_the_loudness_of_limiting_the_audio(gain_db):
    samples = hibari_speech()
    track = as_track(samples, SR)
    plain = -16.0 - integrated_loudness(samples, SR)
    analysis = master_module.analyse(track, -16.0, -2.5)
    modelled = analysis.limited_lufs(plain - 8.0 + gain_db, -2.5)
    limited, reduction = limit(samples, SR, plain - 8.0 + gain_db, -2.5)
    assert modelled == pytest.approx(integrated_loudness(limited, SR), abs=0.05)
    if gain_db >= 12.0:
        assert reduction.max_db > 3.0  # the premise: the limiter really is working
