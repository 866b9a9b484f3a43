"""Podcast feeds: the site's page data -> one RSS 2.0 feed per locale, and the JSON chapters.

Each feed is built with feedgen (RSS 2.0 with its iTunes extension) and carries, per track,
an enclosure with the MP3's exact length and type, ``itunes:duration``, a GUID derived from
the base URL, the script and the locale (so it is the same on every rebuild), and the
Podcasting 2.0 ``podcast:transcript`` (the WebVTT captions) and ``podcast:chapters`` (the
JSON chapters file). Dates come from the files, so an unchanged site gives the same bytes.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import quote

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from feedgen.util import xml_elem

from pipeline import __version__
from pipeline.site.context import LocaleTrack, ResourcePage, SiteContext

PODCAST_NS = "https://podcastindex.org/namespace/1.0"
CHAPTERS_TYPE = "application/json+chapters"
CHAPTERS_VERSION = "1.2.0"
ARTWORK = "artwork.png"  # square channel artwork podcast directories ask for
ARTWORK_SIZE = 1400
CATEGORY = ("Health & Fitness", "Mental Health")


def chapters_json(page: ResourcePage, track: LocaleTrack) -> str:
    """The Podcasting 2.0 JSON chapters of one track."""
    data = {
        "version": CHAPTERS_VERSION,
        "title": page.title,
        "chapters": [
            {"startTime": chapter.start, "endTime": chapter.end, "title": chapter.title}
            for chapter in track.chapters
        ],
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def feed_name(locale: str) -> str:
    return f"feed.{locale}.xml"


def track_guid(base_url: str, slug: str, locale: str) -> str:
    """The same for a track on every rebuild, whatever its audio: a name-based UUID."""
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{base_url}{slug}/{locale}')}"


def feed_xml(site: SiteContext, locale: str, language: str, published: dict[str, float]) -> bytes:
    """The RSS feed of every track in ``locale``. ``published`` maps each MP3's site path
    (``<slug>/<file>``) to the time it was written (seconds since the epoch)."""
    base = site.base_url
    if not base:
        raise ValueError("a feed needs the site's base URL")
    items = [
        (page, track) for page in site.resources for track in page.tracks if track.locale == locale
    ]
    feed = FeedGenerator()
    feed.load_extension("podcast")
    feed.register_extension("podcastindex", _PodcastNamespace, _PodcastNamespaceEntry)
    title = f"{site.title} – {language}"
    feed.title(title)
    feed.link(href=base + feed_name(locale), rel="self")
    feed.link(href=base, rel="alternate")
    feed.description(
        f"{site.title}: audio exercises in {language}, with captions, chapters and a "
        "printable audio script for each."
    )
    feed.language(locale)
    feed.generator("voicetrack", version=__version__)
    feed.image(url=base + ARTWORK, title=title, link=base)
    if site.publisher:
        feed.author({"name": site.publisher})
        feed.podcast.itunes_author(site.publisher)
    feed.podcast.itunes_image(base + ARTWORK)
    feed.podcast.itunes_category(CATEGORY[0], CATEGORY[1])
    feed.podcast.itunes_explicit("no")
    feed.podcast.itunes_type("episodic")
    feed.podcast.itunes_summary(feed.description())
    dates = []
    for page, track in items:
        folder = base + quote(page.slug) + "/"
        when = datetime.fromtimestamp(int(published[f"{page.slug}/{track.mp3}"]), tz=timezone.utc)
        dates.append(when)
        entry = feed.add_entry(order="append")
        entry.title(page.title)
        entry.guid(track_guid(base, page.slug, locale), permalink=False)
        entry.link(href=folder)
        entry.description(page.description or page.title)
        entry.enclosure(folder + quote(track.mp3), str(track.mp3_size), "audio/mpeg")
        entry.pubDate(when)
        entry.podcast.itunes_duration(round(track.duration))
        entry.podcast.itunes_explicit("no")
        entry.podcast.itunes_is_closed_captioned(True)
        if page.track:
            entry.podcast.itunes_episode(page.track)
        entry.podcast.itunes_episode_type("full")
        entry.podcastindex.transcript = (folder + quote(track.vtt), locale)
        entry.podcastindex.chapters = folder + quote(track.chapters_json)
    feed.lastBuildDate(max(dates) if dates else datetime(2000, 1, 1, tzinfo=timezone.utc))
    return feed.rss_str(pretty=True)


def artwork_png(title: str) -> bytes:
    """Square channel artwork: the site's title on a calm colour (made, not downloaded)."""
    from importlib import resources

    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (ARTWORK_SIZE, ARTWORK_SIZE), (21, 90, 138))
    draw = ImageDraw.Draw(image)
    font_file = resources.files("pipeline") / "fonts" / "SourceSansPro-Semibold.ttf"
    with resources.as_file(font_file) as font_path:
        font = ImageFont.truetype(str(font_path), 110)
        lines = _wrap(title, draw, font, ARTWORK_SIZE - 240)
        height = len(lines) * 140
        y = (ARTWORK_SIZE - height) // 2
        for line in lines:
            width = draw.textlength(line, font=font)
            draw.text(((ARTWORK_SIZE - width) / 2, y), line, font=font, fill=(251, 250, 247))
            y += 140
    out = BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _wrap(text: str, draw: Any, font: Any, width: int) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and draw.textlength(f"{lines[-1]} {word}", font=font) <= width:
            lines[-1] += f" {word}"
        else:
            lines.append(word)
    return lines[:6]


class _PodcastNamespace(BaseExtension):  # type: ignore[misc]
    """The Podcasting 2.0 namespace on the channel (its elements are on the items)."""

    def extend_ns(self) -> dict[str, str]:
        return {"podcast": PODCAST_NS}


class _PodcastNamespaceEntry(BaseEntryExtension):  # type: ignore[misc]
    """``podcast:transcript`` and ``podcast:chapters`` of one item."""

    def __init__(self) -> None:
        self.transcript: tuple[str, str] | None = None  # (url, language)
        self.chapters: str | None = None

    def extend_ns(self) -> dict[str, str]:
        return {"podcast": PODCAST_NS}

    def extend_rss(self, entry: Any) -> Any:
        if self.transcript:
            url, language = self.transcript
            element = xml_elem(f"{{{PODCAST_NS}}}transcript", entry)
            element.attrib.update(
                {"url": url, "type": "text/vtt", "language": language, "rel": "captions"}
            )
        if self.chapters:
            element = xml_elem(f"{{{PODCAST_NS}}}chapters", entry)
            element.attrib.update({"url": self.chapters, "type": CHAPTERS_TYPE})
        return entry


def published_times(site_dir: Path, site: SiteContext) -> dict[str, float]:
    """When each MP3 of the site was written (its modification time)."""
    return {
        f"{page.slug}/{track.mp3}": (site_dir / page.slug / track.mp3).stat().st_mtime
        for page in site.resources
        for track in page.tracks
    }
