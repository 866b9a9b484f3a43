"""Bells and the bed, script side: the front-matter keys, the [bell] tags, the Bell items of
the plan and their timing, the estimate, and the sound files checked when a script loads."""

from __future__ import annotations

import math
import subprocess
import wave
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline import sound
from pipeline.cli import main
from pipeline.errors import ScriptError
from pipeline.estimate import estimate_times, speech_seconds
from pipeline.ffmpeg import ffmpeg_exe
from pipeline.model import Bell, BellTag, Emphasis, SpeechSegment, Text
from pipeline.parse import bed_file, bell_file, load_script, parse_script
from pipeline.plan import plan_locale, ring_pause
from pipeline.printer import print_script, without_positions

P = "scripts_src/example.md"


def source(body: str, *front: str) -> str:
    return "---\ntitle: Example\n" + "".join(f"{line}\n" for line in front) + "---\n" + body


def errors(body: str, *front: str) -> list[str]:
    with pytest.raises(ScriptError) as caught:
        parse_script(source(body, *front), P)
    return [str(e) for e in caught.value.errors]


def plan_of(body: str, *front: str):
    return plan_locale(parse_script(source(body, *front), P), "en-GB")


def shape(plan) -> list[tuple]:
    """The plan's items as (kind, what, seconds): speech by ID, silence by source."""
    out: list[tuple] = []
    for item in plan.items:
        if isinstance(item, SpeechSegment):
            out.append(("speech", item.id))
        elif isinstance(item, Bell):
            out.append(("bell", item.explicit, item.seconds))
        else:
            out.append((item.source, item.seconds))
    return out


BOWL = ring_pause(sound.bowl_seconds())


# --------------------------------------------------------------------------- front matter


def test_defaults_are_the_bowl_and_no_bed():
    meta = parse_script(source("Hello.\n"), P).meta
    assert (meta.bell, meta.bed, meta.bed_level, meta.bed_duck) == ("bowl", None, -20.0, 6.0)


def test_sound_keys_take_their_values():
    meta = parse_script(
        source(
            "Hello.\n",
            "bell: sounds/chime.WAV",
            'bed: "rain and wind.flac"',
            "bed_level: -24.5 LU",
            "bed_duck: 9dB",
        ),
        P,
    ).meta
    assert (meta.bell, meta.bed, meta.bed_level, meta.bed_duck) == (
        "sounds/chime.WAV",
        "rain and wind.flac",
        -24.5,
        9.0,
    )


def test_the_bowl_is_named_in_any_case():
    assert parse_script(source("Hello.\n", "bell: Bowl"), P).meta.bell == "bowl"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "bell: /srv/chime.wav",
            "3:7: bell must be bowl or a path relative to the script's folder",
        ),
        (
            "bell: gong",
            "3:7: bell must be bowl or a sound file (.wav, .flac, .mp3, .ogg or .m4a), not gong",
        ),
        ("bed: C:\\sounds\\rain.wav", "3:6: bed must be a path relative to the script's folder"),
        (
            "bed: rain.txt",
            "3:6: bed must be a sound file (.wav, .flac, .mp3, .ogg or .m4a), not rain.txt",
        ),
        (
            "bed: [a.wav, b.wav]",
            "3:6: 'bed' takes one value, not a list (quote it to keep the brackets)",
        ),
        ("bed_level: quiet", "3:12: bed_level must be a number, not quiet"),
        (
            "bed_level: 6",
            "3:12: bed_level must be from -60 to 0 LU, the bed's loudness below the voice (not 6)",
        ),
        (
            "bed_level: -61 LU",
            "3:12: bed_level must be from -60 to 0 LU, the bed's loudness below the voice "
            "(not -61)",
        ),
        ("bed_duck: 31 dB", "3:11: bed_duck must be from 0 to 30 dB (not 31)"),
        ("bed_duck: -1", "3:11: bed_duck must be from 0 to 30 dB (not -1)"),
        ("bed_dcuk: 3", "3:1: unknown key 'bed_dcuk'; did you mean 'bed_duck'?"),
    ],
)
def test_sound_keys_are_validated_at_their_position(line, message):
    assert errors("Hello.\n", line) == [f"{P}:{message}"]


def test_bed_level_and_duck_take_their_limits():
    meta = parse_script(source("Hi.\n", "bed_level: -60", "bed_duck: 30"), P).meta
    assert (meta.bed_level, meta.bed_duck) == (-60.0, 30.0)
    meta = parse_script(source("Hi.\n", "bed_level: 0", "bed_duck: 0"), P).meta
    assert (meta.bed_level, meta.bed_duck) == (0.0, 0.0)


# --------------------------------------------------------------------------- tags


def test_bell_tags_in_any_case_with_or_without_a_length():
    items = parse_script(source("One. [bell] Two. [BELL 10s] Three. [Bell 1m30s]\n"), P)
    tags = [i for i in items.sections[0].paragraphs[0].items if isinstance(i, BellTag)]
    assert tags == [
        BellTag(None, "[bell]", 4, 6),
        BellTag(10.0, "[BELL 10s]", 4, 18),
        BellTag(90.0, "[Bell 1m30s]", 4, 36),
    ]


def test_a_bell_inside_emphasis_splits_it_like_a_pause():
    plan = plan_of("*Slowly [bell 4s] now*\n")
    speech = [i for i in plan.items if isinstance(i, SpeechSegment)]
    assert [s.inlines for s in speech] == [
        (Emphasis("*", (Text("Slowly"),)),),
        (Emphasis("*", (Text("now"),)),),
    ]
    assert shape(plan)[2] == ("bell", True, 4.0)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "Now [bell 0s] rest.\n",
            "4:5: [bell 0s] has no length: give it more than 0 s, or "
            "write [bell] for the whole ring",
        ),
        (
            "Now [bell 11m] rest.\n",
            "4:5: [bell 11m] is longer than the 10-minute limit for one pause",
        ),
        ("Now [bell soon] rest.\n", "4:5: invalid bell [bell soon]: "),
        ("# Open [bell]\nHi.\n", "4:8: bells are not allowed in a heading"),
        ("Hi {en-GB: there [bell] | en-US: you}.\n", "4:18: bells are not allowed in a variant"),
        ("Now [bell:10s] rest.\n", "4:5: unknown tag [bell:10s]; did you mean [bell 10s]?"),
        ("Now [bell10s] rest.\n", "4:5: unknown tag [bell10s]; did you mean [bell 10s]?"),
        ("Now [bel] rest.\n", "4:5: unknown tag [bel]; did you mean [bell]?"),
        ("Now [Bells 3s] rest.\n", "4:5: unknown tag [Bells 3s]; did you mean [bell 3s]?"),
    ],
)
def test_bad_bell_tags_are_errors_with_their_position(body, message):
    (error,) = errors(body)
    assert error.startswith(f"{P}:{message}")
    if message.endswith(": "):  # the duration's own complaint follows
        assert len(error) > len(f"{P}:{message}")


def test_an_escaped_bell_is_text():
    paragraph = parse_script(source("Ring the \\[bell\\].\n"), P).sections[0].paragraphs[0]
    assert paragraph.items == (Text("Ring the [bell]."),)


def test_bell_tags_print_back_as_written():
    script = parse_script(source("A. [Bell] B. [bell 2.5s]\n\n[bell]\n", "bell: chime.wav"), P)
    again = parse_script(print_script(script), P)
    assert without_positions(again) == without_positions(script)
    assert "[Bell] B. [bell 2.5s]" in print_script(script)


# --------------------------------------------------------------------------- timing


def test_a_bell_at_the_start_and_the_end_follows_the_lead_in_and_precedes_the_tail():
    plan = plan_of("[bell]\n\nWelcome.\n\nGoodbye.\n\n[bell]\n")
    assert shape(plan) == [
        ("lead_in", 1.0),
        ("bell", False, BOWL),
        ("speech", "S0-01"),
        ("paragraph", 1.2),
        ("speech", "S0-02"),
        ("bell", False, BOWL),
        ("tail", 3.0),
    ]


def test_the_bowl_counts_as_its_ring_rounded_up_to_a_tenth():
    assert sound.bowl_seconds() <= BOWL
    assert BOWL - sound.bowl_seconds() < 0.1
    assert round(BOWL * 10) == pytest.approx(BOWL * 10)


@pytest.mark.parametrize(
    ("ring", "pause"),
    [(10.0, 10.0), (441000 / 44100, 10.0), (7.23, 7.3), (7.2000001, 7.3), (0.01, 0.1), (3.0, 3.0)],
)
def test_ring_pause_rounds_up_to_a_tenth(ring, pause):
    assert ring_pause(ring) == pytest.approx(pause, abs=1e-12)


def test_a_bell_replaces_the_paragraph_and_section_pauses_like_any_explicit_pause():
    plan = plan_of("One.\n\n[bell 6s]\n\nTwo.\n[bell 7s]\n# Next\nThree.\n")
    assert shape(plan) == [
        ("lead_in", 1.0),
        ("speech", "S0-01"),
        ("bell", True, 6.0),
        ("speech", "S0-02"),
        ("bell", True, 7.0),
        ("speech", "S1-01"),
        ("tail", 3.0),
    ]


def test_pauses_next_to_a_bell_add_to_it_as_items_of_their_own():
    plan = plan_of("Breathe. [bell] [pause 5s] Rest. [pause 2s][bell 4s]\n")
    assert shape(plan) == [
        ("lead_in", 1.0),
        ("speech", "S0-01"),
        ("bell", False, BOWL),
        ("pause", 5.0),
        ("speech", "S0-02"),
        ("pause", 2.0),
        ("bell", True, 4.0),
        ("tail", 3.0),
    ]


def test_a_bell_knows_where_its_tag_stands():
    plan = plan_of("Intro.\n\n# Part\nOne.\n\nTwo. [bell 3s]\n")
    (bell,) = [i for i in plan.items if isinstance(i, Bell)]
    assert (bell.line, bell.section, bell.paragraph, bell.kind) == (9, 1, 2, "bell")


def test_a_bell_file_is_measured_when_the_script_is_loaded_not_when_it_is_parsed():
    script = parse_script(source("One. [bell] Two.\n", "bell: chime.wav"), P)
    assert script.bell_seconds is None
    with pytest.raises(ValueError, match=r"example.md:5: the length of the bell chime.wav"):
        plan_locale(script, "en-GB")
    # A bell of its own length needs no measure.
    plan = plan_of("One. [bell 3s] Two.\n", "bell: chime.wav")
    assert shape(plan)[2] == ("bell", True, 3.0)


def test_the_estimate_and_the_summary_count_the_bells_pause():
    plan = plan_of("[bell]\n\nWelcome to the practice.\n\n[bell 12s]\n")
    (segment,) = plan.speech
    speech = speech_seconds(segment, 1.0, 0.6)
    times = estimate_times(plan)
    assert times.duration == pytest.approx(1.0 + BOWL + speech + 12.0 + 3.0)
    assert times.segment_starts == (("S0-01", pytest.approx(1.0 + BOWL)),)
    assert plan.scripted_silence == pytest.approx(1.0 + BOWL + 12.0 + 3.0)


# --------------------------------------------------------------------------- sound files


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "scripts_src").mkdir()
    return tmp_path


def write_wav(path: Path, seconds: float, rate: int = 8000) -> Path:
    """A quiet tone of ``seconds`` as 16-bit mono WAV."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = round(seconds * rate)
    samples = bytearray()
    for n in range(frames):
        value = int(3000 * math.sin(2 * math.pi * 440 * n / rate))
        samples += value.to_bytes(2, "little", signed=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(samples))
    return path


def write_script(project: Path, *front: str, body: str = "Hello. [bell]\n") -> Path:
    path = project / "scripts_src" / "a.md"
    path.write_text(source(body, *front).replace("title: Example", "title: A"), "utf-8")
    return path


def load_errors(path: Path, root: Path) -> list[str]:
    with pytest.raises(ScriptError) as caught:
        load_script(path, root)
    return [str(e) for e in caught.value.errors]


def test_a_bell_file_rings_for_its_length_rounded_up(project):
    write_wav(project / "scripts_src" / "sounds" / "chime.wav", 2.34)
    script = load_script(write_script(project, "bell: sounds/chime.wav"), project)
    assert script.bell_seconds == pytest.approx(2.34, abs=0.001)
    assert shape(plan_locale(script, "en-US"))[-2] == ("bell", False, 2.4)
    assert bell_file(script, project) == project / "scripts_src" / "sounds" / "chime.wav"


def test_a_bed_file_in_another_format_is_accepted(project):
    wav = write_wav(project / "tmp.wav", 1.5)
    flac = project / "sounds" / "rain.flac"
    flac.parent.mkdir()
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", str(wav), str(flac)], check=True
    )
    script = load_script(write_script(project, "bed: ../sounds/rain.flac", body="Hi.\n"), project)
    assert script.meta.bed == "../sounds/rain.flac"
    assert bed_file(script, project) == project / "scripts_src" / "../sounds/rain.flac"
    assert bell_file(script, project) is None


@pytest.fixture(scope="module")
def hour_long_flac(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An hour and half a second of silence, at a rate that makes it small and quick."""
    path = tmp_path_factory.mktemp("long") / "long.flac"
    command = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "lavfi"]
    command += ["-i", "anullsrc=r=1000:cl=mono", "-t", "3600.5", "-c:a", "flac", str(path)]
    subprocess.run(command, check=True)
    return path


def test_sound_files_that_cannot_be_used_are_errors_on_their_lines(project, hour_long_flac):
    folder = project / "scripts_src"
    (folder / "notes.wav").write_text("this is not audio", "utf-8")
    (folder / "folder.wav").mkdir()
    (project.parent / "outside.wav").write_bytes((folder / "notes.wav").read_bytes())
    (folder / "linked.wav").symlink_to(project.parent / "outside.wav")
    (folder / "long.flac").write_bytes(hour_long_flac.read_bytes())
    cases = [
        ("bell: missing.wav", "3:7: bell: no such file: missing.wav"),
        ("bed: missing.wav", "3:6: bed: no such file: missing.wav"),
        ("bed: folder.wav", "3:6: bed: cannot read folder.wav: not a file"),
        ("bell: notes.wav", "3:7: bell: not an audio file: notes.wav"),
        ("bed: ../../outside.wav", "3:6: bed: ../../outside.wav is outside the project root"),
        ("bell: linked.wav", "3:7: bell: linked.wav is outside the project root"),
        (
            "bed: long.flac",
            "3:6: bed: long.flac is longer than an hour, the limit for a sound file",
        ),
    ]
    for line, message in cases:
        path = write_script(project, line)
        assert load_errors(path, project) == [f"scripts_src/a.md:{message}"], line


def test_a_sound_file_of_just_under_an_hour_is_accepted(project):
    path = project / "scripts_src" / "almost.flac"
    command = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "lavfi"]
    command += ["-i", "anullsrc=r=1000:cl=mono", "-t", "3599.5", "-c:a", "flac", str(path)]
    subprocess.run(command, check=True)
    assert load_script(write_script(project, "bed: almost.flac"), project).meta.bed


def test_every_sound_problem_is_reported_with_the_others(project):
    path = write_script(
        project, "bell: gone.wav", "bed: away.mp3", body="Hello [pasue 3s] there.\n"
    )
    assert load_errors(path, project) == [
        "scripts_src/a.md:3:7: bell: no such file: gone.wav",
        "scripts_src/a.md:4:6: bed: no such file: away.mp3",
        "scripts_src/a.md:6:7: unknown tag [pasue 3s]; did you mean [pause 3s]?",
    ]


def test_the_bowl_needs_no_file(project):
    script = load_script(write_script(project), project)
    assert script.bell_seconds == sound.bowl_seconds()
    assert bell_file(script, project) is None and bed_file(script, project) is None


def test_check_reports_a_bad_bed_and_build_writes_nothing(project, monkeypatch):
    monkeypatch.chdir(project)
    write_script(project, "bed: rain.ogg")
    earlier = project / "out" / "a" / "a.en-GB.mp3"
    earlier.parent.mkdir(parents=True)
    earlier.write_bytes(b"an earlier build")
    expected = "scripts_src/a.md:3:6: bed: no such file: rain.ogg"
    for command in (["check"], ["build"]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 2, result.output
        assert expected in result.output
    assert earlier.read_bytes() == b"an earlier build"
    assert sorted(p.name for p in (project / "out").rglob("*")) == ["a", "a.en-GB.mp3"]


def test_check_counts_the_bells_in_the_silence_and_the_length(project, monkeypatch):
    monkeypatch.chdir(project)
    write_script(project, body="[bell]\n\nHello there. [bell 12s]\n")
    result = CliRunner().invoke(main, ["check"])
    assert result.exit_code == 0, result.output
    # 1 s lead-in, the bowl's ring, the 12 s bell and a 3 s tail; 2 words at 2.33 a second.
    silence = 1 + BOWL + 12 + 3
    total = silence + 2 / 2.33
    line = f"2 words, 0:{round(silence):02d} of silence, about 0:{round(total):02d} in all"
    assert result.stdout.splitlines()[2:4] == [f"  en-GB: {line}", f"  en-US: {line}"]
