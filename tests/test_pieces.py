"""An MP3 laid out as pieces (pipeline.pieces, pipeline.mp3frames): what sounds is encoded,
silence is made without the encoder, and a rebuild keeps the frames of unchanged pieces.

Every file here is checked as a listener gets it: decoded by ffmpeg (which must not
complain), sample for sample against the master it was made from."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from audio_helpers import speech_like

from pipeline import mastering as mastering_module
from pipeline.encode import encode_blocks, encode_mp3, encoder_frame_format
from pipeline.ffmpeg import ffmpeg_exe
from pipeline.master import limit, measure_file
from pipeline.mastering import PreviousMp3, write_mastered_mp3
from pipeline.mix import MixedTrack
from pipeline.model import TrackAudio, TrackTags
from pipeline.mp3frames import (
    DECODER_DELAY,
    FRAME_SAMPLES,
    main_data,
    read_header,
    silent_frames,
    split_frames,
    stands_alone,
)
from pipeline.mp3header import audio_start
from pipeline.paths import file_digest
from pipeline.pieces import GUARD, MIN_SILENT_FRAMES, PieceMap, plan_pieces, stored_frames

SR = 44100
TAGS = TrackTags(
    title="Pieces", album=None, track=None, artist=None, comment=None, language="en-GB"
)


def decoded(path: Path) -> np.ndarray:
    """The file decoded by ffmpeg, which must report nothing wrong with it."""
    result = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "f32le", "-ac", "1", "-"],
        capture_output=True,
        check=True,
    )
    assert result.stderr == b""
    return np.frombuffer(result.stdout, dtype=np.float32)


def exercise(seconds: list[float], pauses: list[float], seed: int = 0) -> TrackAudio:
    """Speech-like segments with the given lengths, each after its pause, then 1 s."""
    placed = []
    position = 0
    for index, (length, pause) in enumerate(zip(seconds, pauses, strict=True)):
        position += round(pause * SR)
        audio = speech_like(length, seed=seed + index)
        placed.append((position, audio))
        position += len(audio)
    return TrackAudio(position + SR, SR, placed)


def snr_db(reference: np.ndarray, other: np.ndarray) -> float:
    error = other - reference
    return float(10 * np.log10(np.sum(reference**2) / np.sum(error**2)))


def audio_frames(path: Path) -> list[bytes]:
    data = path.read_bytes()
    return split_frames(data[audio_start(data[:10]) :])[1:]  # not the header frame


# --------------------------------------------------------------------------- frames


def test_frames_of_silence_decode_to_zeros_at_the_exact_byte_rate(tmp_path):
    template, _ = encoder_frame_format("96k")
    frames = silent_frames(template, 0, 490)
    # 96 kbps at 44.1 kHz is 313 + 23/49 bytes a frame: 490 frames are 153,600 bytes.
    assert len(frames) == 490 * 313 + 230
    assert all(main_data(frame) == (0, 0) for frame in split_frames(frames))
    raw = tmp_path / "silence.mp3"
    raw.write_bytes(frames)
    samples = decoded(raw)
    assert len(samples) >= 489 * FRAME_SAMPLES and not samples.any()


def test_a_run_of_frames_that_borrows_from_before_it_does_not_stand_alone(tmp_path):
    path = tmp_path / "noise.mp3"
    noise = np.random.default_rng(3).standard_normal(40 * FRAME_SAMPLES).astype(np.float32) * 0.2
    encode_blocks([noise], SR, path, "96k")
    frames = audio_frames(path)
    assert stands_alone(frames)  # an encoder starts with an empty reservoir
    borrowing = [index for index in range(1, 30) if main_data(frames[index])[0] > 0]
    assert borrowing, "noise at 96 kbps always borrows"
    assert not stands_alone(frames[borrowing[0] :])
    assert read_header(frames[0]).main_data_length == len(frames[0]) - 4 - 17


# --------------------------------------------------------------------------- plan


def test_pieces_cover_every_frame_that_could_sound_and_nothing_far_from_sound():
    track = exercise([2.0, 1.5, 3.0], [1.0, 4.0, 0.2])
    _, delay = encoder_frame_format("96k")
    plan = plan_pieces(track, delay)
    total = delay + DECODER_DELAY
    assert plan.frames == -(-(track.length + total) // FRAME_SAMPLES)
    # The 0.2 s pause is shorter than MIN_SILENT_FRAMES: two pieces, not three.
    assert len(plan.pieces) == 2
    for start, stop in track.spans():
        piece = next(p for p in plan.pieces if p.start <= start and stop <= p.stop)
        # Every frame whose decoded samples lie within GUARD of the sound is in the piece.
        first_sounding = (start + total - GUARD) // FRAME_SAMPLES
        assert piece.first <= max(first_sounding, 0)
        assert (piece.first + piece.count) * FRAME_SAMPLES - total >= min(
            stop + GUARD, plan.frames * FRAME_SAMPLES - total
        )
    pairs = zip(plan.pieces, plan.pieces[1:], strict=False)
    gaps = [b.first - (a.first + a.count) for a, b in pairs]
    assert all(gap >= MIN_SILENT_FRAMES for gap in gaps)
    assert plan.encoded_frames < 0.8 * plan.frames


def test_a_track_that_never_falls_silent_is_one_piece_and_silence_is_none():
    voice = exercise([2.0], [1.0])
    bed = TrackAudio(voice.length, SR, [(0, np.full(voice.length, 0.01, np.float32))])
    mixed = MixedTrack(voice, bed)
    _, delay = encoder_frame_format("96k")
    plan = plan_pieces(mixed, delay)
    assert [(p.first, p.count) for p in plan.pieces] == [(0, plan.frames)]
    assert plan_pieces(TrackAudio(5 * SR, SR), delay).pieces == ()


# --------------------------------------------------------------------------- files


def test_a_track_in_pieces_decodes_like_the_same_master_encoded_whole(tmp_path):
    track = exercise([3.0, 2.5, 4.0, 1.5], [1.0, 3.0, 6.0, 2.0])
    result = write_mastered_mp3(track, SR, tmp_path / "pieces.mp3", TAGS, [])
    assert result.pieces is not None and len(result.pieces.pieces) == 4
    assert result.encoded_frames < 0.6 * len(audio_frames(tmp_path / "pieces.mp3"))
    # The same master, limited in one go and encoded in one run of the encoder.
    reference, _ = limit(track, SR, result.master.gain_db, result.pieces.ceiling_db)
    encode_mp3(reference, SR, tmp_path / "whole.mp3", TAGS, [])
    pieces, whole = decoded(tmp_path / "pieces.mp3"), decoded(tmp_path / "whole.mp3")
    assert len(pieces) == len(whole) == track.length  # gapless, to the sample
    # Each speech segment lines up to the sample and is as faithful as a single run.
    assert snr_db(reference, pieces) == pytest.approx(snr_db(reference, whole), abs=1.0)
    assert snr_db(reference, pieces) > 15
    for start, stop in track.spans():
        lags = range(-3, 4)
        best = max(
            lags,
            key=lambda lag: float(np.dot(reference[start:stop], pieces[start + lag : stop + lag])),
        )
        assert best == 0
    # Far from the sound the file is digital silence, as in the master.
    quiet = np.ones(track.length, dtype=bool)
    for start, stop in track.spans():
        quiet[max(start - GUARD, 0) : stop + GUARD] = False
    assert not pieces[quiet].any()
    # The encoder's run and the bare frames were scratch files: none is left.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pieces.mp3", "whole.mp3"]
    loudness = measure_file(tmp_path / "pieces.mp3")
    assert loudness.integrated_lufs == pytest.approx(result.loudness.integrated_lufs, abs=0.011)
    assert loudness.integrated_lufs == pytest.approx(-16.0, abs=0.3)
    assert loudness.true_peak_dbtp <= -1.0


def test_a_rebuild_keeps_the_frames_of_every_unchanged_piece(tmp_path):
    lengths, pauses = [3.0, 2.5, 4.0, 2.0], [1.0, 3.0, 5.0, 2.5]
    first = write_mastered_mp3(exercise(lengths, pauses), SR, tmp_path / "a.mp3", TAGS, [])
    assert first.pieces is not None
    before = audio_frames(tmp_path / "a.mp3")
    # The last sentence said differently (same length, other words).
    edited = exercise(lengths, pauses)
    start, stop = edited.spans()[-1]
    last = TrackAudio(
        edited.length,
        SR,
        [
            *[(a, edited.read(a, b)) for a, b in edited.spans()[:-1]],
            (start, speech_like(2.0, seed=99)),
        ],
    )
    out = tmp_path / "b.mp3"
    out.write_bytes((tmp_path / "a.mp3").read_bytes())
    again = write_mastered_mp3(last, SR, out, TAGS, [], previous=PreviousMp3(out, first.pieces))
    assert again.attempts == 1 and again.master.passes == 0  # the last gain, kept
    assert again.pieces is not None and again.pieces.gain_db == first.pieces.gain_db
    changed = again.pieces.pieces[-1]
    assert again.encoded_frames == changed.count
    after = audio_frames(out)
    for kept in again.pieces.pieces[:-1]:
        span = slice(kept.first, kept.first + kept.count)
        assert after[span] == before[span]
    assert [p.key for p in again.pieces.pieces[:-1]] == [p.key for p in first.pieces.pieces[:-1]]
    samples = decoded(out)
    assert len(samples) == last.length
    reference, _ = limit(last, SR, again.pieces.gain_db, again.pieces.ceiling_db)
    assert snr_db(reference, samples) > 15
    assert again.loudness.integrated_lufs == pytest.approx(-16.0, abs=0.3)
    assert again.loudness.true_peak_dbtp <= -1.0


def test_the_pieces_measured_apart_give_the_loudness_of_the_whole_file(tmp_path):
    # Each piece is decoded and measured once, where it lies; the file's loudness is
    # theirs added up, and must be what measuring the whole decoded file gives.
    track = exercise([3.0, 0.6, 4.0, 2.0, 5.0], [0.3, 2.0, 7.0, 0.5, 3.0], seed=7)
    path = tmp_path / "t.mp3"
    result = write_mastered_mp3(track, SR, path, TAGS, [])
    assert result.pieces is not None and len(result.pieces.pieces) >= 3
    whole = measure_file(path)
    assert result.loudness.integrated_lufs == pytest.approx(whole.integrated_lufs, abs=0.011)
    assert result.loudness.true_peak_dbtp == pytest.approx(whole.true_peak_dbtp, abs=0.011)
    # And so after an edit, where most pieces are not decoded again.
    first, *rest = track.spans()
    edited = TrackAudio(
        track.length,
        SR,
        [(first[0], speech_like(3.0, seed=70)), *[(a, track.read(a, b)) for a, b in rest]],
    )
    again = write_mastered_mp3(
        edited, SR, path, TAGS, [], previous=PreviousMp3(path, result.pieces)
    )
    assert again.encoded_frames == again.pieces.pieces[0].count
    whole = measure_file(path)
    assert again.loudness.integrated_lufs == pytest.approx(whole.integrated_lufs, abs=0.011)
    assert again.loudness.true_peak_dbtp == pytest.approx(whole.true_peak_dbtp, abs=0.011)


def test_frames_are_taken_only_from_the_file_the_map_was_made_for(tmp_path):
    track = exercise([3.0, 2.0], [1.0, 3.0])
    path = tmp_path / "t.mp3"
    first = write_mastered_mp3(track, SR, path, TAGS, [])
    assert first.pieces is not None
    assert stored_frames(path, first.pieces, file_digest(path)) is not None
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF  # the file has changed since
    path.write_bytes(bytes(data))
    assert stored_frames(path, first.pieces, file_digest(path)) is None
    again = write_mastered_mp3(track, SR, path, TAGS, [], previous=PreviousMp3(path, first.pieces))
    assert again.encoded_frames == sum(p.count for p in again.pieces.pieces)
    assert len(decoded(path)) == track.length
    # A map from another target is not used either.
    other = write_mastered_mp3(
        track, SR, path, TAGS, [], target_lufs=-19.0, previous=PreviousMp3(path, again.pieces)
    )
    assert other.master.passes > 0
    assert other.loudness.integrated_lufs == pytest.approx(-19.0, abs=0.3)


def test_a_kept_gain_that_misses_the_target_is_searched_again(tmp_path):
    lengths, pauses = [3.0, 2.5], [1.0, 3.0]
    path = tmp_path / "t.mp3"
    first = write_mastered_mp3(exercise(lengths, pauses), SR, path, TAGS, [])
    # The second sentence much louder: the old gain would land well above the target.
    louder = exercise(lengths, pauses)
    (a, b), (c, d) = louder.spans()
    edited = TrackAudio(louder.length, SR, [(a, louder.read(a, b)), (c, louder.read(c, d) * 3)])
    again = write_mastered_mp3(edited, SR, path, TAGS, [], previous=PreviousMp3(path, first.pieces))
    assert again.attempts >= 2 and again.master.passes > 0
    assert again.loudness.integrated_lufs == pytest.approx(-16.0, abs=0.3)


def test_a_run_that_cannot_be_cut_cleanly_is_encoded_whole(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(mastering_module, "stands_alone", lambda frames: False)
    track = exercise([2.0, 2.0], [1.0, 3.0])
    result = write_mastered_mp3(track, SR, tmp_path / "t.mp3", TAGS, [])
    assert result.pieces is None
    assert "encoding in one piece" in caplog.text
    assert len(decoded(tmp_path / "t.mp3")) == track.length
    assert result.loudness.integrated_lufs == pytest.approx(-16.0, abs=0.3)


def test_a_piece_map_survives_its_file_and_a_damaged_one_is_ignored(tmp_path):
    track = exercise([2.0], [1.0])
    result = write_mastered_mp3(track, SR, tmp_path / "t.mp3", TAGS, [])
    assert result.pieces is not None
    path = tmp_path / "map.json"
    result.pieces.write(path)
    assert PieceMap.read(path) == result.pieces
    path.write_text('{"format": 1, "pieces": "x"}')
    assert PieceMap.read(path) is None
    assert PieceMap.read(tmp_path / "missing.json") is None
