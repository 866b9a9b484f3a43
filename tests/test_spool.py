"""Rendered speech spooled to disk: read back exactly, a stretch at a time, and a track
built from spooled segments is the same track as one held in memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from audio_helpers import make_plan, silence, speech, speech_like

from pipeline.assemble import assemble
from pipeline.cache import SentenceCache
from pipeline.engines.fake import FakeEngine
from pipeline.model import SAMPLE_RATE, TrackAudio, VoiceSpec
from pipeline.spool import Spool, Spooled
from pipeline.synth import render_segments

SR = SAMPLE_RATE


def test_spooled_samples_read_back_exactly(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    runs = [rng.standard_normal(n).astype(np.float32) for n in (1, 1000, 44_101, 0, 7)]
    with Spool(tmp_path) as spool:
        handles = [spool.put(run) for run in runs]
        assert spool.nbytes == 4 * sum(len(r) for r in runs)
        for run, handle in zip(runs, handles, strict=True):
            assert len(handle) == len(run) and handle.shape == (len(run),)
            np.testing.assert_array_equal(np.asarray(handle), run)
            np.testing.assert_array_equal(handle[3:-2], run[3:-2])
            np.testing.assert_array_equal(handle[-5:], run[-5:])
            assert handle[len(run) : len(run) + 10].size == 0
        middle = handles[2].part(100, 40_000)
        np.testing.assert_array_equal(np.asarray(middle), runs[2][100:40_000])
        np.testing.assert_array_equal(middle[10:20], runs[2][110:120])
    assert spool.closed
    assert list(tmp_path.iterdir()) == []  # nothing is left on disk, even while open


def test_spooled_samples_refuse_what_they_cannot_do(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        handle = spool.put(np.arange(10, dtype=np.float32))
        with pytest.raises(TypeError, match="slice"):
            handle[3]  # type: ignore[index]
        with pytest.raises(IndexError, match="contiguous"):
            handle[::2]
    with pytest.raises(ValueError, match="closed"):
        handle[0:5]


def test_a_spooled_track_reads_like_one_in_memory(tmp_path: Path) -> None:
    voice = [speech_like(3, seed=s, level_dbfs=-20) for s in range(4)]
    starts = [0, 5 * SR + 3, 9 * SR, 20 * SR - len(voice[3])]
    in_memory = TrackAudio(20 * SR, SR, list(zip(starts, voice, strict=True)))
    with Spool(tmp_path) as spool:
        spooled = TrackAudio(
            20 * SR, SR, [(s, spool.put(v)) for s, v in zip(starts, voice, strict=True)]
        )
        for start, stop in [(0, 20 * SR), (5 * SR, 5 * SR + 10), (SR, 12 * SR + 1)]:
            np.testing.assert_array_equal(spooled.read(start, stop), in_memory.read(start, stop))
        assert spooled.is_silent(4 * SR, 5 * SR) and not spooled.is_silent(4 * SR, 6 * SR)


def test_rendering_through_a_spool_gives_the_same_track(tmp_path: Path) -> None:
    said_twice = "Let the breath come and go on its own."
    plan = make_plan(
        [
            speech("S1-01", "Settle into a comfortable position.", said_twice),
            silence("explicit", 4.0),
            speech("S1-02", said_twice, "Notice the air as it leaves."),
        ]
    )
    engine = FakeEngine(VoiceSpec("fake", model="gb"), tmp_path)
    cache = SentenceCache(tmp_path / "cache")
    held, _ = render_segments(plan, engine, cache)
    with Spool(tmp_path) as spool:
        spooled, stats = render_segments(plan, engine, cache, spool=spool)
        assert all(isinstance(r.audio, Spooled) for r in spooled.values())
        assert stats.cached == 4
        # Each segment is written once; nothing else goes to the spool.
        assert spool.nbytes == 4 * sum(len(r.audio) for r in spooled.values())
        track, timeline = assemble(plan, spooled)
        expected, expected_timeline = assemble(plan, held)
        assert timeline == expected_timeline
        np.testing.assert_array_equal(track.to_array(), expected.to_array())


def test_a_fresh_render_and_a_cached_one_are_the_same_bytes(tmp_path: Path) -> None:
    # Not only the same values: -0.0 and 0.0 are equal, but a rebuild tells its unchanged
    # pieces by their bytes (pipeline.pieces).
    plan = make_plan([speech("S1-01", "Settle into a comfortable position.")])
    engine = FakeEngine(VoiceSpec("fake", model="gb"), tmp_path)
    cache = SentenceCache(tmp_path / "cache")
    fresh, stats = render_segments(plan, engine, cache)
    assert stats.synthesised == 1
    cached, stats = render_segments(plan, engine, cache)
    assert stats.cached == 1
    (first,), (again,) = fresh.values(), cached.values()
    assert np.signbit(np.asarray(first.audio)[np.asarray(first.audio) == 0]).sum() == 0
    assert np.asarray(first.audio).tobytes() == np.asarray(again.audio).tobytes()


def test_a_sentence_too_long_for_the_engine_is_spoken_in_pieces_in_bounded_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tracemalloc

    from pipeline.synth import PIECE_GAP_S

    # 800 words, one sentence: clauses of a dozen words between commas. The engine takes
    # 150 characters at a time (a clause or two), so a piece is a small part of the whole.
    monkeypatch.setattr(FakeEngine, "max_input_chars", 150)
    words = [f"word{i}" for i in range(800)]
    text = ", ".join(" ".join(words[i : i + 12]) for i in range(0, len(words), 12)) + "."
    plan = make_plan([speech("S1-01", text)])
    engine = FakeEngine(VoiceSpec("fake", model="gb"), tmp_path)
    FakeEngine.reset_calls()
    tracemalloc.start()
    try:
        with Spool(tmp_path) as spool:
            rendered, stats = render_segments(
                plan, engine, SentenceCache(tmp_path / "c"), spool=spool
            )
            peak = tracemalloc.get_traced_memory()[1]
            segment = rendered["S1-01"]
            length = len(segment.audio)
    finally:
        tracemalloc.stop()
    pieces = FakeEngine.texts
    assert len(pieces) > 1 and max(map(len, pieces)) <= FakeEngine.max_input_chars
    assert " ".join(pieces) == text  # all of it, in order, cut only at clauses
    assert all(piece.endswith((",", ".")) for piece in pieces)
    assert stats.synthesised == 1 and segment.sentence_spans == ((0, length),)
    # Every piece is heard, joined by a clause break's silence.
    spoken = sum(round(FakeEngine.tone_seconds(piece) * SR) for piece in pieces)
    gaps = round(PIECE_GAP_S * SR) * (len(pieces) - 1)
    assert length == pytest.approx(spoken + gaps, abs=len(pieces) * SR // 25)  # trim margins
    # Memory is bounded by a piece, not the sentence (whose samples alone take 4 * length).
    assert peak < 4 * length / 4
