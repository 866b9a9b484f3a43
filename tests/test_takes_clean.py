"""Cleaning a take: trim, DC and rumble removal, noise reduction, level matching, fades,
clipping warnings. Takes are real engine speech placed in a "home recording"."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal
from test_takes_support import speech_bounds, spoken

from pipeline.model import SAMPLE_RATE, Audio
from pipeline.takes.clean import CleanOptions, NoSpeech, clean_take, speech_level_db

RATE = 48000
SENTENCE = "Let your shoulders soften and drop."


def home_take(
    peak_db: float = -6.0,
    *,
    before: float = 1.0,
    after: float = 1.5,
    dc: float = 0.0,
    rumble_db: float | None = None,
    noise_db: float = -65.0,
    seed: int = 0,
) -> tuple[np.ndarray, tuple[float, float]]:
    """A sentence recorded one by one: silence around it, optional DC offset and 20 Hz rumble.
    Returns the samples and where the speech is (seconds, by the -50 dBFS trim threshold)."""
    rng = np.random.default_rng(seed)
    voice, _ = spoken("joe", SENTENCE)
    voice = voice * 10 ** (peak_db / 20)
    x = np.concatenate([np.zeros(int(before * RATE)), voice, np.zeros(int(after * RATE))])
    first, last = speech_bounds(x)
    t = np.arange(len(x)) / RATE
    x = x + rng.normal(0.0, 10 ** (noise_db / 20), len(x)) + dc
    if rumble_db is not None:
        x = x + 10 ** (rumble_db / 20) * np.sin(2 * np.pi * 20 * t)
    return x.astype(np.float32), (first / RATE, last / RATE)


def band_level_db(x: np.ndarray, rate: int, low: float, high: float) -> float:
    sos = signal.butter(4, [low, high], btype="bandpass", fs=rate, output="sos")
    y = signal.sosfiltfilt(sos, x.astype(np.float64))
    return float(10 * np.log10(np.mean(y**2) + 1e-20))


def test_a_take_is_trimmed_to_its_speech_with_a_short_margin():
    x, (start, end) = home_take()
    options = CleanOptions()
    take = clean_take(Audio(x, RATE), options)
    assert take.sample_rate == SAMPLE_RATE
    # Speech plus the lead and tail margins, within the detector's accuracy.
    # The detector hears decaying tails a little below the -50 dBFS trim threshold.
    assert take.seconds == pytest.approx((end - start) + options.lead + options.tail, abs=0.08)
    assert take.regions[0].start == pytest.approx(options.lead, abs=0.03)
    assert take.regions[-1].end == pytest.approx(take.seconds - options.tail, abs=0.03)
    # Click-free: the edges fade from and to zero.
    assert abs(take.samples[0]) < 1e-6 and abs(take.samples[-1]) < 1e-6
    assert take.warnings == ()


def test_dc_offset_and_rumble_are_removed():
    x, _ = home_take(dc=0.05, rumble_db=-20.0)
    take = clean_take(Audio(x, RATE))
    reference = clean_take(Audio(home_take()[0], RATE))
    assert abs(float(np.mean(take.samples))) < 1e-3
    # The 20 Hz rumble was 14 dB above the voice's own level: it is now 40 dB down.
    before = band_level_db(x - np.mean(x), RATE, 15, 25)
    after = band_level_db(take.samples, SAMPLE_RATE, 15, 25) - take.gain_db
    assert after < before - 40
    # The voice itself is untouched: same speech level as the clean take.
    assert speech_level_db(take.samples, SAMPLE_RATE, list(take.regions)) == pytest.approx(
        speech_level_db(reference.samples, SAMPLE_RATE, list(reference.regions)), abs=0.5
    )


def test_takes_recorded_at_different_levels_come_out_at_one_level():
    quiet = clean_take(Audio(home_take(-30.0)[0], RATE))
    loud = clean_take(Audio(home_take(-3.0, seed=1)[0], RATE))
    target = CleanOptions().speech_level_db
    for take in (quiet, loud):
        level = speech_level_db(take.samples, SAMPLE_RATE, list(take.regions))
        assert level == pytest.approx(target, abs=0.3)
        assert float(np.max(np.abs(take.samples))) <= 10 ** (-1.0 / 20) + 1e-6
    assert quiet.gain_db - loud.gain_db == pytest.approx(27.0, abs=1.0)


def test_a_loud_click_limits_the_gain_and_is_reported():
    x, (start, _) = home_take(-24.0)
    click = int((start + 0.5) * RATE)
    x[click : click + 24] = 0.95
    take = clean_take(Audio(x, RATE), label="S1-02.wav")
    assert float(np.max(np.abs(take.samples))) == pytest.approx(10 ** (-1.0 / 20), rel=1e-3)
    assert len(take.warnings) == 1
    assert (
        take.warnings[0].startswith("S1-02.wav: ")
        and "quieter than the other takes" in take.warnings[0]
    )


def test_clipping_is_reported(caplog):
    x, (start, _) = home_take(0.0)
    x = np.clip(x * 4, -1.0, 1.0)  # a recording level set far too high
    take = clean_take(Audio(x, RATE), label="S2-01.flac")
    assert any("S2-01.flac: clipped in" in w and "re-record" in w for w in take.warnings)
    assert "clipped" in caplog.text


def test_noise_reduction_lowers_the_noise_floor_and_keeps_the_voice():
    x, _ = home_take(-6.0, noise_db=-42.0, before=1.5)
    plain = clean_take(Audio(x, RATE), CleanOptions(lead=0.5))
    reduced = clean_take(Audio(x, RATE), CleanOptions(lead=0.5, denoise=True))

    # The lead margin is room tone only; measure it away from the fade-in.
    def floor(take):
        margin = take.samples[int(0.25 * SAMPLE_RATE) : int(0.45 * SAMPLE_RATE)]
        return 20 * np.log10(np.sqrt(np.mean(margin.astype(np.float64) ** 2)))

    assert floor(reduced) < floor(plain) - 10
    level_plain = speech_level_db(plain.samples, SAMPLE_RATE, list(plain.regions))
    level_reduced = speech_level_db(reduced.samples, SAMPLE_RATE, list(reduced.regions))
    assert level_reduced == pytest.approx(level_plain, abs=1.0)


def test_a_record_button_click_before_the_speech_does_not_set_the_start():
    x, (start, end) = home_take(before=2.0)
    click = int(0.3 * RATE)
    x[click : click + int(0.04 * RATE)] += 0.3 * np.sin(np.arange(int(0.04 * RATE)) * 0.9)
    take = clean_take(Audio(x, RATE))
    assert take.seconds == pytest.approx((end - start) + 0.18, abs=0.08)


def test_a_take_without_speech_is_an_error():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 10 ** (-60 / 20), RATE * 2).astype(np.float32)
    with pytest.raises(NoSpeech, match="S1-01.wav: no speech found"):
        clean_take(Audio(x, RATE), label="S1-01.wav")
    with pytest.raises(NoSpeech):
        clean_take(Audio(np.zeros(RATE, dtype=np.float32), RATE))
