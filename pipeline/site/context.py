"""Page data: the built manifests and the parsed scripts -> frozen context objects.

:func:`load_site` reads every script of a project and the manifests its build wrote, and
gives a :class:`SiteContext`: one :class:`ResourcePage` per script that has been built, each
with a :class:`LocaleTrack` per built locale (files, size, duration, chapters and the
transcript). The static publisher and ``voicetrack serve`` render the same templates from
these objects, so a test can build one by hand and render a page without either.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.check import find_scripts
from pipeline.model import Bell, LocalePlan, Script, Silence, SpeechSegment
from pipeline.parse import about_file, load_script
from pipeline.plan import plan_locale
from pipeline.settings import ProjectSettings, load_settings
from pipeline.site.text import render_about
from pipeline.timefmt import format_clock

DEFAULT_TITLE = "Audio exercises"

#: Names of the languages a locale tag may start with; the region follows in brackets.
LANGUAGE_NAMES = {"en": "English", "cy": "Welsh", "fr": "French", "de": "German", "es": "Spanish"}


@dataclass(frozen=True)
class ChapterEntry:
    title: str
    start: float  # seconds
    end: float


@dataclass(frozen=True)
class Sentence:
    """One caption cue of the transcript: ``cue`` is its WebVTT identifier."""

    cue: str
    text: str
    kind: str = "sentence"


@dataclass(frozen=True)
class PauseMark:
    """Scripted silence inside the text (explicit pauses, consecutive ones added up), or a
    bell that strikes there (its own mark, as in the audio script)."""

    seconds: float
    kind: str = "pause"
    bell: bool = False

    @property
    def label(self) -> str:
        return f"{'bell' if self.bell else 'pause'} · {format_seconds(self.seconds)}"


@dataclass(frozen=True)
class TranscriptParagraph:
    items: tuple[Sentence | PauseMark, ...]


@dataclass(frozen=True)
class TranscriptSection:
    heading: str | None  # None for an opening section without a heading
    heading_cues: tuple[str, ...]  # cues of a spoken heading (speak_headings: true)
    paragraphs: tuple[TranscriptParagraph, ...]


@dataclass(frozen=True)
class LocaleTrack:
    locale: str  # BCP 47, e.g. en-GB
    language: str  # "English (GB)"
    mp3: str  # file names, relative to the resource page
    pdf: str
    vtt: str
    chapters_json: str
    mp3_size: int  # bytes
    duration: float  # seconds
    chapters: tuple[ChapterEntry, ...]
    transcript: tuple[TranscriptSection, ...]

    @property
    def size_label(self) -> str:
        return format_size(self.mp3_size)

    @property
    def duration_label(self) -> str:
        return format_clock(self.duration)

    @property
    def duration_words(self) -> str:
        return format_duration_words(self.duration)


@dataclass(frozen=True)
class ResourcePage:
    slug: str
    title: str
    collection: str | None
    track: int | None
    description: str | None
    techniques: tuple[str, ...]
    about_html: str  # safe HTML of the page text ("" when there is none)
    tracks: tuple[LocaleTrack, ...]  # in the script's order of locales; the first is default
    author: str | None = None
    script_dir: str = ""  # folder of the built files, relative to out/

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(track.language for track in self.tracks)

    @property
    def default(self) -> LocaleTrack:
        return self.tracks[0]


@dataclass(frozen=True)
class SiteContext:
    title: str
    publisher: str | None
    resources: tuple[ResourcePage, ...]
    base_url: str | None = None

    def collections(self) -> tuple[tuple[str | None, tuple[ResourcePage, ...]], ...]:
        """The resources grouped by collection, in order of first appearance."""
        groups: dict[str | None, list[ResourcePage]] = {}
        for page in self.resources:
            groups.setdefault(page.collection, []).append(page)
        return tuple((name, tuple(pages)) for name, pages in groups.items())

    @property
    def locales(self) -> tuple[tuple[str, str], ...]:
        """(locale, language name) of every locale any resource is published in."""
        seen: dict[str, str] = {}
        for page in self.resources:
            for track in page.tracks:
                seen.setdefault(track.locale, track.language)
        return tuple(seen.items())

    def resource(self, slug: str) -> ResourcePage | None:
        return next((page for page in self.resources if page.slug == slug), None)


# --------------------------------------------------------------------------- building


def load_site(
    root: Path,
    out_dir: Path,
    paths: Sequence[Path] = (),
    settings: ProjectSettings | None = None,
) -> SiteContext:
    """Every built script of the project (``paths``, default ``scripts_src/``) as page data.

    A script with no manifest yet is left out; so is a locale of it that has not been built.
    Raises ScriptError when a script (or its page text) is invalid.
    """
    settings = settings or load_settings(root)
    scripts = [load_script(path, root) for path in find_scripts(paths or [root / "scripts_src"])]
    pages = []
    for script in scripts:
        manifests = {
            locale: manifest
            for locale in script.meta.locales
            if (manifest := read_manifest(out_dir, script.slug, locale)) is not None
        }
        if manifests:
            pages.append(resource_page(script, manifests, out_dir / script.slug, root))
    pages.sort(key=lambda p: (p.collection or "", p.track or math.inf, p.title.casefold()))
    collections = {page.collection for page in pages if page.collection}
    title = settings.site.title or (collections.pop() if len(collections) == 1 else DEFAULT_TITLE)
    return SiteContext(
        title=title,
        publisher=settings.site.publisher,
        resources=tuple(pages),
        base_url=settings.site.base_url,
    )


def read_manifest(out_dir: Path, slug: str, locale: str) -> dict[str, Any] | None:
    path = out_dir / slug / f"{slug}.{locale}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    files = data.get("files", {})
    if not all((path.parent / files.get(kind, "")).is_file() for kind in ("mp3", "vtt", "pdf")):
        return None
    return data if isinstance(data, dict) else None


def resource_page(
    script: Script, manifests: dict[str, dict[str, Any]], folder: Path, root: Path
) -> ResourcePage:
    """The page of one script from its manifests (locale -> manifest) and built files."""
    about = about_file(script, root)
    about_html = render_about(about.read_text(encoding="utf-8")) if about else ""
    tracks = tuple(
        locale_track(plan_locale(script, locale), manifest, folder)
        for locale, manifest in manifests.items()
    )
    meta = script.meta
    return ResourcePage(
        slug=script.slug,
        title=meta.title,
        collection=meta.collection,
        track=meta.track,
        description=meta.description,
        techniques=meta.techniques,
        about_html=about_html,
        tracks=tracks,
        author=meta.author,
        script_dir=script.slug,
    )


def locale_track(plan: LocalePlan, manifest: dict[str, Any], folder: Path) -> LocaleTrack:
    files = manifest["files"]
    stem = f"{plan.script.slug}.{plan.locale}"
    return LocaleTrack(
        locale=plan.locale,
        language=language_name(plan.locale),
        mp3=files["mp3"],
        pdf=files["pdf"],
        vtt=files["vtt"],
        chapters_json=f"{stem}.chapters.json",
        mp3_size=(folder / files["mp3"]).stat().st_size,
        duration=float(manifest["duration"]),
        chapters=tuple(
            ChapterEntry(str(c["title"]), float(c["start"]), float(c["end"]))
            for c in manifest["chapters"]
        ),
        transcript=transcript(plan),
    )


def transcript(plan: LocalePlan) -> tuple[TranscriptSection, ...]:
    """The printed text of one locale, section by section and paragraph by paragraph, each
    sentence named by its caption cue, with the explicit pauses where they were written."""
    paragraphs: dict[int, dict[int, list[Sentence | PauseMark]]] = {}
    heading_cues: dict[int, list[str]] = {}
    for item in plan.items:
        if isinstance(item, SpeechSegment):
            cues = [
                Sentence(f"{item.id}.{number}", sentence.printed)
                for number, sentence in enumerate(item.sentences, start=1)
                if sentence.printed.strip()
            ]
            if item.paragraph < 0:  # a spoken heading
                heading_cues.setdefault(item.section, []).extend(c.cue for c in cues)
                continue
            paragraphs.setdefault(item.section, {}).setdefault(item.paragraph, []).extend(cues)
        elif isinstance(item, Silence) and item.source == "pause" and item.section is not None:
            section = paragraphs.setdefault(item.section, {})
            items = section.setdefault(item.paragraph if item.paragraph is not None else -1, [])
            if items and isinstance(items[-1], PauseMark) and not items[-1].bell:
                items[-1] = PauseMark(items[-1].seconds + item.seconds)
            else:
                items.append(PauseMark(item.seconds))
        elif isinstance(item, Bell) and item.section is not None:
            section = paragraphs.setdefault(item.section, {})
            items = section.setdefault(item.paragraph if item.paragraph is not None else -1, [])
            items.append(PauseMark(item.seconds, bell=True))
    return tuple(
        TranscriptSection(
            heading=None if info.heading is None else info.title,
            heading_cues=tuple(heading_cues.get(info.number, ())),
            paragraphs=tuple(
                TranscriptParagraph(tuple(items))
                for _, items in sorted(paragraphs.get(info.number, {}).items())
                if items
            ),
        )
        for info in plan.sections
    )


# --------------------------------------------------------------------------- wording


def language_name(locale: str) -> str:
    """``English (GB)`` for ``en-GB``; the tag itself for a language without a name here."""
    language, _, region = locale.partition("-")
    name = LANGUAGE_NAMES.get(language.lower())
    if name is None:
        return locale
    return f"{name} ({region})" if region else name


def format_seconds(seconds: float) -> str:
    """A pause's length as a listener reads it: ``30 s``, ``1.5 s``, ``2 min``, ``1 min 30 s``."""
    if seconds < 10 and round(seconds, 1) != round(seconds):
        return f"{seconds:.1f} s"
    whole = round(seconds)
    minutes, rest = divmod(whole, 60)
    if not minutes:
        return f"{rest} s"
    return f"{minutes} min" + (f" {rest} s" if rest else "")


def format_duration_words(seconds: float) -> str:
    """``5 min 12 s``: a duration in words for a screen reader and a card."""
    whole = round(seconds)
    minutes, secs = divmod(whole, 60)
    if not minutes:
        return f"{secs} s"
    return f"{minutes} min {secs} s" if secs else f"{minutes} min"


def format_size(size: int) -> str:
    """``4.2 MB`` (decimal units, as file managers show them)."""
    if size < 1000:
        return f"{size} bytes"
    if size < 1_000_000:
        return f"{size / 1000:.0f} kB"
    return f"{size / 1_000_000:.1f} MB"
