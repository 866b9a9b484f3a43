"""Publishing: WebVTT captions and the JSON manifest."""

from __future__ import annotations

import json
import re

import pytest
from audio_helpers import make_plan, render_plan, silence, speech

from pipeline.assemble import assemble
from pipeline.model import Loudness, ResolvedVoice, Sentence, VoiceSpec
from pipeline.publish import manifest, vtt_timestamp, write_manifest, write_vtt

SR = 44100
CUE_TIMES = re.compile(r"^(\d\d):(\d\d):(\d\d)\.(\d\d\d) --> (\d\d):(\d\d):(\d\d)\.(\d\d\d)$")


@pytest.fixture
def plan():
    welcome = speech("S0-01", "Welcome.", "This takes <15 minutes> & is gentle.", line=9)
    # Printed and spoken text differ (a say-substitution).
    letter = speech("S2-01", "Begin your letter with CFT in mind.", line=20)
    letter = type(letter)(
        **{
            **letter.__dict__,
            "spoken": "Begin your letter with compassion focused therapy in mind.",
            "sentences": (
                Sentence(
                    "Begin your letter with CFT in mind.",
                    "Begin your letter with compassion focused therapy in mind.",
                ),
            ),
        }
    )
    return make_plan(
        [
            silence("lead_in", 1.0),
            welcome,
            silence("pause", 3.0, line=9),
            speech("S1-01", "Notice how it shows up.", line=14),
            silence("section", 2.5),
            letter,
            silence("pause", 0.25, line=20),
            silence("tail", 3.0),
        ],
        title="Compassionate Letter Writing",
        slug="compassionate-letter-writing",
        section_titles={0: "Compassionate Letter Writing", 1: "Noticing", 2: "Writing"},
    )


@pytest.fixture
def timeline(plan):
    return assemble(plan, render_plan(plan, sentence_seconds=0.937))[1]


VOICE = ResolvedVoice(
    role="narrator",
    locale="en-GB",
    spec=VoiceSpec(engine="hibari", model="emma"),
    fallback=False,
)
LOUDNESS = Loudness(integrated_lufs=-16.04, true_peak_dbtp=-1.46)
FILES = {
    "mp3": "compassionate-letter-writing.en-GB.mp3",
    "vtt": "compassionate-letter-writing.en-GB.vtt",
    "pdf": "compassionate-letter-writing.en-GB.pdf",
}


# --------------------------------------------------------------------------- vtt


@pytest.mark.parametrize(
    ("samples", "text"),
    [
        (0, "00:00:00.000"),
        (22, "00:00:00.000"),  # 0.499 ms rounds down
        (23, "00:00:00.001"),  # 0.522 ms rounds up
        (SR * 3661 + 441 * 25, "01:01:01.250"),
        (SR * 59 + SR - 1, "00:01:00.000"),  # rounding carries into the minutes
    ],
)
def test_vtt_timestamps(samples, text):
    assert vtt_timestamp(samples, SR) == text


def parse_vtt(text: str) -> list[tuple[str, float, float, str]]:
    blocks = text.strip("\n").split("\n\n")
    assert blocks[0] == "WEBVTT"
    cues = []
    for block in blocks[1:]:
        identifier, times, payload = block.split("\n")
        h1, m1, s1, ms1, h2, m2, s2, ms2 = map(int, CUE_TIMES.match(times).groups())
        start = h1 * 3600 + m1 * 60 + s1 + ms1 / 1000
        end = h2 * 3600 + m2 * 60 + s2 + ms2 / 1000
        cues.append((identifier, start, end, payload))
    return cues


def test_vtt_has_one_cue_per_sentence_at_exact_times(timeline, tmp_path):
    path = tmp_path / "out" / "track.vtt"
    write_vtt(timeline, path)
    cues = parse_vtt(path.read_text(encoding="utf-8"))
    assert len(cues) == len(timeline.sentences) == 4
    for (identifier, start, end, payload), sentence in zip(cues, timeline.sentences, strict=True):
        assert identifier.startswith(sentence.segment_id + ".")
        assert start == round(sentence.start / SR, 3)
        assert end == round(sentence.end / SR, 3)
        assert payload.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&") == (
            sentence.printed
        )
    assert [c[0] for c in cues] == ["S0-01.1", "S0-01.2", "S1-01.1", "S2-01.1"]
    # The captions show the printed text, not what was spoken.
    assert cues[3][3] == "Begin your letter with CFT in mind."
    # Markup characters are escaped so players show them rather than parse them.
    assert cues[1][3] == "This takes &lt;15 minutes&gt; &amp; is gentle."
    assert cues[0][1] == 1.0  # right after the lead-in


# --------------------------------------------------------------------------- manifest


def test_manifest_follows_the_format(plan, timeline):
    data = manifest(
        plan, timeline, VOICE, LOUDNESS, FILES, "scripts_src/compassionate-letter-writing.md"
    )
    assert list(data) == [
        "format",
        "script",
        "slug",
        "title",
        "locale",
        "voice",
        "sample_rate",
        "duration",
        "loudness",
        "chapters",
        "segments",
        "files",
    ]
    assert data["format"] == 1
    assert data["script"] == "scripts_src/compassionate-letter-writing.md"
    assert data["slug"] == "compassionate-letter-writing"
    assert data["title"] == "Compassionate Letter Writing"
    assert data["locale"] == "en-GB"
    assert data["voice"] == {
        "role": "narrator",
        "engine": "hibari",
        "model": "emma",
        "fallback": False,
    }
    assert data["sample_rate"] == 44100
    assert data["duration"] == round(timeline.length / SR, 3)
    assert data["loudness"] == {"integrated_lufs": -16.0, "true_peak_dbtp": -1.5}
    assert data["files"] == FILES
    json.dumps(data, allow_nan=False)  # plain JSON types only


def test_manifest_segments_tile_the_track(plan, timeline):
    segments = manifest(plan, timeline, VOICE, LOUDNESS, FILES, "s.md")["segments"]
    assert segments[0]["start"] == 0.0
    for before, after in zip(segments, segments[1:], strict=False):
        assert before["end"] == after["start"]  # no gaps, no overlaps
        assert before["start"] <= before["end"]
    assert segments[-1]["end"] == round(timeline.length / SR, 3)
    assert [s["kind"] for s in segments] == [
        "silence", "speech", "silence", "speech", "silence", "speech", "silence", "silence",
    ]  # fmt: skip
    assert [s.get("source") for s in segments if s["kind"] == "silence"] == [
        "lead_in", "pause", "section", "pause", "tail",
    ]  # fmt: skip
    for segment, timed in zip(segments, timeline.items, strict=True):
        assert segment["start"] == round(timed.start / SR, 3)
        assert segment["end"] == round(timed.end / SR, 3)
    pause = segments[2]
    assert pause == {"kind": "silence", "source": "pause", "start": pause["start"],
                     "end": pause["end"], "line": 9}  # fmt: skip
    assert pause["end"] - pause["start"] == pytest.approx(3.0, abs=0.0015)
    assert "line" not in segments[0]  # implicit silences have no line
    letter = segments[5]
    assert letter == {
        "kind": "speech",
        "id": "S2-01",
        "start": letter["start"],
        "end": letter["end"],
        "line": 20,
        "text": "Begin your letter with CFT in mind.",
        "spoken": "Begin your letter with compassion focused therapy in mind.",
    }


def test_manifest_chapters(plan, timeline):
    chapters = manifest(plan, timeline, VOICE, LOUDNESS, FILES, "s.md")["chapters"]
    assert [c["title"] for c in chapters] == ["Compassionate Letter Writing", "Noticing", "Writing"]
    assert chapters[0]["start"] == 0.0
    assert chapters[-1]["end"] == round(timeline.length / SR, 3)
    for before, after in zip(chapters, chapters[1:], strict=False):
        assert before["end"] == after["start"]
    segments = manifest(plan, timeline, VOICE, LOUDNESS, FILES, "s.md")["segments"]
    first_speech = {s["id"][:2]: s["start"] for s in reversed(segments) if s["kind"] == "speech"}
    assert [c["start"] for c in chapters[1:]] == [first_speech["S1"], first_speech["S2"]]


def test_manifest_names_a_fallback_voice_and_takes_extra_keys(plan, timeline):
    voice = ResolvedVoice(
        role="narrator",
        locale="en-GB",
        spec=VoiceSpec(engine="espeak-ng", model="en-gb-x-rp"),
        fallback=True,
    )
    extra = {"build_key": "abc123", "voice_hint": "pip install hibari-tts"}
    data = manifest(plan, timeline, voice, LOUDNESS, FILES, "s.md", extra=extra)
    assert data["voice"] == {
        "role": "narrator",
        "engine": "espeak-ng",
        "model": "en-gb-x-rp",
        "fallback": True,
    }
    assert data["build_key"] == "abc123" and data["voice_hint"] == "pip install hibari-tts"
    with pytest.raises(ValueError, match="segments"):
        manifest(plan, timeline, voice, LOUDNESS, FILES, "s.md", extra={"segments": []})


def test_write_manifest_writes_what_manifest_returns(plan, timeline, tmp_path):
    path = tmp_path / "track.en-GB.json"
    path.write_text("previous")
    written = write_manifest(
        path,
        plan=plan,
        timeline=timeline,
        voice=VOICE,
        loudness=LOUDNESS,
        files=FILES,
        script_path="s.md",
        extra={"build_key": "k"},
    )
    text = path.read_text(encoding="utf-8")
    assert json.loads(text) == written
    assert written["build_key"] == "k"
    assert text.endswith("}\n")
    assert [p.name for p in tmp_path.iterdir()] == ["track.en-GB.json"]  # no temporary left


def test_write_manifest_keeps_non_ascii_text_readable(plan, timeline, tmp_path):
    accented = make_plan([silence("lead_in", 1.0), speech("S1-01", "Café—naïve.")], title="Café")
    timeline = assemble(accented, render_plan(accented))[1]
    path = tmp_path / "m.json"
    write_manifest(
        path,
        plan=accented,
        timeline=timeline,
        voice=VOICE,
        loudness=LOUDNESS,
        files=FILES,
        script_path="s.md",
    )
    assert "Café—naïve." in path.read_text(encoding="utf-8")
