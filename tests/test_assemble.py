"""Assembly: sentence preparation, joining, and exact-sample layout of a plan."""

from __future__ import annotations

import sys
import tracemalloc

import numpy as np
import pytest
from audio_helpers import make_plan, render_plan, silence, speech, tone

from pipeline.assemble import assemble
from pipeline.model import SAMPLE_RATE, Audio, RenderedSegment, Silence, SpeechSegment
from pipeline.sentences import FADE_S, TRIM_MARGIN_S, join_sentences, prepare_sentence

SR = SAMPLE_RATE


def dominant_frequency(samples: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / sr)[np.argmax(spectrum)])


def first_loud(samples: np.ndarray, level: float = 0.01) -> int:
    return int(np.flatnonzero(np.abs(samples) > level)[0])


# --------------------------------------------------------------------------- prepare_sentence


@pytest.mark.parametrize("rate", [16000, 22050, 24000, 44100, 48000])
def test_prepare_resamples_to_the_master_rate_exactly(rate):
    audio = Audio(tone(1.5, 440.0, 0.5, sr=rate), rate)  # loud from first to last sample
    prepared = prepare_sentence(audio)
    assert prepared.dtype == np.float32
    assert len(prepared) == round(len(audio.samples) * SR / rate)
    assert dominant_frequency(prepared, SR) == pytest.approx(440.0, abs=1.0)
    # Level is kept: the middle of the sentence still peaks at the tone's amplitude.
    assert np.max(np.abs(prepared[SR // 4 : -SR // 4])) == pytest.approx(0.5, abs=0.01)


def test_prepare_trims_leading_and_trailing_silence_with_a_margin():
    rate = 22050
    rng = np.random.default_rng(1)
    lead, body, tail = 0.4, 1.0, 0.7
    samples = np.concatenate(
        [np.zeros(int(lead * rate)), tone(body, 300.0, 0.3, sr=rate), np.zeros(int(tail * rate))]
    ).astype(np.float32)
    samples += (rng.standard_normal(len(samples)) * 10 ** (-65 / 20)).astype(np.float32)
    prepared = prepare_sentence(Audio(samples, rate))
    margin = TRIM_MARGIN_S + 0.005  # the RMS window adds up to half its length each side
    assert body < len(prepared) / SR <= body + 2 * margin + 0.001
    # The tone starts right after the kept margin, not later (nothing of it was cut).
    onset = first_loud(prepared, 0.05)
    assert TRIM_MARGIN_S * SR * 0.5 <= onset <= margin * SR + FADE_S * SR


def test_prepare_does_not_take_a_click_for_speech():
    samples = np.zeros(SR * 2, dtype=np.float32)
    samples[int(0.1 * SR)] = 0.9  # a lone click long before the voice
    samples[int(1.9 * SR)] = -0.9  # and one after it
    voice = tone(0.8, 200.0, 0.3)
    samples[int(0.6 * SR) : int(0.6 * SR) + len(voice)] = voice
    prepared = prepare_sentence(Audio(samples, SR))
    assert len(prepared) / SR == pytest.approx(0.8, abs=0.04)
    assert np.max(np.abs(prepared)) <= 0.3 + 1e-6  # neither click survived


def test_prepare_keeps_a_soft_consonant_before_the_vowel():
    rng = np.random.default_rng(2)
    samples = np.zeros(SR, dtype=np.float32)
    fricative = slice(int(0.30 * SR), int(0.36 * SR))  # 60 ms of -40 dBFS noise
    samples[fricative] = rng.standard_normal(fricative.stop - fricative.start) * 0.01
    samples[int(0.40 * SR) : int(0.80 * SR)] = tone(0.4, 150.0, 0.4)
    prepared = prepare_sentence(Audio(samples, SR))
    # The kept audio starts at the consonant (less its margin), 0.1 s before the vowel.
    assert len(prepared) / SR == pytest.approx(0.5, abs=0.03)
    assert first_loud(prepared, 0.2) / SR == pytest.approx(0.1, abs=0.02)


def test_prepare_fades_edges_so_they_cannot_click():
    prepared = prepare_sentence(Audio(tone(1.0, 440.0, 0.8), SR))
    fade = round(FADE_S * SR)
    assert prepared[0] == 0.0 and abs(prepared[-1]) < 1e-3
    assert np.max(np.abs(prepared[: fade // 4])) < 0.8 * 0.2
    # The ramp is smooth: no step between neighbours larger than the tone's own slope.
    tone_slope = 0.8 * 2 * np.pi * 440.0 / SR
    assert np.max(np.abs(np.diff(prepared))) <= tone_slope * 1.01


def test_prepare_applies_gain():
    plain = prepare_sentence(Audio(tone(1.0, 440.0, 0.1), SR))
    louder = prepare_sentence(Audio(tone(1.0, 440.0, 0.1), SR), gain_db=6.0)
    assert len(plain) == len(louder)
    np.testing.assert_allclose(louder, plain * 10 ** (6 / 20), rtol=1e-5, atol=1e-7)


def test_prepare_gives_nothing_for_silence():
    quiet = (np.random.default_rng(3).standard_normal(SR) * 1e-4).astype(np.float32)  # -80 dBFS
    assert len(prepare_sentence(Audio(quiet, SR))) == 0


def test_prepare_removes_a_dc_offset():
    """An engine whose output sits off zero: the offset is not sound (a quiet sentence on an
    offset is trimmed as usual) and does not reach the master's headroom."""
    quiet = np.zeros(SR, dtype=np.float32)
    quiet[SR // 4 : SR // 2] = tone(0.25, 440.0, 0.3)
    offset = quiet + np.float32(0.4)
    prepared = prepare_sentence(Audio(offset, SR))
    expected = prepare_sentence(Audio(quiet, SR))
    assert abs(float(prepared.mean())) < 0.01
    assert len(prepared) == pytest.approx(len(expected), abs=SR // 100)
    assert float(np.abs(prepared).max()) < 0.35


# --------------------------------------------------------------------------- join_sentences


def test_join_puts_exactly_the_sentence_pause_between_sentences():
    parts = [tone(0.5, 200.0, 0.3), tone(0.25, 300.0, 0.3), tone(0.75, 400.0, 0.3)]
    pause = 0.6037  # not a whole number of samples: rounded once per gap
    joined = join_sentences("S1-01", parts, pause)
    gap = round(pause * SR)
    assert joined.segment_id == "S1-01"
    lengths = [len(p) for p in parts]
    assert len(joined.audio) == sum(lengths) + 2 * gap
    expected_spans = []
    position = 0
    for length in lengths:
        expected_spans.append((position, position + length))
        position += length + gap
    assert joined.sentence_spans == tuple(expected_spans)
    for part, (start, end) in zip(parts, joined.sentence_spans, strict=True):
        np.testing.assert_array_equal(joined.audio[start:end], part)
    for (_, end), (start, _) in zip(expected_spans, expected_spans[1:], strict=False):
        assert not joined.audio[end:start].any()


def test_join_of_one_sentence_has_no_pause():
    joined = join_sentences("S0-01", [tone(0.5)], 0.6)
    assert len(joined.audio) == round(0.5 * SR)
    assert joined.sentence_spans == ((0, round(0.5 * SR)),)


# --------------------------------------------------------------------------- assemble


def awkward_plan():
    """Three sections (the middle one without speech) and silences that are not whole
    numbers of samples."""
    return make_plan(
        [
            silence("lead_in", 1.0),
            speech("S0-01", "Welcome.", "Settle in."),
            silence("pause", 3.33333, line=9),
            speech("S0-02", "Breathe."),
            silence("section", 2.5),
            silence("pause", 0.0, line=12),  # explicit [pause 0s] still counts
            speech("S2-01", "Notice your feet.", "Notice your hands.", "Rest."),
            silence("paragraph", 1.2),
            speech("S2-02", "And now."),
            silence("pause", 0.123457, line=20),
            silence("tail", 3.0),
        ],
        title="Body Scan",
        section_titles={0: "Body Scan", 1: "Empty", 2: "Noticing"},
    )


def test_assemble_makes_every_silence_exact_to_the_sample():
    plan = awkward_plan()
    rendered = render_plan(plan, sentence_seconds=0.7)
    lazy, timeline = assemble(plan, rendered)
    track = lazy.to_array()

    assert track.dtype == np.float32 and lazy.sample_rate == SR
    assert len(track) == lazy.length == timeline.length == timeline.items[-1].end
    position = 0
    for timed in timeline.items:
        assert timed.start == position  # no gaps, no overlaps, in plan order
        position = timed.end
        if isinstance(timed.item, Silence):
            assert timed.end - timed.start == round(timed.item.seconds * SR)
            assert not track[timed.start : timed.end].any()  # digitally silent
        else:
            np.testing.assert_array_equal(
                track[timed.start : timed.end], rendered[timed.item.id].audio
            )
    assert [t.item for t in timeline.items] == list(plan.items)


def test_any_stretch_of_the_track_reads_as_the_same_stretch_of_the_whole():
    plan = awkward_plan()
    track, timeline = assemble(plan, render_plan(plan, sentence_seconds=0.7))
    whole = track.to_array()
    rng = np.random.default_rng(1)
    edges = [t.start for t in timeline.items]  # stretches that start or end on a boundary
    starts = [*rng.integers(-SR, track.length, 40), *edges, *(e - 1 for e in edges)]
    for start in starts:
        for stop in (start + 1, start + 37, start + round(1.3 * SR), track.length + 5):
            stretch = track.read(int(start), int(stop))
            expected = np.zeros(max(stop - start, 0), dtype=np.float32)
            lo, hi = max(start, 0), min(stop, track.length)
            if lo < hi:
                expected[lo - start : hi - start] = whole[lo:hi]
            np.testing.assert_array_equal(stretch, expected)
            if track.is_silent(int(start), int(stop)):
                assert not stretch.any()
    # The plan's silences are known to be silent without reading them.
    for timed in timeline.items:
        if isinstance(timed.item, Silence):
            assert track.is_silent(timed.start, timed.end)
        else:
            assert not track.is_silent(timed.start, timed.end)
    blocks = list(track.blocks(10_000))
    assert all(len(b) == 10_000 for b in blocks[:-1]) and 0 < len(blocks[-1]) <= 10_000
    np.testing.assert_array_equal(np.concatenate(blocks), whole)


def test_assemble_places_sentences_at_absolute_times():
    plan = awkward_plan()
    rendered = render_plan(plan, sentence_seconds=0.5)
    _, timeline = assemble(plan, rendered)
    starts = {t.item.id: t.start for t in timeline.items if isinstance(t.item, SpeechSegment)}
    expected = [
        (segment.id, sentence.printed, starts[segment.id] + a, starts[segment.id] + b)
        for segment in plan.speech
        for sentence, (a, b) in zip(
            segment.sentences, rendered[segment.id].sentence_spans, strict=True
        )
    ]
    assert [(s.segment_id, s.printed, s.start, s.end) for s in timeline.sentences] == expected
    assert timeline.sentences[0].start == round(1.0 * SR)  # after the lead-in


def test_assemble_makes_one_chapter_per_section_with_speech():
    plan = awkward_plan()
    _, timeline = assemble(plan, render_plan(plan))
    first_of_section_2 = next(
        t.start for t in timeline.items if getattr(t.item, "id", "") == "S2-01"
    )
    chapters = [(c.title, c.start, c.end) for c in timeline.chapters]
    assert chapters == [
        ("Body Scan", 0, first_of_section_2),  # the first chapter starts at 0
        ("Noticing", first_of_section_2, timeline.length),  # the last ends at the end
    ]


def test_assemble_rejects_a_missing_segment():
    plan = awkward_plan()
    rendered = render_plan(plan)
    del rendered["S2-02"]
    with pytest.raises(ValueError, match="S2-02"):
        assemble(plan, rendered)


def test_assemble_rejects_spans_that_do_not_match_sentences():
    plan = make_plan([speech("S1-01", "One.", "Two.")])
    single = RenderedSegment("S1-01", tone(1.0), ((0, SR),))
    with pytest.raises(ValueError, match="2 sentences"):
        assemble(plan, {"S1-01": single})


def test_silence_positions_do_not_drift_over_many_items():
    # 2000 pauses of a third of a second: rounding each one exactly can never accumulate.
    items = [silence("lead_in", 1.0)]
    for index in range(1, 2001):
        items += [speech(f"S1-{index:02d}", "Hm."), silence("pause", 1 / 3)]
    items.append(silence("tail", 3.0))
    plan = make_plan(items)
    shared = join_sentences("x", [tone(0.01)], 0.6)
    rendered = {segment.id: shared for segment in plan.speech}
    _, timeline = assemble(plan, rendered)
    assert timeline.length == SR + 2000 * (len(shared.audio) + round(SR / 3)) + 3 * SR


def long_plan(minutes: int) -> tuple:
    """A plan of ``minutes`` of 10 s segments (3 sentences each) and 5 s pauses, with all
    segments sharing one rendered array so the input costs almost no memory."""
    items: list = [silence("lead_in", 1.0)]
    for index in range(minutes * 4):
        section = 1 + index // 40
        items += [
            speech(f"S{section}-{index % 40 + 1:02d}", "One.", "Two.", "Three."),
            silence("pause", 5.0),
        ]
    items.append(silence("tail", 3.0))
    plan = make_plan(items)
    sentence = (np.random.default_rng(0).standard_normal(round(3.0 * SR)) * 0.1).astype(np.float32)
    shared = join_sentences("shared", [sentence] * 3, 0.5)
    return plan, {segment.id: shared for segment in plan.speech}


def calls_made(function, *args) -> int:
    """How many calls, of Python and C functions alike, ``function(*args)`` makes."""
    calls = 0

    def count(frame, event, arg):
        nonlocal calls
        if event in ("call", "c_call"):
            calls += 1

    sys.setprofile(count)
    try:
        function(*args)
    finally:
        sys.setprofile(None)
    return calls


def test_assembling_an_hour_stays_within_a_memory_budget_and_linear_work():
    work, peaks, items = {}, {}, {}
    for minutes in (15, 60):
        plan, rendered = long_plan(minutes)
        tracemalloc.start()
        track, timeline = assemble(plan, rendered)
        _, peak = tracemalloc.get_traced_memory()
        assert timeline.length / SR == pytest.approx(minutes * 60 + 4, rel=0.01)
        # Bookkeeping only: the silences are never made and the speech is not copied,
        # where a whole-track array would be 4 bytes a sample (635 MB for the hour).
        assert peak <= 16 * 2**20
        peaks[minutes] = peak
        # Reading it through costs a block at a time, never the whole.
        tracemalloc.reset_peak()
        checksum = 0.0
        for block in track.blocks(1 << 18):
            checksum += float(np.abs(block).sum())
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak <= 3 * 4 * (1 << 18) + 2**20
        assert checksum > 0
        del track, timeline
        work[minutes] = calls_made(assemble, plan, rendered)
        items[minutes] = len(plan.items)
    # Four times the items cost four times the calls and the bookkeeping, no more: work
    # that grew with the track so far (a growing buffer, a search from the start for each
    # item) would cost sixteen.
    ratio = items[60] / items[15]
    assert work[60] <= ratio * work[15] * 1.02
    assert peaks[60] <= ratio * peaks[15] * 1.1
