"""The recording studio through Django's test client: the page, storing a take as the takes
engine expects it, and every upload it refuses (wrong type, too large, no such segment,
another therapist's voice), each with its message."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("django", reason="voicetrack serve's tests need the web extra")

import soundfile as sf  # noqa: E402
from django.core.files.uploadedfile import SimpleUploadedFile  # noqa: E402
from django.test import Client  # noqa: E402

from pipeline.parse import load_script  # noqa: E402
from pipeline.plan import plan_locale  # noqa: E402
from pipeline.takes.store import read_takes_json, takes_status  # noqa: E402
from pipeline.web.studio.recording import speaker_for  # noqa: E402
from tests.web.serving import PASSWORD, SLUG  # noqa: E402

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(project_copy, settings) -> Path:
    """A copy of the published project of its own: takes and voice profiles are written."""
    root = project_copy()
    settings.ROOT = root
    return root


@pytest.fixture
def therapist(django_user_model):
    return django_user_model.objects.create_user("lee@example.org", "lee@example.org", PASSWORD)


@pytest.fixture
def signed_in(client: Client, therapist, project) -> Client:
    client.force_login(therapist)
    return client


def wav(seconds: float = 1.0, rate: int = 48000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    buffer = io.BytesIO()
    sf.write(buffer, 0.3 * np.sin(2 * np.pi * 220 * t), rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def upload(client: Client, url: str, data: bytes, name: str = "take.wav"):
    return client.post(url, {"audio": SimpleUploadedFile(name, data, "audio/wav")})


def take_url(role: str, segment: str, locale: str = "en-GB") -> str:
    return f"/record/voice/{role}/{SLUG}/{locale}/takes/{segment}/"


def plan_of(root: Path, locale: str = "en-GB"):
    return plan_locale(load_script(root / "scripts_src" / f"{SLUG}.md", root), locale)


def test_the_studio_needs_an_account(client: Client, project) -> None:
    response = client.get(f"/record/{SLUG}/en-GB/")
    assert response.status_code == 302 and "/account/sign-in/" in response["Location"]


def test_each_resource_page_links_to_the_studio(signed_in) -> None:
    page = signed_in.get(f"/{SLUG}/").content.decode()
    assert f'<a href="/record/{SLUG}/">Record in your own voice</a>' in page


def test_the_page_shows_each_segment_its_cue_and_the_progress(signed_in) -> None:
    assert signed_in.get(f"/record/{SLUG}/").headers["Location"] == f"/record/{SLUG}/en-GB/"
    page = signed_in.get(f"/record/{SLUG}/en-GB/").content.decode()
    assert "0 of 2 recorded" in page
    assert 'data-segment="S0-01"' in page and 'data-cue="Pause, 1 s"' in page
    assert 'data-segment="S1-01"' in page
    assert '<label for="microphone">Microphone</label>' in page
    assert 'role="meter"' in page
    assert '<script type="module" src="/static/studio/studio.js"></script>' in page
    assert "<script>" not in page  # the CSP allows no inline script
    for name in ("Record", "Stop", "Play back", "Retake", "Next segment", "Previous segment"):
        assert f">{name}</button>" in page
    assert ">Build my track</button>" in page
    static = signed_in.get("/static/studio/studio.js")
    assert static.status_code == 200
    assert b"echoCancellation: false" in b"".join(static.streaming_content)


def test_a_take_is_stored_as_flac_with_its_record_and_the_status_agrees(
    signed_in, therapist, project: Path
) -> None:
    role = speaker_for(therapist).role
    response = upload(signed_in, take_url(role, "S0-01"), wav(1.5))
    assert response.status_code == 200, response.content
    assert response.json()["progress"] == "1 of 2 recorded"

    folder = project / "instance" / "takes" / role / SLUG
    info = sf.info(folder / "S0-01.flac")
    assert info.format == "FLAC" and info.channels == 1 and info.samplerate == 48000
    assert info.subtype == "PCM_24" and abs(info.duration - 1.5) < 0.01
    assert read_takes_json(folder)["S0-01"].text == "Settle into a comfortable position."
    status = takes_status(plan_of(project), project / "instance" / "takes" / role)
    assert status.ok == ("S0-01",) and status.missing == ("S1-01",)
    data = signed_in.get(f"/record/{SLUG}/en-GB/status/").json()
    assert [s["condition"] for s in data["segments"]] == ["ok", "missing"]
    # The voice profile plays these takes, so the command line sees them too.
    profile = (project / "voices" / f"{role}.toml").read_text()
    assert f'dir = "instance/takes/{role}"' in profile
    played = signed_in.get(take_url(role, "S0-01"))
    assert played["Content-Type"] == "audio/flac"


def test_the_wrong_type_is_refused(signed_in, therapist, project: Path) -> None:
    role = speaker_for(therapist).role
    response = upload(signed_in, take_url(role, "S0-01"), b"%PDF-1.7 not audio", "take.pdf")
    assert response.status_code == 400
    assert "not a recording this studio can take" in response.json()["error"]
    # A file that starts like WebM but is not one is refused by the conversion.
    response = upload(signed_in, take_url(role, "S0-01"), b"\x1a\x45\xdf\xa3broken", "t.webm")
    assert response.status_code == 400
    assert "could not be read as audio" in response.json()["error"]
    folder = project / "instance" / "takes" / role / SLUG
    assert not (folder / "S0-01.flac").exists()
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no leftovers


def test_a_take_over_the_size_limit_is_refused(signed_in, therapist, project, settings) -> None:
    settings.STUDIO_TAKE_MAX_BYTES = 100_000
    role = speaker_for(therapist).role
    response = upload(signed_in, take_url(role, "S0-01"), wav(2.0))
    assert response.status_code == 413
    assert "too large (0.2 MB; the limit is 0.1 MB)" in response.json()["error"]
    assert not (project / "instance" / "takes" / role).exists()


def test_a_segment_that_does_not_exist_is_refused(signed_in, therapist, project) -> None:
    role = speaker_for(therapist).role
    response = upload(signed_in, take_url(role, "S9-99"), wav())
    assert response.status_code == 404
    assert response.json()["error"].startswith("There is no segment S9-99 in “A Calm")
    assert not (project / "instance" / "takes" / role).exists()


def test_another_therapists_voice_is_refused(
    signed_in, therapist, django_user_model, project: Path
) -> None:
    other = django_user_model.objects.create_user("kim@example.org", "kim@example.org", PASSWORD)
    theirs = speaker_for(other).role
    assert theirs != speaker_for(therapist).role
    response = upload(signed_in, take_url(theirs, "S0-01"), wav())
    assert response.status_code == 403
    assert "belongs to another therapist" in response.json()["error"]
    assert signed_in.get(take_url(theirs, "S0-01")).status_code == 403
    assert not (project / "instance" / "takes" / theirs).exists()


def test_only_synthetic_voices_fill_missing_segments(signed_in, therapist, project) -> None:
    mine = speaker_for(therapist).role
    upload(signed_in, take_url(mine, "S0-01"), wav())  # now a takes voice of the project
    page = signed_in.get(f"/record/{SLUG}/en-GB/").content.decode()
    assert '<option value="tones">' in page and f'value="{mine}"' not in page
    response = signed_in.post(f"/record/{SLUG}/en-GB/build/", {"fill": mine})
    assert response.status_code == 400
    assert response.json()["error"].startswith("Choose one of the voices")


def test_a_reading_is_split_and_a_doubtful_segment_is_marked_for_a_retake(
    signed_in, therapist, project: Path, settings
) -> None:
    pytest.importorskip("hibari", reason="the stand-in reading is spoken by hibari (hibari-tts)")
    from scipy import signal

    from pipeline.engines.base import load_engine
    from pipeline.model import VoiceSpec

    engine = load_engine(VoiceSpec("hibari", model="heart"), Path.cwd())

    def said(text: str) -> np.ndarray:
        audio = engine.synthesize(text)
        return signal.resample_poly(audio.samples, 2, 1)  # 24 kHz -> 48 kHz

    # The second segment is read with a sentence the script does not have.
    long = "Breathe in slowly, and let the breath go all the way down to your belly and back."
    gap = np.zeros(48000)
    reading = np.concatenate(
        [gap, said("Settle into a comfortable position."), gap, said(long), gap]
    )
    buffer = io.BytesIO()
    sf.write(buffer, 0.5 * reading / np.abs(reading).max(), 48000, format="WAV")
    role = speaker_for(therapist).role
    url = f"/record/voice/{role}/{SLUG}/en-GB/reading/"
    response = upload(signed_in, url, buffer.getvalue(), "reading.wav")
    assert response.status_code == 200, response.content
    split = response.json()["split"]
    assert split["segments"] == ["S0-01", "S1-01"]
    # The split's own judgement: the long reading is flagged (and, at the pace it implies,
    # the first segment may be too).
    assert "far too long for its text" in split["flagged"]["S1-01"]
    folder = project / "instance" / "takes" / role / SLUG
    assert sorted(read_takes_json(folder)) == ["S0-01", "S1-01"]
    page = signed_in.get(f"/record/{SLUG}/en-GB/").content.decode()
    assert 'data-segment="S1-01" data-condition="retake"' in page
    assert "marked for a retake: far too long for its text" in page
    # The status of the takes themselves is as takes status reports it: both are there.
    assert takes_status(plan_of(project), project / "instance" / "takes" / role).complete

    # Recording the segment again clears the mark.
    assert upload(signed_in, take_url(role, "S1-01"), wav()).status_code == 200
    data = signed_in.get(f"/record/{SLUG}/en-GB/status/").json()
    conditions = [entry["condition"] for entry in data["segments"]]
    assert conditions == ["retake" if "S0-01" in split["flagged"] else "ok", "ok"]

    # A reading is checked as a take is: one that is not audio is refused, and so is one
    # over the readings' size limit.
    response = upload(signed_in, url, b"OggS" + bytes(1000), "reading.ogg")
    assert response.status_code == 400 and "could not be read as audio" in response.json()["error"]
    settings.STUDIO_READING_MAX_BYTES = 100_000
    response = upload(signed_in, url, buffer.getvalue(), "reading.wav")
    assert response.status_code == 413 and "too large" in response.json()["error"]


def test_the_spoken_form_is_shown_and_an_edited_segment_is_stale(
    signed_in, therapist, project: Path
) -> None:
    script = project / "scripts_src" / "kind-words.md"
    script.write_text(
        "---\ntitle: Kind words\nvoice: tones\n---\n\n"
        "Bring to mind [CFT](say: compassion focused therapy). [pause 2s]\n\n"
        "Rest here.\n",
        encoding="utf-8",
    )
    page = signed_in.get("/record/kind-words/en-GB/").content.decode()  # not published: fine
    assert 'data-text="Bring to mind CFT."' in page
    assert 'data-spoken="Bring to mind compassion focused therapy."' in page
    assert 'data-segment="S0-02" data-condition="missing"' in page and 'data-spoken=""' in page
    role = speaker_for(therapist).role
    url = f"/record/voice/{role}/kind-words/en-GB/takes/S0-02/"
    assert upload(signed_in, url, wav()).status_code == 200
    script.write_text(script.read_text().replace("Rest here.", "Rest here a while."))
    data = signed_in.get("/record/kind-words/en-GB/status/").json()
    assert data["progress"] == "0 of 2 recorded"
    assert data["segments"][1]["condition"] == "stale"
    assert data["segments"][1]["label"].startswith("stale: the text has changed")
