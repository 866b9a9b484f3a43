"""Encoding: finding ffmpeg, atomic writes, and the tagged MP3 measured after decoding.

Every test here runs the ffmpeg binary that imageio-ffmpeg ships (PATH is emptied and
VOICETRACK_FFMPEG unset), which is what a machine without a system ffmpeg uses.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from audio_helpers import (
    decode,
    find_silences,
    make_plan,
    render_plan,
    silence,
    speech,
    speech_like,
    tone,
)
from mutagen.id3 import ID3, CTOCFlags
from mutagen.mp3 import MP3, BitrateMode

from pipeline import encode as encode_module
from pipeline import master as master_module
from pipeline import mastering as mastering_module
from pipeline import mp3header
from pipeline.assemble import assemble
from pipeline.atomic import atomic_path, write_bytes_atomic, write_text_atomic
from pipeline.encode import (
    encode_mp3,
    encoder_command,
    id3_language,
)
from pipeline.errors import EncodeError
from pipeline.ffmpeg import ENV_VAR, ffmpeg_exe, run_ffmpeg, which_ffmpeg
from pipeline.master import master, measure_file
from pipeline.mastering import MasterHint, write_mastered_mp3
from pipeline.model import Chapter, TrackTags
from pipeline.mp3header import gapless_info, set_gapless_padding

SR = 44100
PNG = (  # a valid 1x1 PNG
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99"
    b"=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture(scope="module", autouse=True)
def imageio_ffmpeg_only(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(ENV_VAR, raising=False)
        patch.setenv("PATH", str(tmp_path_factory.mktemp("no-ffmpeg-here")))
        which_ffmpeg.cache_clear()
        yield
    which_ffmpeg.cache_clear()


@pytest.fixture
def fresh_lookup():
    which_ffmpeg.cache_clear()
    yield
    which_ffmpeg.cache_clear()


def tags(**changes) -> TrackTags:
    values = dict(
        title="Compassionate Letter Writing",
        album="Developing Self-Compassion",
        track=7,
        artist="Ana Müller",
        language="en-GB",
        comment="A fifteen-minute writing exercise.",
        cover=PNG,
        cover_mime="image/png",
    )
    values.update(changes)
    return TrackTags(**values)


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


@pytest.fixture(scope="module")
def track():
    """A short assembled track: two sections, explicit pauses, sentence gaps."""
    plan = make_plan(
        [
            silence("lead_in", 1.0),
            speech("S0-01", "Welcome.", "Find somewhere quiet."),
            silence("pause", 3.0, line=3),
            speech("S0-02", "Settle in."),
            silence("section", 2.5),
            speech("S1-01", "Notice your breath.", "Notice your feet."),
            silence("pause", 1.5, line=8),
            speech("S1-02", "Rest here."),
            silence("tail", 3.0),
        ],
        section_titles={0: "Compassionate Letter Writing", 1: "Noticing"},
    )
    samples, timeline = assemble(plan, render_plan(plan, sentence_seconds=1.2))
    return samples, timeline


@pytest.fixture(scope="module")
def mastered_mp3(track, tmp_path_factory):
    samples, timeline = track
    path = tmp_path_factory.mktemp("mastered") / "track.en-GB.mp3"
    result = write_mastered_mp3(samples, SR, path, tags(), timeline.chapters)
    return path, result


# --------------------------------------------------------------------------- ffmpeg


def test_ffmpeg_comes_from_imageio_when_nothing_else_is_there(fresh_lookup):
    path, origin = which_ffmpeg()
    assert (path, origin) == (imageio_ffmpeg.get_ffmpeg_exe(), "imageio-ffmpeg")
    encoders = run_ffmpeg(["-encoders"]).stdout.decode()
    assert "libmp3lame" in encoders


def test_ffmpeg_on_path_wins_over_imageio(fresh_lookup, tmp_path, monkeypatch):
    (tmp_path / "ffmpeg").symlink_to(imageio_ffmpeg.get_ffmpeg_exe())
    monkeypatch.setenv("PATH", str(tmp_path))
    assert which_ffmpeg() == (str(tmp_path / "ffmpeg"), "PATH")


def test_environment_variable_wins_over_everything(fresh_lookup, tmp_path, monkeypatch):
    (tmp_path / "ffmpeg").symlink_to(imageio_ffmpeg.get_ffmpeg_exe())
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv(ENV_VAR, imageio_ffmpeg.get_ffmpeg_exe())
    assert which_ffmpeg() == (imageio_ffmpeg.get_ffmpeg_exe(), "VOICETRACK_FFMPEG")
    assert ffmpeg_exe() == imageio_ffmpeg.get_ffmpeg_exe()


def test_environment_variable_naming_nothing_is_an_error(fresh_lookup, monkeypatch):
    monkeypatch.setenv(ENV_VAR, "/nowhere/ffmpeg")
    with pytest.raises(EncodeError, match="VOICETRACK_FFMPEG"):
        ffmpeg_exe()


def test_run_ffmpeg_failure_carries_command_status_and_stderr(tmp_path):
    missing = tmp_path / "missing.wav"
    with pytest.raises(EncodeError) as caught:
        run_ffmpeg(["-i", str(missing), "-f", "null", "-"])
    error = caught.value
    assert error.command[0] == imageio_ffmpeg.get_ffmpeg_exe()
    assert str(missing) in error.command
    assert error.returncode not in (None, 0)
    assert "missing.wav" in error.stderr
    assert "exit status" in str(error)


# --------------------------------------------------------------------------- atomic


def test_atomic_path_replaces_the_file_on_success(tmp_path):
    final = tmp_path / "out.mp3"
    final.write_bytes(b"old")
    with atomic_path(final) as temp:
        assert temp.parent == tmp_path and temp.name.startswith(".") and temp.suffix == ".mp3"
        assert final.read_bytes() == b"old"  # untouched while the new file is written
        temp.write_bytes(b"new")
    assert final.read_bytes() == b"new"
    assert leftovers(tmp_path) == []
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(final.stat().st_mode) == 0o666 & ~umask


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_atomic_path_removes_the_temporary_file_on_any_error(tmp_path, error):
    final = tmp_path / "out.json"
    final.write_text("previous")
    with pytest.raises(error), atomic_path(final) as temp:
        temp.write_text("half written")
        raise error()
    assert final.read_text() == "previous"
    assert leftovers(tmp_path) == []


def test_atomic_writers_create_folders_and_keep_newlines(tmp_path):
    write_text_atomic(tmp_path / "a" / "b.vtt", "WEBVTT\n\nx\n")
    write_bytes_atomic(tmp_path / "c.bin", b"\x00\x01")
    assert (tmp_path / "a" / "b.vtt").read_bytes() == b"WEBVTT\n\nx\n"
    assert (tmp_path / "c.bin").read_bytes() == b"\x00\x01"


# --------------------------------------------------------------------------- the encoded file


def plain_encode(samples: np.ndarray, path: Path) -> None:
    """``samples`` through the encoder command alone: the file as ffmpeg leaves it."""
    command = encoder_command(SR, path)
    subprocess.run(command, input=samples.astype("<f4").tobytes(), check=True)


def stored_crc(frame: bytes, at: int) -> int:
    return int.from_bytes(frame[at : at + 2], "big")


# One frame is 1152 samples. For these lengths the encoder flushes a frame more than
# ffmpeg records as padding (it records at most one frame plus the decoder's delay).
@pytest.mark.parametrize("length", [301_828, 301_850, 301_870, 301_900])
def test_the_gapless_header_gives_the_exact_length(tmp_path, length):
    samples = (np.random.default_rng(length).standard_normal(length) * 0.1).astype(np.float32)
    path = tmp_path / "t.mp3"
    plain_encode(samples, path)
    frame = path.read_bytes()[:2048]
    found = mp3header._parse_info_frame(frame)
    assert found is not None
    before, _, crc_at = found
    # The checksum as ffmpeg wrote it is the one computed here.
    assert int.from_bytes(frame[crc_at : crc_at + 2], "big") == mp3header._tag_crc(frame, crc_at)

    changed = set_gapless_padding(path, length)
    assert changed == (before.samples != length)
    after = gapless_info(path)
    assert after is not None and after.samples == length
    assert (after.frames, after.encoder_delay) == (before.frames, before.encoder_delay)
    frame = path.read_bytes()[:2048]
    assert int.from_bytes(frame[crc_at : crc_at + 2], "big") == mp3header._tag_crc(frame, crc_at)
    assert len(decode(path)) == length  # ffmpeg's decoder reads the header


def test_a_header_that_does_not_check_out_is_left_alone(tmp_path):
    samples = np.zeros(301_850, dtype=np.float32)
    path = tmp_path / "t.mp3"
    plain_encode(samples, path)
    data = bytearray(path.read_bytes())
    data[160] ^= 0xFF  # inside the LAME extension, before the delay and padding
    path.write_bytes(bytes(data))
    assert not set_gapless_padding(path, len(samples))
    assert path.read_bytes() == bytes(data)


def test_mp3_is_44k_mono_cbr_96k_and_gapless(track, tmp_path):
    samples, timeline = track
    mastered, _ = master(samples, SR)
    path = tmp_path / "t.mp3"
    report = encode_mp3(mastered, SR, path, tags(), timeline.chapters)

    info = MP3(path).info
    assert (info.sample_rate, info.channels) == (44100, 1)
    assert info.bitrate_mode == BitrateMode.CBR and info.bitrate == 96000
    # ffmpeg records LAME's delay and padding; gapless decoders remove both, so the
    # decoded track is exactly as long as the master.
    assert report.gapless is not None
    assert report.gapless.encoder_delay == 576
    assert report.gapless.samples == len(mastered)
    assert gapless_info(path) == report.gapless
    assert len(decode(path)) == len(mastered)


def test_decoded_sound_starts_where_the_timeline_says(mastered_mp3, track):
    path, _ = mastered_mp3
    _, timeline = track
    decoded = decode(path)
    onset = np.flatnonzero(np.abs(decoded) > 10 ** (-40 / 20))[0]
    first = timeline.sentences[0].start
    assert abs(onset - first) <= 0.002 * SR  # no encoder delay left in


def test_silences_survive_encoding_within_50_ms(mastered_mp3, track):
    path, _ = mastered_mp3
    _, timeline = track
    expected = []
    previous_end = 0
    for sentence in timeline.sentences:
        if sentence.start > previous_end:
            expected.append((previous_end / SR, sentence.start / SR))
        previous_end = sentence.end
    expected.append((previous_end / SR, timeline.length / SR))
    measured = find_silences(decode(path), SR, threshold_db=-50.0, min_seconds=0.3)
    assert len(measured) == len(expected)
    for (start, end), (want_start, want_end) in zip(measured, expected, strict=True):
        assert start == pytest.approx(want_start, abs=0.05)
        assert end == pytest.approx(want_end, abs=0.05)


def test_long_silences_decode_to_digital_silence(mastered_mp3, track):
    path, _ = mastered_mp3
    _, timeline = track
    decoded = decode(path)
    for timed in timeline.items:
        if getattr(timed.item, "seconds", 0) >= 1.0:
            guard = round(0.1 * SR)  # codec pre-echo reaches a little into the silence
            assert not decoded[timed.start + guard : timed.end - guard].any()


def test_encoded_loudness_and_true_peak_meet_the_promise(mastered_mp3):
    path, result = mastered_mp3
    measured = measure_file(path)
    assert measured == result.loudness  # what the manifest reports is the file itself
    assert measured.integrated_lufs == pytest.approx(-16.0, abs=0.25)
    assert measured.true_peak_dbtp <= -1.0


def test_plain_encode_of_a_master_stays_within_a_loudness_unit(track, tmp_path):
    samples, timeline = track
    mastered, _ = master(samples, SR, target_lufs=-18.0)
    path = tmp_path / "plain.mp3"
    encode_mp3(mastered, SR, path, tags(), timeline.chapters)
    measured = measure_file(path)
    assert measured.integrated_lufs == pytest.approx(-18.0, abs=1.0)
    assert measured.true_peak_dbtp <= -1.0


def speech_with_bursts() -> np.ndarray:
    """Speech-like sound with full-band noise bursts, which MP3 quantisation makes peakier."""
    rng = np.random.default_rng(12)
    voice = speech_like(15, seed=12, level_dbfs=-22)
    bursts = np.zeros_like(voice)
    for start in rng.integers(0, len(voice) - 176, 60):
        bursts[start : start + 176] = rng.standard_normal(176) * 0.2
    return np.concatenate([np.zeros(SR, np.float32), voice + bursts, np.zeros(SR, np.float32)])


def test_mastering_through_the_encoder_corrects_codec_overshoot(tmp_path, monkeypatch):
    # Full-band noise bursts make MP3 quantisation push true peaks up. With no headroom
    # kept for the encoder, the first encoding overshoots the limit; the encoded file is
    # measured and the track mastered again, lower.
    monkeypatch.setattr(master_module, "MP3_MARGIN_DB", 0.0)
    samples = speech_with_bursts()

    plain, _ = master(samples, SR)
    encode_mp3(plain, SR, tmp_path / "plain.mp3", tags(), [])
    assert measure_file(tmp_path / "plain.mp3").true_peak_dbtp > -1.0  # the premise

    result = write_mastered_mp3(samples, SR, tmp_path / "bursts.mp3", tags(), [])
    measured = measure_file(tmp_path / "bursts.mp3")
    assert measured == result.loudness
    assert measured.true_peak_dbtp <= -1.0
    assert measured.integrated_lufs == pytest.approx(-16.0, abs=0.25)
    assert result.attempts >= 2


def test_a_rebuild_after_a_small_edit_starts_where_the_last_master_landed(tmp_path, monkeypatch):
    monkeypatch.setattr(master_module, "MP3_MARGIN_DB", 0.0)  # so the first build retries
    samples = speech_with_bursts()
    first = write_mastered_mp3(samples, SR, tmp_path / "first.mp3", tags(), [])
    assert first.attempts >= 2 and first.master.passes >= 2 and first.hint is not None
    hint = MasterHint.from_dict(first.hint.to_dict())
    assert hint is not None
    edited = samples.copy()
    edited[5 * SR : 6 * SR] *= 0.8  # one sentence said a little differently
    again = write_mastered_mp3(edited, SR, tmp_path / "again.mp3", tags(), [], hint=hint)
    assert (again.attempts, again.master.passes) == (1, 1)
    measured = measure_file(tmp_path / "again.mp3")
    assert measured.true_peak_dbtp <= -1.0
    assert measured.integrated_lufs == pytest.approx(-16.0, abs=0.3)
    # A hint survives a change of target: its offsets move with it.
    quieter = write_mastered_mp3(
        edited, SR, tmp_path / "quieter.mp3", tags(), [], target_lufs=-20.0, hint=hint
    )
    assert quieter.attempts == 1
    assert quieter.loudness.integrated_lufs == pytest.approx(-20.0, abs=0.3)


@pytest.mark.parametrize("data", [None, [], {}, {"makeup_db": "x"}, {"a": 1}])
def test_a_damaged_hint_is_ignored(data):
    assert MasterHint.from_dict(data) is None


def test_other_input_rates_are_resampled_to_44k(tmp_path):
    path = tmp_path / "t.mp3"
    report = encode_mp3(tone(1.0, 440.0, 0.3, sr=22050), 22050, path, tags(cover=None), [])
    assert MP3(path).info.sample_rate == 44100
    assert report.gapless is not None and report.gapless.samples == 44100
    assert len(decode(path)) == 44100


# --------------------------------------------------------------------------- tags


def test_tags_read_back(mastered_mp3):
    path, _ = mastered_mp3
    id3 = ID3(path)
    assert id3.version == (2, 3, 0)
    assert id3["TIT2"].text == ["Compassionate Letter Writing"]
    assert id3["TALB"].text == ["Developing Self-Compassion"]
    assert id3["TRCK"].text == ["7"]
    assert id3["TPE1"].text == ["Ana Müller"]
    assert id3["TLAN"].text == ["eng"]
    (comment,) = id3.getall("COMM")
    assert comment.text == ["A fifteen-minute writing exercise."] and comment.lang == "eng"
    (cover,) = id3.getall("APIC")
    assert cover.data == PNG and cover.mime == "image/png" and cover.type == 3


def test_chapters_read_back_in_order(mastered_mp3, track):
    path, _ = mastered_mp3
    _, timeline = track
    id3 = ID3(path)
    (toc,) = id3.getall("CTOC")
    assert toc.flags & CTOCFlags.TOP_LEVEL and toc.flags & CTOCFlags.ORDERED
    chapters = [id3[f"CHAP:{element}"] for element in toc.child_element_ids]
    assert [c.sub_frames["TIT2"].text[0] for c in chapters] == [
        "Compassionate Letter Writing",
        "Noticing",
    ]
    assert [(c.start_time, c.end_time) for c in chapters] == [
        (round(c.start * 1000 / SR), round(c.end * 1000 / SR)) for c in timeline.chapters
    ]
    assert chapters[0].start_time == 0
    assert chapters[-1].end_time == round(timeline.length * 1000 / SR)


def test_absent_fields_write_no_frames(tmp_path):
    path = tmp_path / "bare.mp3"
    bare = tags(album=None, track=None, artist=None, comment=None, cover=None, cover_mime=None)
    encode_mp3(tone(0.5), SR, path, bare, [])
    id3 = ID3(path)
    assert sorted(frame[:4] for frame in id3) == ["TIT2", "TLAN", "TLEN"]  # TLEN: always


def test_cover_type_is_sniffed_and_checked(tmp_path):
    jpeg = b"\xff\xd8\xff\xe0" + b"\x00" * 32
    encode_mp3(tone(0.5), SR, tmp_path / "j.mp3", tags(cover=jpeg, cover_mime=None), [])
    assert ID3(tmp_path / "j.mp3").getall("APIC")[0].mime == "image/jpeg"
    with pytest.raises(EncodeError, match="neither a PNG nor a JPEG"):
        encode_mp3(tone(0.5), SR, tmp_path / "x.mp3", tags(cover=b"GIF89a", cover_mime=None), [])
    assert leftovers(tmp_path) == [] and not (tmp_path / "x.mp3").exists()


def test_language_codes():
    assert id3_language("en-GB") == id3_language("en-US") == "eng"
    assert id3_language("cy") == "cym"
    assert id3_language("xx-YY") == "und"


def test_chapter_times_are_milliseconds_of_the_track(tmp_path):
    chapters = [Chapter("One", 0, 22050), Chapter("Two", 22050, 44100 + 441)]
    path = tmp_path / "c.mp3"
    encode_mp3(tone(1.01), SR, path, tags(cover=None), chapters)
    id3 = ID3(path)
    assert (id3["CHAP:chp1"].start_time, id3["CHAP:chp1"].end_time) == (500, 1010)


# --------------------------------------------------------------------------- atomicity


@pytest.fixture
def previous_output(tmp_path):
    path = tmp_path / "track.en-GB.mp3"
    encode_mp3(tone(0.5, 330.0, 0.2), SR, path, tags(title="Previous"), [])
    return path, path.read_bytes()


def test_ffmpeg_failure_leaves_the_previous_file(previous_output, monkeypatch):
    path, before = previous_output
    real_command = encode_module.encoder_command

    def bogus_command(*args, **kwargs):
        command = real_command(*args, **kwargs)
        return [*command[:-1], "-no_such_option", "1", command[-1]]

    monkeypatch.setattr(encode_module, "encoder_command", bogus_command)
    with pytest.raises(EncodeError) as caught:
        encode_mp3(speech_like(3), SR, path, tags(), [])
    assert caught.value.returncode not in (None, 0)
    assert "no_such_option" in caught.value.stderr
    assert path.read_bytes() == before
    assert leftovers(path.parent) == []


def test_tagging_failure_leaves_the_previous_file(previous_output, monkeypatch):
    path, before = previous_output

    def failing_tags(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(encode_module, "write_tags", failing_tags)
    with pytest.raises(EncodeError, match="disk full"):
        encode_mp3(speech_like(3), SR, path, tags(), [])
    assert path.read_bytes() == before
    assert leftovers(path.parent) == []


def test_interrupt_mid_stream_stops_ffmpeg_and_leaves_the_previous_file(
    previous_output, monkeypatch
):
    path, before = previous_output
    processes = []
    real_popen = subprocess.Popen

    class InterruptingStdin:
        """Passes two writes through to ffmpeg, then acts as if Ctrl-C were pressed."""

        def __init__(self, stream):
            self.stream, self.writes = stream, 0

        def write(self, data):
            self.writes += 1
            if self.writes > 2:
                raise KeyboardInterrupt
            return self.stream.write(data)

        def close(self):
            self.stream.close()

    def popen(*args, **kwargs):
        process = real_popen(*args, **kwargs)
        process.stdin = InterruptingStdin(process.stdin)
        processes.append(process)
        return process

    monkeypatch.setattr(encode_module.subprocess, "Popen", popen)
    monkeypatch.setattr(encode_module, "CHUNK", SR)  # 1 s per write: the interrupt is mid-way
    with pytest.raises(KeyboardInterrupt):
        encode_mp3(speech_like(10), SR, path, tags(), [])
    assert processes and processes[0].poll() is not None  # ffmpeg did not outlive it
    assert path.read_bytes() == before
    assert leftovers(path.parent) == []


def ffmpeg_chapters(path: Path) -> list[tuple[int, int, str]]:
    """(start ms, end ms, title) of every chapter, in the order ffmpeg's reader (and so
    ffprobe, mpv and VLC) lists them."""
    result = run_ffmpeg(["-v", "error", "-i", str(path), "-f", "ffmetadata", "-"])
    chapters: list[tuple[int, int, str]] = []
    fields: dict[str, str] = {}
    for line in [*result.stdout.decode("utf-8").splitlines(), "[END]"]:
        if line.startswith("[") and fields:
            chapters.append((int(fields["START"]), int(fields["END"]), fields["title"]))
            fields = {}
        if line == "[CHAPTER]":
            fields = {"title": ""}
        elif fields and "=" in line:
            key, _, value = line.partition("=")
            fields[key] = value
    return chapters


def test_players_list_the_chapters_in_time_order(tmp_path):
    # mutagen orders frames by size: a long first title would be written last.
    titles = ["A long opening section with a long title", "Two", "Three"]
    chapters = [Chapter(title, i * 2 * SR, (i + 1) * 2 * SR) for i, title in enumerate(titles)]
    path = tmp_path / "chapters.mp3"
    encode_mp3(tone(6.0), SR, path, tags(), chapters)
    read = ffmpeg_chapters(path)
    assert [title for _, _, title in read] == titles
    starts = [start for start, _, _ in read]
    assert starts == sorted(starts)


def test_the_length_frame_gives_the_exact_duration(tmp_path):
    path = tmp_path / "length.mp3"
    samples = tone(2.5)[: SR * 2 + 1234]
    encode_mp3(samples, SR, path, tags(), [])
    assert ID3(path)["TLEN"].text == [str(round(len(samples) * 1000 / SR))]


def test_a_track_that_misses_its_loudness_after_every_attempt_is_a_failure(tmp_path, monkeypatch):
    # One attempt only, aimed 4 LU too loud by a stale hint: the encoded file misses the
    # target by far more than the promised 1 LU, and nothing is written.
    monkeypatch.setattr(mastering_module, "ENCODE_ATTEMPTS", 1)
    stale = MasterHint(makeup_db=0.0, level_offset_db=4.0, peak_offset_db=0.0)
    path = tmp_path / "missed.mp3"
    with pytest.raises(EncodeError, match=r"missed\.mp3: encoded at -1[23]\.\d LUFS"):
        write_mastered_mp3(speech_like(8, seed=3), SR, path, tags(), [], hint=stale)
    assert not path.exists() and leftovers(tmp_path) == []
