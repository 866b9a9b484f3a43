"""The sound of a track besides the voice (pipeline/sound.py), measured on real audio: the
bowl's spectrum and decays, files of every kind read through pydub and ffmpeg, the ring cut
to its pause, and the bed's loop seam, ducking, level, fades, block independence and memory.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile

from pipeline import sound
from pipeline.ffmpeg import ffmpeg_exe
from pipeline.master import integrated_loudness
from pipeline.model import SAMPLE_RATE
from tests.audio_helpers import speech_like, tone

SR = SAMPLE_RATE


def rms_db(samples: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(samples, dtype=np.float64))))


def noise(seconds: float, level: float = 0.1, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (level * rng.standard_normal(round(seconds * SR))).astype(np.float32)


def ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-v", "error", "-y", *args], check=True)


# --------------------------------------------------------------------------- the bowl


def test_bowl_is_the_same_bytes_every_time_and_as_long_as_bowl_seconds_says() -> None:
    sound._bowl.cache_clear()
    seconds = sound.bowl_seconds()
    assert sound._bowl.cache_info().currsize == 0  # said without making the bowl
    first = sound.bowl()
    sound._bowl.cache_clear()
    second = sound.bowl()
    assert first.dtype == np.float32
    assert first.tobytes() == second.tobytes()
    assert len(first) == round(seconds * SR)
    assert seconds == len(first) / SR
    assert 8.0 <= seconds <= 12.0
    first[:] = 0  # a caller's copy: changing it leaves the next bowl alone
    assert np.array_equal(sound.bowl(), second)


def test_bowl_peaks_at_minus_6_dbfs_starts_softly_and_ends_in_silence() -> None:
    ring = sound.bowl()
    assert 20 * np.log10(np.abs(ring).max()) == pytest.approx(-6.0, abs=0.05)
    assert ring[0] == 0.0 and ring[-1] == 0.0
    assert np.abs(ring[-round(0.05 * SR) :]).max() < 1e-4  # rung out, no cut-off
    # A soft strike: no sample-to-sample jump at the start bigger than in the ring itself.
    steps = np.abs(np.diff(ring))
    assert steps[: round(0.01 * SR)].max() <= steps.max()
    assert np.abs(ring[:5]).max() < 0.01


def _spectrum(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    magnitude = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return np.fft.rfftfreq(len(samples), 1 / SR), magnitude


def _peaks(samples: np.ndarray, floor_db: float = -45.0) -> list[float]:
    """Frequencies of the spectrum's local maxima within ``floor_db`` of its highest,
    keeping only the highest within 40 Hz (a beating pair is one mode)."""
    freqs, magnitude = _spectrum(samples)
    level = 20 * np.log10(magnitude / magnitude.max() + 1e-12)
    local = (level[1:-1] > level[:-2]) & (level[1:-1] >= level[2:]) & (level[1:-1] > floor_db)
    candidates = sorted(np.flatnonzero(local) + 1, key=lambda i: -level[i])
    kept: list[int] = []
    for index in candidates:
        if all(abs(freqs[index] - freqs[other]) > 40 for other in kept):
            kept.append(index)
    return sorted(float(freqs[i]) for i in kept)


def test_bowl_has_several_inharmonic_partials_not_a_sine() -> None:
    ring = sound.bowl()
    peaks = _peaks(ring[: 2 * SR])
    assert len(peaks) >= 4, peaks
    ratios = [peak / peaks[0] for peak in peaks[1:]]
    inharmonic = [r for r in ratios if abs(r - round(r)) > 0.1]
    assert len(inharmonic) >= 3, ratios
    # The strongest partial holds well under all of the energy: not a beep with overtones.
    freqs, magnitude = _spectrum(ring[: 2 * SR])
    energy = np.square(magnitude)
    strongest = energy[np.abs(freqs - peaks[0]) < 20].sum()
    assert strongest < 0.9 * energy.sum()
    # A pure sine of the same length, by the same measure, has one partial.
    assert len(_peaks(tone(2.0, 196.0))) == 1


def _band_decay_db_per_s(ring: np.ndarray, centre: float) -> tuple[float, list[float]]:
    """Energy around ``centre`` in 0.25 s frames from 0.1 s to 7 s: the least-squares slope
    in dB/s and the frames' levels."""
    frame = SR // 4
    times, levels = [], []
    for start in range(round(0.1 * SR), round(7 * SR), frame):
        freqs, magnitude = _spectrum(ring[start : start + frame])
        band = np.abs(freqs - centre) < 15
        levels.append(10 * np.log10(np.square(magnitude[band]).sum() + 1e-20))
        times.append(start / SR)
    slope = float(np.polyfit(times, levels, 1)[0])
    return slope, levels


def test_each_partial_decays_and_higher_partials_decay_faster() -> None:
    ring = sound.bowl()
    peaks = _peaks(ring[: 2 * SR])[:4]
    slopes = []
    for centre in peaks:
        slope, levels = _band_decay_db_per_s(ring, centre)
        assert slope < -1.0, (centre, slope)
        # later windows hold less energy than earlier ones (beating aside)
        assert np.mean(levels[8:16]) < np.mean(levels[:8]) - 3
        slopes.append(slope)
    assert slopes == sorted(slopes, reverse=True), slopes  # each faster than the last
    assert slopes[-1] < 2 * slopes[0], slopes  # and at clearly different rates


# --------------------------------------------------------------------------- the ring as placed


def test_ring_samples_whole_or_cut_with_a_fade() -> None:
    ring = sound.bowl()
    assert sound.ring_samples(ring, None) is ring
    assert sound.ring_samples(ring, 12.0) is ring  # a longer pause: the whole ring
    cut = sound.ring_samples(ring, 3.0)
    assert len(cut) == 3 * SR
    fade = round(sound.BELL_FADE_S * SR)
    assert np.array_equal(cut[: 3 * SR - fade], ring[: 3 * SR - fade])
    assert cut[-1] == 0.0
    tail = np.abs(cut[-fade:]) / (np.abs(ring[3 * SR - fade : 3 * SR]) + 1e-9)
    assert tail[: fade // 10].min() > 0.95  # the fade begins gently
    # and it falls smoothly: no step bigger than the ring's own steps
    assert np.abs(np.diff(cut[-fade:])).max() <= np.abs(np.diff(ring[: 3 * SR])).max()
    assert len(sound.ring_samples(ring, 0.2)) == round(0.2 * SR)
    assert sound.ring_samples(ring, 0.2)[-1] == 0.0


# --------------------------------------------------------------------------- files


@pytest.fixture(scope="module")
def sound_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real files of the kinds people bring: a stereo 48 kHz WAV (left 0.5, right 0.25 of
    the same 1 kHz tone), the same as MP3, OGG, FLAC and M4A, a float WAV, and a text file
    named .wav."""
    folder = tmp_path_factory.mktemp("sounds")
    t = np.arange(round(2.5 * 48000)) / 48000
    left = 0.5 * np.sin(2 * np.pi * 1000 * t)
    stereo = np.stack([left, 0.5 * left], axis=1)
    files = {"wav": folder / "stereo48k.wav"}
    soundfile.write(files["wav"], stereo, 48000, subtype="PCM_16")
    files["float"] = folder / "float.wav"
    soundfile.write(files["float"], stereo, 48000, subtype="FLOAT")
    files["flac"] = folder / "hi-res.flac"
    soundfile.write(files["flac"], stereo, 48000, subtype="PCM_24")
    for kind, codec in (("mp3", "libmp3lame"), ("ogg", "libvorbis"), ("m4a", "aac")):
        files[kind] = folder / f"stereo48k.{kind}"
        ffmpeg("-i", str(files["wav"]), "-c:a", codec, "-b:a", "192k", str(files[kind]))
    files["text"] = folder / "notes.wav"
    files["text"].write_text("rain sounds, to be recorded\n")
    files["empty"] = folder / "empty.mp3"
    files["empty"].write_bytes(b"")
    # Matroska written to a pipe has no duration in its header: ffmpeg says Duration: N/A.
    files["mka"] = folder / "streamed.mka"
    with files["mka"].open("wb") as out:
        subprocess.run(
            [ffmpeg_exe(), "-v", "error", "-i", str(files["wav"]), "-c:a", "flac"]
            + ["-f", "matroska", "pipe:1"],
            stdout=out,
            check=True,
        )
    # A VBR MP3 without its Xing header: ffmpeg guesses its length from the bit rate.
    files["vbr"] = folder / "no-header.mp3"
    ffmpeg(
        "-i", str(files["wav"]), "-f", "lavfi", "-i", "anoisesrc=d=2.5:a=0.3:r=48000",
        "-filter_complex", "[0][1]concat=n=2:v=0:a=1", "-ac", "1",
        "-c:a", "libmp3lame", "-q:a", "0", "-write_xing", "0", str(files["vbr"]),
    )  # fmt: skip
    return files


@pytest.mark.parametrize(
    ("kind", "tolerance"),
    [("wav", 1e-3), ("float", 1e-3), ("flac", 1e-3), ("mp3", 0.06), ("ogg", 0.03), ("m4a", 0.06)],
)
def test_probe_seconds_of_each_kind_of_file(sound_files, kind: str, tolerance: float) -> None:
    assert sound.probe_seconds(sound_files[kind]) == pytest.approx(2.5, abs=tolerance)


def test_probe_seconds_decodes_when_the_header_has_no_duration(sound_files) -> None:
    report = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-i", str(sound_files["mka"])], capture_output=True
    ).stderr.decode()
    assert "Duration: N/A" in report  # the case this test is about
    assert sound.probe_seconds(sound_files["mka"]) == pytest.approx(2.5, abs=1e-3)


def test_probe_seconds_does_not_trust_a_length_guessed_from_the_bit_rate(sound_files) -> None:
    report = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-i", str(sound_files["vbr"])], capture_output=True
    ).stderr.decode()
    assert "Estimating duration from bitrate" in report  # the case this test is about
    seconds = sound.probe_seconds(sound_files["vbr"])
    assert seconds == pytest.approx(5.0, abs=0.06)
    assert seconds == pytest.approx(len(sound.read_sound(sound_files["vbr"])) / SR, abs=0.01)


def test_probe_seconds_errors(sound_files, tmp_path: Path) -> None:
    cases = {
        sound_files["text"]: "not an audio file: notes.wav",
        sound_files["empty"]: "not an audio file: empty.mp3",
        tmp_path / "rain.wav": "no such file: rain.wav",
        tmp_path: f"cannot read {tmp_path.name}: not a file",
    }
    image = tmp_path / "cover.png"
    ffmpeg("-f", "lavfi", "-i", "color=c=blue:s=16x16:d=0.04", "-frames:v", "1", str(image))
    cases[image] = "not an audio file: cover.png"  # a picture ffmpeg reads, with no audio
    for path, message in cases.items():
        with pytest.raises(sound.SoundError) as caught:
            sound.probe_seconds(path)
        assert str(caught.value) == message
        with pytest.raises(sound.SoundError) as caught:
            sound.read_sound(path)
        assert str(caught.value) == message
        # it crosses from a build's worker process intact
        assert str(pickle.loads(pickle.dumps(caught.value))) == message


@pytest.mark.parametrize("kind", ["wav", "float", "flac", "mp3", "ogg", "m4a"])
def test_read_sound_stereo_48k_becomes_mono_44k1_at_the_right_length_and_level(
    sound_files, kind: str
) -> None:
    samples = sound.read_sound(sound_files[kind])
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert len(samples) / SR == pytest.approx(2.5, abs=0.06 if kind in ("mp3", "m4a") else 1e-3)
    # what is read is as long as what was probed, so a ring fits the pause made for it
    assert len(samples) / SR == pytest.approx(sound.probe_seconds(sound_files[kind]), abs=0.005)
    # the mean of the channels: a 1 kHz tone of amplitude 0.375 (RMS -11.5 dBFS)
    middle = samples[round(0.3 * SR) : round(2.2 * SR)]
    expected = 20 * np.log10(0.375 / np.sqrt(2))
    lossless = kind in ("wav", "float", "flac")
    assert rms_db(middle) == pytest.approx(expected, abs=0.02 if lossless else 0.35)
    freqs, magnitude = _spectrum(middle)
    assert freqs[np.argmax(magnitude)] == pytest.approx(1000, abs=2)
    # resampled properly: nothing but the tone (no images or aliases; lossy codecs add
    # their own faint artefacts)
    away = np.abs(freqs - 1000) > 50
    floor = -60 if lossless else -45
    assert 20 * np.log10(magnitude[away].max() / magnitude.max()) < floor


def test_read_sound_at_another_rate_and_without_ffprobe(sound_files, monkeypatch) -> None:
    import pydub.audio_segment

    def no_ffprobe(*args, **kwargs):
        raise AssertionError("pydub asked ffprobe")

    monkeypatch.setattr(pydub.audio_segment, "mediainfo_json", no_ffprobe)
    samples = sound.read_sound(sound_files["ogg"], sample_rate=48000)
    assert len(samples) == pytest.approx(2.5 * 48000, abs=0.03 * 48000)
    assert sound.read_sound(sound_files["wav"], sample_rate=48000).shape == (120000,)


def test_importing_sound_stays_cheap() -> None:
    loaded = "'scipy.signal' in sys.modules, 'pydub' in sys.modules"
    code = f"import sys, pipeline.sound; print({loaded})"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# --------------------------------------------------------------------------- the bed


def plain_bed(source: np.ndarray, seconds: float, **changes) -> sound.Bed:
    options = dict(gain_db=0.0, duck_db=0.0, speech=(), fade_in=0, fade_out=0)
    options.update(changes)
    return sound.Bed(source, length=round(seconds * SR), **options)


def chord(seconds: float) -> np.ndarray:
    t = np.arange(round(seconds * SR)) / SR
    notes = ((110.0, 0.2), (164.8, 0.15), (247.0, 0.1))
    return sum(a * np.cos(2 * np.pi * f * t) for f, a in notes).astype(np.float32)


#: A length that is not a whole number of periods of any note of the chord: looped
#: naively, it would jump from its end (-0.32) back to its start (0.45).
SEAM_TEST_S = 2.35


def _seam(source: np.ndarray) -> tuple[int, int]:
    crossfade = min(round(sound.LOOP_CROSSFADE_S * SR), len(source) // 4)
    return len(source) - crossfade, crossfade


def test_loop_seam_has_no_click() -> None:
    source = chord(SEAM_TEST_S)
    assert source[0] - source[-1] > 0.5  # the jump a naive loop would make
    period, crossfade = _seam(source)
    looped = plain_bed(source, 8.0).read(0, 8 * SR)
    steps = np.abs(np.diff(looped.astype(np.float64)))
    elsewhere = steps[crossfade : period - crossfade].max()  # inside the first pass
    for seam in range(period, len(looped) - crossfade, period):
        assert steps[seam - 200 : seam + crossfade + 200].max() <= 1.5 * elsewhere
    # The same measure catches a naive loop: its jump at the seam is many times bigger.
    naive = np.abs(np.diff(np.tile(source, 4).astype(np.float64)))
    assert naive[len(source) - 2 : len(source) + 2].max() > 5 * elsewhere


FRAME, HOP = 1024, 256


def _flux(samples: np.ndarray) -> np.ndarray:
    """Spectral flux above 2 kHz, where the chord has nothing and a click is plain."""
    window = np.hanning(FRAME)
    starts = range(0, len(samples) - FRAME, HOP)
    spectra = np.array([np.abs(np.fft.rfft(samples[s : s + FRAME] * window)) for s in starts])
    high = np.fft.rfftfreq(FRAME, 1 / SR) > 2000
    return np.maximum(np.diff(spectra[:, high], axis=0), 0).sum(axis=1)


def test_loop_seam_has_no_spectral_flux_spike() -> None:
    source = chord(SEAM_TEST_S) + noise(SEAM_TEST_S, 0.003)
    period, crossfade = _seam(source)
    looped = plain_bed(source, 8.0).read(0, 8 * SR)
    flux = _flux(looped)
    near = np.zeros(len(flux), dtype=bool)
    for seam in range(period, len(looped), period):
        near[max(0, (seam - FRAME) // HOP) : (seam + crossfade + FRAME) // HOP] = True
    usual = np.percentile(flux[~near], 99)
    assert flux[near].max() < 1.25 * usual
    naive = _flux(np.tile(source, 4))
    assert naive[(len(source) - FRAME) // HOP : len(source) // HOP + 1].max() > 5 * usual


def test_loop_crossfade_is_equal_power() -> None:
    # Uncorrelated noise keeps its level through the crossfade (no dip, no swell).
    source = noise(4.0, 0.1, seed=3)
    period, crossfade = _seam(source)
    looped = plain_bed(source, 10.0).read(0, 10 * SR)
    fade = looped[period : period + crossfade]
    assert rms_db(fade) == pytest.approx(rms_db(source), abs=0.5)


def test_ducking_depth_attack_and_release() -> None:
    source = noise(7.0, 0.1, seed=4)
    speech = [(5 * SR, 10 * SR), (20 * SR, 25 * SR)]
    for duck_db in (6.0, 12.0):
        ducked = plain_bed(source, 30.0, duck_db=duck_db, speech=speech).read(0, 30 * SR)
        under = ducked[round(5.5 * SR) : round(9.5 * SR)]
        free = ducked[12 * SR : 18 * SR]
        assert rms_db(free) - rms_db(under) == pytest.approx(duck_db, abs=1.5)
    # The gain itself: the ducked bed over the unducked one.
    gain = ducked.astype(np.float64) / plain_bed(source, 30.0).read(0, 30 * SR)
    gain_db = 20 * np.log10(gain)
    at = lambda seconds: float(gain_db[round(seconds * SR)])  # noqa: E731
    assert at(4.7) == pytest.approx(0.0, abs=1e-6)  # before the attack
    assert -12.0 < at(4.9) < -0.5  # dipping ahead of the voice
    assert at(5.0) == pytest.approx(-12.0, abs=1e-6)  # full depth when it speaks
    assert -12.0 < at(10.4) < -1.0  # on its way back up
    assert at(10.9) == pytest.approx(0.0, abs=1e-6)
    assert np.abs(np.diff(gain_db)).max() < 0.01  # smooth: no step a listener would hear


def test_ducking_breathes_across_short_gaps_and_recovers_in_long_ones() -> None:
    source = noise(7.0, 0.1, seed=5)
    gap = round(0.6 * SR)  # shorter than the release
    speech = [(2 * SR, 4 * SR), (4 * SR + gap, 6 * SR), (11 * SR, 13 * SR)]
    ducked = plain_bed(source, 15.0, duck_db=6.0, speech=speech).read(0, 15 * SR)
    gain_db = 20 * np.log10(ducked.astype(np.float64) / plain_bed(source, 15.0).read(0, 15 * SR))
    assert gain_db[4 * SR : 4 * SR + gap].max() < -1.5  # stays partly down between sentences
    assert gain_db[8 * SR : 9 * SR].max() == pytest.approx(0.0, abs=1e-6)  # a pause: all back


def test_bed_level_in_the_pauses_against_the_voice() -> None:
    voice = np.zeros(40 * SR, dtype=np.float32)
    speech = [(2 * SR, 9 * SR), (15 * SR, 22 * SR), (28 * SR, 35 * SR)]
    for number, (start, end) in enumerate(speech):
        voice[start:end] = speech_like((end - start) / SR, seed=number, level_dbfs=-22.0)
    voice_lufs = integrated_loudness(voice, SR)
    source = noise(6.0, 0.02, seed=6) + chord(6.0) * 0.1
    for bed_level in (-20.0, -12.0):
        gain = sound.bed_gain_db(source, voice_lufs, bed_level)
        bed = sound.Bed(
            source,
            length=len(voice),
            gain_db=gain,
            duck_db=6.0,
            speech=speech,
            fade_in=SR,
            fade_out=2 * SR,
        ).read(0, len(voice))
        pauses = np.concatenate([bed[10 * SR : 14 * SR], bed[23 * SR : 27 * SR]])
        assert integrated_loudness(pauses, SR) - voice_lufs == pytest.approx(bed_level, abs=1.0)


def test_fades_at_both_ends() -> None:
    source = noise(5.0, 0.1, seed=7)
    bed = plain_bed(source, 20.0, fade_in=2 * SR, fade_out=3 * SR)
    samples = bed.read(0, 20 * SR)
    assert samples[0] == 0.0 and samples[-1] == 0.0
    plain = plain_bed(source, 20.0).read(0, 20 * SR)
    assert np.array_equal(samples[2 * SR : 17 * SR], plain[2 * SR : 17 * SR])
    gain = samples[1:].astype(np.float64) / np.where(plain[1:] == 0, 1, plain[1:])
    rising, falling = gain[: 2 * SR - 1], gain[17 * SR - 1 :]
    assert np.all(np.diff(rising) >= -1e-6) and np.all(np.diff(falling) <= 1e-6)
    assert gain[SR - 1] == pytest.approx(0.5, abs=1e-3)  # half way through the fade in


def test_reading_in_blocks_is_reading_at_once() -> None:
    source = chord(3.1) + noise(3.1, 0.02)
    length = 60 * SR
    speech = [(s * SR, s * SR + 3 * SR + 1234) for s in range(1, 58, 5)]
    bed = sound.Bed(
        source,
        length=length,
        gain_db=-7.5,
        duck_db=9.0,
        speech=speech,
        fade_in=3 * SR,
        fade_out=5 * SR,
    )
    whole = bed.read(0, length)
    blocks = np.concatenate(
        [bed.read(s, min(length, s + 262144)) for s in range(0, length, 262144)]
    )
    assert np.array_equal(blocks, whole)
    rng = np.random.default_rng(8)
    for _ in range(200):
        start = int(rng.integers(0, length))
        end = min(length, start + int(rng.integers(0, 5000)))
        assert np.array_equal(bed.read(start, end), whole[start:end])
    assert bed.read(5, 5).shape == (0,)
    with pytest.raises(ValueError):
        bed.read(0, length + 1)


def test_an_hour_of_bed_is_made_a_block_at_a_time() -> None:
    source = noise(30.0, 0.1, seed=9)
    length = 60 * 60 * SR
    speech = [(s * SR, s * SR + 6 * SR) for s in range(5, 3590, 10)]
    bed = sound.Bed(
        source,
        length=length,
        gain_db=-10.0,
        duck_db=6.0,
        speech=speech,
        fade_in=SR,
        fade_out=4 * SR,
    )
    block = 262144
    tracemalloc.start()
    try:
        total = 0.0
        for start in range(0, length, block):
            total += float(np.abs(bed.read(start, min(length, start + block))).sum())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total > 0
    assert peak < 16 * block * 8  # a few block-sized arrays; the whole bed would be 635 MB


def test_a_bed_from_an_empty_file_is_silence() -> None:
    bed = plain_bed(np.zeros(0, dtype=np.float32), 2.0)
    assert not bed.read(0, 2 * SR).any()
    assert sound.bed_gain_db(np.zeros(SR, dtype=np.float32), -16.0, -20.0) == 0.0


def test_a_bed_shorter_than_a_crossfade_still_loops() -> None:
    source = chord(0.2)
    looped = plain_bed(source, 3.0).read(0, 3 * SR)
    assert rms_db(looped) == pytest.approx(rms_db(source), abs=1.0)


# --------------------------------------------------------------------------- levels


def test_loudness_lufs_agrees_with_pyloudnorm() -> None:
    samples = speech_like(12.0, seed=3, level_dbfs=-24.0)
    expected = pyloudnorm.Meter(SR).integrated_loudness(samples.astype(np.float64))
    assert sound.loudness_lufs(samples) == pytest.approx(expected, abs=0.1)
    assert sound.loudness_lufs(tone(5.0, 997.0, 0.1)) == pytest.approx(-23.0, abs=0.1)


def test_bed_gain_db_moves_the_bed_to_its_level() -> None:
    source = noise(20.0, 0.05, seed=10)
    gain = sound.bed_gain_db(source, -18.0, -20.0)
    lifted = source * np.float32(10 ** (gain / 20))
    assert integrated_loudness(lifted, SR) == pytest.approx(-38.0, abs=0.1)
