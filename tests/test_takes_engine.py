"""The ``takes`` engine: registered like any engine, renders whole segments from takes."""

from __future__ import annotations

import os

import numpy as np
import pytest
import soundfile as sf
from test_takes_support import plan_from, read_session, speech_bounds, spoken, write_session

from pipeline.assemble import assemble
from pipeline.engines.base import engine_class, load_engine
from pipeline.engines.takes import (
    TakesEngine,
    TakesIncomplete,
    render_takes,
    sentence_spans,
)
from pipeline.errors import SynthesisError, VoiceUnavailable
from pipeline.model import SAMPLE_RATE, Audio, Sentence, VoiceSpec
from pipeline.takes.clean import CleanOptions, clean_take, speech_level_db
from pipeline.takes.split import split_recording
from pipeline.takes.store import TakeRecord, read_takes_json, write_takes_json

SPEC = VoiceSpec(engine="takes", dir="takes/dr-lee")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A project whose takes were split from one session of the test script."""
    root = tmp_path_factory.mktemp("project")
    plan = plan_from()
    recording = write_session(read_session(plan, 21), root / "session.wav")
    split_recording(recording, plan, root=root, role="dr-lee")
    return root


def test_the_engine_is_found_through_its_entry_point():
    assert engine_class("takes") is TakesEngine
    assert TakesEngine.options == frozenset({"dir"})
    assert not TakesEngine.supports_speed


def test_check_needs_the_takes_folder(tmp_path):
    with pytest.raises(VoiceUnavailable, match="no takes folder takes/dr-lee/") as caught:
        TakesEngine.check(SPEC, tmp_path)
    assert "voicetrack takes split" in caught.value.hint
    (tmp_path / "takes" / "dr-lee").mkdir(parents=True)
    TakesEngine.check(SPEC, tmp_path)
    assert isinstance(load_engine(SPEC, tmp_path), TakesEngine)


def test_it_cannot_speak_arbitrary_text(tmp_path):
    (tmp_path / "takes").mkdir()
    engine = TakesEngine(VoiceSpec(engine="takes"), tmp_path)
    with pytest.raises(SynthesisError, match="cannot speak arbitrary text"):
        engine.synthesize("Hello there.")
    assert engine.sample_rate == SAMPLE_RATE


def test_identity_changes_when_a_take_is_re_recorded(project):
    engine = TakesEngine(SPEC, project)
    before = engine.identity()
    assert engine.identity() == before
    take = project / "takes" / "dr-lee" / "settling" / "S1-02.flac"
    st = take.stat()
    os.utime(take, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    try:
        assert engine.identity() != before
    finally:
        os.utime(take, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert engine.identity() == before
    louder = TakesEngine(VoiceSpec(engine="takes", dir="takes/dr-lee", gain_db=3.0), project)
    assert louder.identity() != before


def test_every_segment_is_rendered_from_its_take_and_assembles(project):
    plan = plan_from()
    result = TakesEngine(SPEC, project).recorded_segments(plan, "dr-lee")
    assert list(result.segments) == [s.id for s in plan.speech]
    assert result.unrendered == ()
    target = CleanOptions().speech_level_db
    for item in plan.speech:
        rendered = result.segments[item.id]
        assert rendered.audio.dtype == np.float32 and rendered.audio.ndim == 1
        assert len(rendered.sentence_spans) == len(item.sentences)
        assert rendered.sentence_spans[0][0] == 0
        assert rendered.sentence_spans[-1][1] == len(rendered.audio)
        # Every take is brought to the same speech level.
        loud = np.abs(rendered.audio) > 10 ** ((target - 25) / 20)
        level = 10 * np.log10(np.mean(rendered.audio[loud].astype(np.float64) ** 2))
        assert level == pytest.approx(target, abs=2.0)
    track, timeline = assemble(plan, result.segments)
    assert len(timeline.sentences) == sum(len(s.sentences) for s in plan.speech)
    assert len(track) == timeline.length


def test_the_voice_gain_applies_on_top_of_level_matching(project):
    plan = plan_from()
    plain = render_takes(plan, project / "takes" / "dr-lee")
    quieter = render_takes(plan, project / "takes" / "dr-lee", gain_db=-6.0)
    a, b = plain.segments["S1-01"].audio, quieter.segments["S1-01"].audio
    assert np.allclose(b, a * 10 ** (-6 / 20), atol=1e-6)


def test_missing_takes_stop_the_render_unless_another_voice_fills_them(project, tmp_path):
    plan = plan_from()
    takes = tmp_path / "takes" / "dr-lee"
    folder = takes / "settling"
    folder.mkdir(parents=True)
    source = project / "takes" / "dr-lee" / "settling"
    for sid in ("S1-01", "S1-03", "S2-03"):
        (folder / f"{sid}.flac").write_bytes((source / f"{sid}.flac").read_bytes())
    records = read_takes_json(source)
    write_takes_json(folder, {k: records[k] for k in ("S1-01", "S1-03", "S2-03")})

    with pytest.raises(TakesIncomplete) as caught:
        render_takes(plan, takes)
    error = caught.value
    assert error.missing == ("S1-02", "S1-04", "S1-05", "S2-01", "S2-02")
    assert "no take for S1-02, S1-04, S1-05, S2-01, S2-02" in str(error)
    assert "--fill-missing" in error.hint

    result = render_takes(plan, takes, allow_missing=True)
    assert list(result.segments) == ["S1-01", "S1-03", "S2-03"]
    assert result.unrendered == ("S1-02", "S1-04", "S1-05", "S2-01", "S2-02")


def test_a_stale_take_is_not_played(project, tmp_path):
    plan = plan_from()
    takes = tmp_path / "takes" / "dr-lee"
    folder = takes / "settling"
    folder.mkdir(parents=True)
    source = project / "takes" / "dr-lee" / "settling"
    for path in source.glob("*.flac"):
        (folder / path.name).write_bytes(path.read_bytes())
    records = read_takes_json(source)
    # S1-04 was recorded when its text was different.
    write_takes_json(folder, {**records, "S1-04": TakeRecord(text="Breathe in deeply.")})

    with pytest.raises(TakesIncomplete, match="stale takes .* for S1-04") as caught:
        render_takes(plan, takes)
    assert caught.value.stale == ("S1-04",) and caught.value.missing == ()
    result = render_takes(plan, takes, allow_missing=True)
    assert "S1-04" not in result.segments and result.unrendered == ("S1-04",)
    anyway = render_takes(plan, takes, use_stale=True)
    assert "S1-04" in anyway.segments
    assert any("S1-04: take is stale" in w for w in anyway.warnings)


def test_sentence_times_fall_in_the_pause_between_sentences_not_in_a_hesitation():
    rate = 48000
    first, _ = spoken("joe", "Notice the weight of your body on the chair.")
    second, _ = spoken("joe", "Let it be supported.")
    # A 0.45 s hesitation inside the first sentence, then a 0.6 s sentence pause.
    window = int(0.03 * rate)
    power = np.convolve(first**2, np.ones(window) / window, mode="same")
    lo = int(0.4 * len(first))
    cut = lo + int(np.argmin(power[lo : int(0.7 * len(first))]))
    first = np.concatenate([first[:cut], np.zeros(int(0.45 * rate)), first[cut:]])
    x = np.concatenate(
        [np.zeros(rate // 2), first * 0.5, np.zeros(int(0.6 * rate)), second * 0.5, np.zeros(rate)]
    )
    gap_start = (rate // 2 + speech_bounds(first * 0.5)[1]) / rate
    gap_end = (rate // 2 + len(first) + int(0.6 * rate) + speech_bounds(second * 0.5)[0]) / rate
    speech_start = (rate // 2 + speech_bounds(first * 0.5)[0]) / rate

    take = clean_take(Audio(x.astype(np.float32), rate))
    offset = speech_start - take.regions[0].start  # take time -> x time
    sentences = (Sentence("Notice the weight.", "x"), Sentence("Let it be supported.", "x"))
    (s0, e0), (s1, e1) = sentence_spans(take, sentences)
    assert s0 == 0 and e1 == len(take.samples)
    boundary_end, boundary_start = e0 / SAMPLE_RATE + offset, s1 / SAMPLE_RATE + offset
    assert boundary_end == pytest.approx(gap_start, abs=0.06)
    assert boundary_start == pytest.approx(gap_end, abs=0.06)


def test_without_pauses_sentences_share_the_take_by_text_length():
    rate = 48000
    voice, _ = spoken("joe", "Welcome.")  # one word: no pause inside
    take = clean_take(Audio(np.concatenate([np.zeros(rate // 4), voice]).astype(np.float32), rate))
    sentences = (Sentence("One.", "One."), Sentence("Two two two.", "Two two two."))
    spans = sentence_spans(take, sentences)
    length = len(take.samples)
    assert spans == ((0, round(length * 4 / 16)), (round(length * 4 / 16), length))


def test_compressed_takes_recorded_one_by_one_are_played(tmp_path):
    from pipeline.ffmpeg import run_ffmpeg

    plan = plan_from()
    folder = tmp_path / "takes" / "dr-lee" / "settling"
    folder.mkdir(parents=True)
    voice, rate = spoken("joe", "Welcome to this short practice.")
    wav = tmp_path / "one.wav"
    sf.write(wav, np.concatenate([np.zeros(rate), voice * 0.3, np.zeros(rate)]), rate)
    run_ffmpeg(["-v", "error", "-i", str(wav), "-c:a", "aac", str(folder / "S1-01.m4a")])
    result = render_takes(plan, tmp_path / "takes" / "dr-lee", allow_missing=True)
    audio = result.segments["S1-01"].audio
    # One second of silence either side is trimmed to the short margins.
    assert len(audio) / SAMPLE_RATE == pytest.approx(
        (speech_bounds(voice * 0.3)[1] - speech_bounds(voice * 0.3)[0]) / rate + 0.18, abs=0.1
    )
    level = speech_level_db(audio, SAMPLE_RATE, list(clean_take(Audio(audio, SAMPLE_RATE)).regions))
    assert level == pytest.approx(CleanOptions().speech_level_db, abs=1.0)
