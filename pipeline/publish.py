"""Publish stage: a timeline and the track's facts -> WebVTT captions and the JSON manifest.

Both are written atomically. Times come from the timeline's sample positions, converted to
seconds and rounded to the millisecond only here, at the edge, so neighbouring items share
their boundary exactly and the manifest's segments tile the track without gaps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from pipeline.atomic import write_text_atomic
from pipeline.manifest import Manifest, manifest_json
from pipeline.model import (
    Bell,
    LocalePlan,
    Loudness,
    ResolvedVoice,
    Silence,
    SpeechSegment,
    TimedItem,
    Timeline,
)


def vtt_timestamp(samples: int, sample_rate: int) -> str:
    """``HH:MM:SS.mmm`` for a sample position, rounded to the millisecond."""
    ms = (samples * 1000 + sample_rate // 2) // sample_rate
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"


def vtt_text(timeline: Timeline) -> str:
    """WebVTT captions: one cue per sentence, with its printed text and exact times.

    Cue identifiers are ``<segment id>.<sentence number>``, matching the manifest's ids.
    """
    rate = timeline.sample_rate
    lines = ["WEBVTT", ""]
    counts: dict[str, int] = {}
    for sentence in timeline.sentences:
        counts[sentence.segment_id] = counts.get(sentence.segment_id, 0) + 1
        if sentence.end <= sentence.start or not sentence.printed.strip():
            continue  # a sentence with no sound or no text has nothing to caption
        lines += [
            f"{sentence.segment_id}.{counts[sentence.segment_id]}",
            f"{vtt_timestamp(sentence.start, rate)} --> {vtt_timestamp(sentence.end, rate)}",
            _cue_text(sentence.printed),
            "",
        ]
    return "\n".join(lines)


def write_vtt(timeline: Timeline, path: Path | str) -> None:
    write_text_atomic(path, vtt_text(timeline))


def track_manifest(
    plan: LocalePlan,
    timeline: Timeline,
    voice: ResolvedVoice,
    loudness: Loudness,
    files: Mapping[str, str],
    script_path: str,
    **build: Any,
) -> Manifest:
    """The manifest of one track (SCRIPT_FORMAT.md, "Outputs"). ``loudness`` must be
    measured on the encoded file; ``build`` gives the keys a build keeps for itself
    (:class:`~pipeline.manifest.Manifest`'s ``build_key``, ``outputs``, ``mastering``...)."""
    rate = timeline.sample_rate
    spec = voice.spec
    return Manifest(
        script=script_path,
        slug=plan.script.slug,
        title=plan.meta.title,
        locale=plan.locale,
        voice={
            "role": voice.role,
            "engine": spec.engine,
            "model": spec.model or spec.model_path or spec.dir,
            "fallback": voice.fallback,
        },
        sample_rate=rate,
        duration=_seconds(timeline.length, rate),
        loudness=loudness,
        chapters=tuple(
            {
                "title": chapter.title,
                "start": _seconds(chapter.start, rate),
                "end": _seconds(chapter.end, rate),
            }
            for chapter in timeline.chapters
        ),
        segments=tuple(_segment_entry(timed, rate) for timed in timeline.items),
        files=dict(files),
        **build,
    )


def manifest(
    plan: LocalePlan,
    timeline: Timeline,
    voice: ResolvedVoice,
    loudness: Loudness,
    files: Mapping[str, str],
    script_path: str,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """:func:`track_manifest` as a JSON-ready dict, with ``extra`` keys the format does not
    define (it may not replace a defined one)."""
    built = track_manifest(plan, timeline, voice, loudness, files, script_path)
    return replace(built, extra=dict(extra or {})).to_dict()


def write_manifest(
    path: Path | str,
    *,
    plan: LocalePlan,
    timeline: Timeline,
    voice: ResolvedVoice,
    loudness: Loudness,
    files: Mapping[str, str],
    script_path: str,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build the manifest (see :func:`manifest`), write it to ``path``, and return it."""
    data = manifest(plan, timeline, voice, loudness, files, script_path, extra)
    write_text_atomic(path, manifest_json(data))
    return data


# --------------------------------------------------------------------------- internals


def _seconds(samples: int, rate: int) -> float:
    return round(samples / rate, 3)


def _segment_entry(timed: TimedItem, rate: int) -> dict[str, Any]:
    item = timed.item
    start, end = _seconds(timed.start, rate), _seconds(timed.end, rate)
    if isinstance(item, SpeechSegment):
        return {
            "kind": "speech",
            "id": item.id,
            "start": start,
            "end": end,
            "line": item.line,
            "text": item.printed,
            "spoken": item.spoken,
        }
    if isinstance(item, Bell):
        return {"kind": "bell", "start": start, "end": end, "line": item.line}
    assert isinstance(item, Silence)
    entry: dict[str, Any] = {"kind": "silence", "source": item.source, "start": start, "end": end}
    if item.line is not None:
        entry["line"] = item.line
    return entry


def _cue_text(text: str) -> str:
    """Printed text made safe for a cue payload: no markup characters, no blank lines."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return " ".join(text.split())
