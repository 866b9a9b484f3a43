"""What the studio does with a therapist's recordings, as functions the views call.

A take arrives as whatever the browser recorded (WebM with PCM or Opus, Ogg, WAV...); it is
checked, converted to FLAC by ffmpeg and stored the way ``voicetrack takes split`` stores
takes, with its ``takes.json`` record, so ``voicetrack takes status`` and the ``takes``
engine see it as any other take. A whole reading (one take) is split by
:func:`pipeline.takes.split_recording`. Builds run in a thread of their own, one at a time.

The folders, under the project root (``instance/`` is private to the server)::

    instance/takes/<role>/<slug>/<segment id>.flac, takes.json   the takes
    instance/takes/<role>/<slug>/studio.json                     segments marked for a retake
    instance/recordings/<role>/<slug>.<locale>.<time>.flac       whole readings
    instance/studio/<role>/<slug>/<slug>.<locale>.mp3 …           the built tracks
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import OperationalError, close_old_connections
from django.utils import timezone

from pipeline.atomic import atomic_path, write_text_atomic
from pipeline.errors import PipelineError
from pipeline.ffmpeg import run_ffmpeg
from pipeline.model import Bell, LocalePlan, Silence, SpeechSegment
from pipeline.takes.store import (
    TakesStatus,
    ensure_takes_profile,
    normalise_text,
    read_takes_json,
    reading_text,
    record_for,
    script_folder,
    takes_status,
    write_takes_json,
)
from pipeline.web.studio.models import Build, Speaker

log = logging.getLogger(__name__)
T = TypeVar("T")

#: A take of one segment (a few minutes of PCM at 48 kHz) and a reading of a whole script.
TAKE_MAX_BYTES = 64 * 1024 * 1024
READING_MAX_BYTES = 512 * 1024 * 1024
#: The containers a browser (or a person) may send, by their first bytes.
_SIGNATURES = (
    (b"\x1a\x45\xdf\xa3", "WebM"),
    (b"OggS", "Ogg"),
    (b"fLaC", "FLAC"),
    (b"RIFF", "WAV"),
)
ACCEPTED = "WebM, Ogg, WAV, FLAC or MP4 audio"
RETAKES_FILE = "studio.json"

_lock = threading.Lock()  # one writer of a takes.json at a time
_build_lock = threading.Lock()  # one build at a time: the machine's cores are shared
#: Builds this process is running: one left "running" by a server that stopped is not.
_active: set[int] = set()


class UploadRefused(Exception):
    """An upload that is not stored, with the message the therapist sees and a status."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


# --------------------------------------------------------------------------- who and what


def speaker_for(user: Any) -> Speaker:
    """The therapist's voice role, made on their first visit."""
    speaker, _ = Speaker.objects.get_or_create(user=user, defaults={"role": f"therapist-{user.pk}"})
    return speaker


def root() -> Path:
    return Path(settings.ROOT)


def takes_dir(role: str) -> Path:
    return root() / "instance" / "takes" / role


def track_dir(role: str) -> Path:
    return root() / "instance" / "studio" / role


def find_script(slug: str) -> Path | None:
    """The script file of ``slug`` among the project's scripts (any script, published or not)."""
    from pipeline.check import find_scripts
    from pipeline.parse import load_script

    for path in find_scripts([root() / "scripts_src"]):
        if load_script(path, root()).slug == slug:
            return path
    return None


def load_plan(slug: str, locale: str) -> LocalePlan | None:
    """The plan of ``slug`` in ``locale``, or None when there is no such script or locale."""
    from pipeline.parse import load_script
    from pipeline.plan import plan_locale

    path = find_script(slug)
    if path is None:
        return None
    script = load_script(path, root())
    if locale not in script.meta.locales:
        return None
    return plan_locale(script, locale)


def script_locales(slug: str) -> tuple[str, ...]:
    from pipeline.parse import load_script

    path = find_script(slug)
    return load_script(path, root()).meta.locales if path else ()


# --------------------------------------------------------------------------- the page's data


@dataclass(frozen=True)
class SegmentView:
    id: str
    printed: str
    spoken: str | None  # what to say, where it differs from the print
    cue: str  # the pause after it, as the recording sheet says it
    condition: str  # ok, missing, stale, untracked (as takes status), or retake
    note: str  # why it is stale or marked for a retake


def pause_cue(silence: Silence | Bell | None) -> str:
    if silence is None:
        return ""
    seconds = f"{silence.seconds:g} s"
    if isinstance(silence, Bell):
        return f"Bell, {seconds}"
    return {
        "pause": f"Pause, {seconds}",
        "paragraph": f"New paragraph, {seconds}",
        "section": f"New section, {seconds}",
        "tail": "The end",
        "lead_in": "",
    }[silence.source]


def segment_views(plan: LocalePlan, role: str) -> tuple[list[SegmentView], TakesStatus]:
    """Each speech segment with its pause cue and the state of its take: the conditions of
    ``takes status``, and "retake" for a segment the split of a reading flagged."""
    status = takes_status(plan, takes_dir(role))
    states = {entry.segment_id: entry for entry in status.entries}
    retakes = read_retakes(status.folder)
    views = []
    items = list(plan.items)
    for k, item in enumerate(items):
        if not isinstance(item, SpeechSegment):
            continue
        following = items[k + 1] if k + 1 < len(items) else None
        after = following if isinstance(following, Silence | Bell) else None
        entry = states[item.id]
        said = reading_text(item)
        condition: str = entry.condition
        note = entry.reason or ""
        if item.id in retakes and entry.usable:
            condition, note = "retake", retakes[item.id]
        views.append(
            SegmentView(
                id=item.id,
                printed=normalise_text(item.printed),
                spoken=said if said != normalise_text(item.printed) else None,
                cue=pause_cue(after),
                condition=condition,
                note=note,
            )
        )
    return views, status


def status_data(plan: LocalePlan, role: str) -> dict[str, Any]:
    """The page's state as JSON: progress and each segment's condition."""
    views, status = segment_views(plan, role)
    recorded = len(status.usable)
    return {
        "recorded": recorded,
        "total": len(views),
        "progress": f"{recorded} of {len(views)} recorded",
        "segments": [
            {"id": v.id, "condition": v.condition, "note": v.note, "label": condition_label(v)}
            for v in views
        ],
    }


def condition_label(view: SegmentView) -> str:
    return {
        "ok": "recorded",
        "untracked": "recorded",
        "missing": "not recorded yet",
        "stale": "stale: the text has changed since it was recorded",
        "retake": f"marked for a retake: {view.note}",
    }[view.condition]


# --------------------------------------------------------------------------- uploads


def check_upload(upload: UploadedFile | None, limit: int) -> str:
    """The container of an upload by its first bytes; refuses a missing, empty, oversized
    or unknown file."""
    if upload is None:
        raise UploadRefused("No recording was sent.")
    if upload.size is not None and upload.size > limit:
        raise UploadRefused(
            f"The recording is too large ({upload.size / 1e6:.1f} MB; the limit is "
            f"{limit / 1e6:g} MB). Record it in shorter parts.",
            status=413,
        )
    head = upload.read(12)
    upload.seek(0)
    if not head:
        raise UploadRefused("The recording is empty.")
    for signature, kind in _SIGNATURES:
        if head.startswith(signature) and (kind != "WAV" or head[8:12] == b"WAVE"):
            return kind
    if head[4:8] == b"ftyp":
        return "MP4"
    raise UploadRefused(f"That file is not a recording this studio can take (send {ACCEPTED}).")


def to_flac(upload: UploadedFile, target: Path) -> Path:
    """Convert an uploaded recording to mono 24-bit FLAC at its own rate, atomically."""
    with (
        tempfile.NamedTemporaryFile(dir=target.parent, prefix=".", suffix=".upload") as raw,
        atomic_path(target) as flac,
    ):
        for chunk in upload.chunks():
            raw.write(chunk)
        raw.flush()
        try:
            run_ffmpeg(
                ["-nostdin", "-v", "error", "-y", "-i", raw.name, "-map", "0:a:0", "-ac", "1",
                 "-c:a", "flac", "-sample_fmt", "s32", "-bits_per_raw_sample", "24",
                 "-f", "flac", str(flac)]
            )  # fmt: skip
        except PipelineError:
            raise UploadRefused(
                f"That file could not be read as audio (send {ACCEPTED})."
            ) from None
    return target


def segment_of(plan: LocalePlan, segment_id: str) -> SpeechSegment:
    found = next((s for s in plan.speech if s.id == segment_id), None)
    if found is None:
        raise UploadRefused(
            f"There is no segment {segment_id} in “{plan.meta.title}” ({plan.locale}).",
            status=404,
        )
    return found


def store_take(plan: LocalePlan, role: str, segment_id: str, upload: UploadedFile | None) -> None:
    """Check, convert and store one segment's take, and record what it was recorded for."""
    segment = segment_of(plan, segment_id)
    check_upload(upload, getattr(settings, "STUDIO_TAKE_MAX_BYTES", TAKE_MAX_BYTES))
    assert upload is not None
    folder = script_folder(takes_dir(role), plan.script.slug)
    folder.mkdir(parents=True, exist_ok=True)
    with _lock:
        to_flac(upload, folder / f"{segment.id}.flac")
        records = read_takes_json(folder)
        records[segment.id] = record_for(segment)
        write_takes_json(folder, records)
        _clear_retakes(folder, [segment.id])
        _ensure_profile(role, plan.locale)


def store_reading(plan: LocalePlan, role: str, upload: UploadedFile | None) -> dict[str, Any]:
    """Split a reading of the whole script into takes (``takes split``); the segments it
    flags are marked for a retake. Returns what the page shows of the split."""
    from pipeline.takes import AlignmentError, split_recording

    check_upload(upload, getattr(settings, "STUDIO_READING_MAX_BYTES", READING_MAX_BYTES))
    assert upload is not None
    stamp = timezone.now().strftime("%Y%m%dT%H%M%S%f")
    recording = root() / "instance" / "recordings" / role / f"{plan.script.slug}.{plan.locale}"
    recording = recording.with_name(f"{recording.name}.{stamp}.flac")
    recording.parent.mkdir(parents=True, exist_ok=True)
    to_flac(upload, recording)
    with _lock:
        try:
            result = split_recording(
                recording, plan, root=root(), role=role, takes_dir=takes_dir(role)
            )
        except AlignmentError as error:
            raise UploadRefused(
                f"The reading could not be matched to the script: {error}"
            ) from None
        flagged = {row.segment_id: "; ".join(row.flags) for row in result.flagged}
        _clear_retakes(result.folder, [row.segment_id for row in result.segments])
        _mark_retakes(result.folder, flagged)
    return {"segments": [row.segment_id for row in result.segments], "flagged": flagged}


def _ensure_profile(role: str, locale: str) -> None:
    _, warning = ensure_takes_profile(root(), role, locale, takes_dir(role))
    if warning:
        log.warning("%s", warning)


def read_retakes(folder: Path) -> dict[str, str]:
    try:
        data = json.loads((folder / RETAKES_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    retakes = data.get("retake") if isinstance(data, dict) else None
    return {str(k): str(v) for k, v in retakes.items()} if isinstance(retakes, dict) else {}


def _write_retakes(folder: Path, retakes: dict[str, str]) -> None:
    write_text_atomic(folder / RETAKES_FILE, json.dumps({"retake": retakes}, indent=2) + "\n")


def _clear_retakes(folder: Path, segment_ids: Iterable[str]) -> None:
    retakes = read_retakes(folder)
    if any(sid in retakes for sid in segment_ids):
        _write_retakes(folder, {k: v for k, v in retakes.items() if k not in set(segment_ids)})


def _mark_retakes(folder: Path, flagged: dict[str, str]) -> None:
    if flagged:
        _write_retakes(folder, {**read_retakes(folder), **flagged})


def take_file(role: str, slug: str, segment_id: str) -> Path | None:
    """The stored take of a segment, for playing it back."""
    if not re.match(r"^S\d+-\d{2,}$", segment_id):
        return None
    path = script_folder(takes_dir(role), slug) / f"{segment_id}.flac"
    return path if path.is_file() else None


# --------------------------------------------------------------------------- builds


def fill_voices(locale: str) -> list[tuple[str, str]]:
    """The synthetic voices that can speak the segments not recorded yet: every role with a
    voice for ``locale`` that is not a takes voice (so never another therapist's takes)."""
    from pipeline.voices import load_profiles

    voices = []
    for role, profile in sorted(load_profiles(root()).items()):
        choices = profile.choices(locale)
        if choices and all(spec.engine != "takes" for spec in choices):
            voices.append((role, profile.description or role))
    return voices


def language_name(locale: str) -> str:
    from pipeline.site.context import language_name as name

    return name(locale)


def share_own_track(speaker: Speaker, wanted: Any, create: Any) -> Any:
    """Copy the therapist's built track aside and share the copy: ``create()`` makes the
    share (as for a published track); the copy is linked to it before its email goes out
    (the email is sent once the transaction commits)."""
    import shutil
    import uuid

    from django.db import transaction

    from pipeline.web.studio.models import OwnShare

    source = track_file(speaker.role, wanted.slug, wanted.locale)
    if source is None:
        raise PipelineError("there is no track to send yet")
    copy = root() / "instance" / "shared" / f"{uuid.uuid4().hex}.mp3"
    copy.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(copy) as temp:
        shutil.copyfile(source, temp)
    with transaction.atomic():
        share = create()
        OwnShare.objects.create(share=share, path=copy.relative_to(root()).as_posix())
    return share


def track_file(role: str, slug: str, locale: str) -> Path | None:
    path = track_dir(role) / slug / f"{slug}.{locale}.mp3"
    return path if path.is_file() else None


def start_build(speaker: Speaker, slug: str, locale: str, fill_role: str = "") -> Build:
    """Record a build and run it in a thread; the page polls :func:`build_data`."""
    job = Build.objects.create(speaker=speaker, slug=slug, locale=locale, fill_role=fill_role)
    _active.add(job.pk)
    threading.Thread(target=_run_build, args=(job.pk,), name=f"build-{job.pk}", daemon=True).start()
    return job


def _run_build(build_id: int) -> None:
    from pipeline.build import BuildOptions, build

    try:
        job = _retrying(lambda: Build.objects.select_related("speaker").get(pk=build_id))
        role = job.speaker.role
        with _build_lock:
            _record(build_id, state=Build.RUNNING)
            counts = {"done": 0, "total": 0}

            def progress(label: str, event: str, count: int) -> None:
                if event == "start":
                    counts["total"] = count
                else:
                    counts["done"] += count
                _record(build_id, **counts)

            script = find_script(job.slug)
            if script is None:
                raise PipelineError(f"there is no script {job.slug} any more")
            options = BuildOptions(
                root=root(),
                out_dir=track_dir(role),
                locales=(job.locale,),
                voice=role,
                fill_missing=job.fill_role or None,
                cache_dir=root() / "instance" / "studio" / ".cache" / "sentences",
            )
            results = build([script], options, progress)
        filled = list(results[0].filled) if results else []
        _record(build_id, state=Build.DONE, filled=filled, finished_at=timezone.now())
    except PipelineError as error:
        hint = getattr(error, "hint", None)
        message = str(error) + (f" ({hint})" if hint else "")
        _record(build_id, state=Build.FAILED, message=_plain(message), finished_at=timezone.now())
    except Exception:  # the therapist sees that it failed; the log has the traceback
        log.exception("build %s failed", build_id)
        _record(
            build_id,
            state=Build.FAILED,
            message="The build failed unexpectedly; the server's log says why.",
            finished_at=timezone.now(),
        )
    finally:
        _active.discard(build_id)
        close_old_connections()


def _retrying(query: Callable[[], T]) -> T:
    """Run ``query``, waiting out a database that another thread holds locked for a moment
    (SQLite without WAL, as in the tests, locks a table while a page reads it)."""
    for attempt in range(50):
        try:
            return query()
        except OperationalError as error:
            if "locked" not in str(error) or attempt == 49:
                raise
            time.sleep(0.1)
    raise AssertionError("unreachable")


def _record(build_id: int, **fields: Any) -> None:
    _retrying(lambda: Build.objects.filter(pk=build_id).update(**fields))


def _plain(message: str) -> str:
    """A build's error without the server's folders in it."""
    return message.replace(str(root()) + "/", "")


def active_builds() -> set[int]:
    return set(_active)


def build_data(job: Build | None) -> dict[str, Any]:
    if job is None:
        return {"state": "none"}
    data: dict[str, Any] = {
        "id": job.pk,
        "state": job.state,
        "done": job.done,
        "total": job.total,
        "message": job.message,
        "filled": job.filled,
        "fill_role": job.fill_role,
    }
    return data
