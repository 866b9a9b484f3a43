"""The studio's "Build my track" through Django's test client: the build runs in a thread of
the server while the page polls it, segments not recorded are spoken by the chosen synthetic
voice and listed as such, and "Send securely to my client" sends a copy of the built track,
which is what the client downloads (not the published track)."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("django", reason="voicetrack serve's tests need the web extra")
pytest.importorskip("hibari", reason="the stand-in take is spoken by hibari (hibari-tts)")

import soundfile as sf  # noqa: E402
from django.core import mail  # noqa: E402
from django.core.files.uploadedfile import SimpleUploadedFile  # noqa: E402
from scipy import signal  # noqa: E402

from pipeline.engines.base import load_engine  # noqa: E402
from pipeline.model import VoiceSpec  # noqa: E402
from pipeline.web.studio.recording import speaker_for  # noqa: E402
from tests.web.serving import CLIENT_EMAIL, PASSWORD, SLUG  # noqa: E402

# The build's thread has a database connection of its own: the test's data must be committed.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def project(project_copy, settings) -> Path:
    root = project_copy()
    settings.ROOT = root
    return root


def take_of(text: str) -> bytes:
    audio = load_engine(VoiceSpec("hibari", model="heart"), Path.cwd()).synthesize(text)
    samples = signal.resample_poly(audio.samples, 2, 1)
    buffer = io.BytesIO()
    sf.write(
        buffer,
        np.concatenate([np.zeros(24000), samples, np.zeros(24000)]),
        48000,
        "PCM_16",
        format="WAV",
    )
    return buffer.getvalue()


def test_build_with_a_fill_in_voice_then_send_the_track(client, django_user_model, project) -> None:
    therapist = django_user_model.objects.create_user(
        "lee@example.org", "lee@example.org", PASSWORD
    )
    client.force_login(therapist)
    role = speaker_for(therapist).role
    studio = f"/record/{SLUG}/en-GB/"
    take = SimpleUploadedFile("S0-01.wav", take_of("Settle into a comfortable position."))
    assert (
        client.post(f"/record/voice/{role}/{SLUG}/en-GB/takes/S0-01/", {"audio": take}).status_code
        == 200
    )

    # Without a fill-in voice, the missing segment stops the build with a clear message.
    assert client.post(f"{studio}build/", {"fill": ""}).status_code == 202
    failed = wait_for_build(client, studio)
    assert failed["state"] == "failed" and "no take for S1-01" in failed["message"]
    assert str(project) not in failed["message"]

    started = client.post(f"{studio}build/", {"fill": "tones"})
    assert started.status_code == 202
    done = wait_for_build(client, studio)
    assert done["state"] == "done", done
    assert done["filled"] == ["S1-01"] and done["total"] == 2 and done["done"] >= 2
    page = client.get(studio).content.decode()
    assert "Spoken by a synthetic voice (tones): S1-01" in page
    track = client.get(f"{studio}track.mp3")
    built = b"".join(track.streaming_content)
    assert track["Content-Type"] == "audio/mpeg" and built[:3] == b"ID3"
    folder = project / "instance" / "studio" / role / SLUG
    manifest = json.loads((folder / f"{SLUG}.en-GB.json").read_text())
    assert manifest["voice"]["role"] == role and manifest["filled"]["segments"] == ["S1-01"]
    published = project / "out" / "site" / SLUG / f"{SLUG}.en-GB.mp3"
    assert published.read_bytes() != built

    # Send securely to my client: a copy of this track, as it is now.
    form = client.get(f"{studio}send/").content.decode()
    assert "Send your recording of" in form
    response = client.post(
        f"{studio}send/",
        {
            "client_email": CLIENT_EMAIL,
            "locale": "en-GB",
            "consent": "on",
            "days": "7",
            "downloads": "2",
        },
    )
    assert response.status_code == 302
    token = mail.outbox[-1].body.split("/s/")[1].split("/")[0]
    (folder / f"{SLUG}.en-GB.mp3").write_bytes(b"rebuilt later")  # does not change what was sent
    client.logout()
    download = client.post(f"/s/{token}/download/")
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == built


def wait_for_build(client, studio: str) -> dict:
    for _ in range(1200):
        data = client.get(f"{studio}build/").json()
        if data["state"] in ("done", "failed"):
            return data
        time.sleep(0.25)
    raise AssertionError(f"the build did not finish: {data}")
