"""What the server offers: the published site's resources, read as the static publisher
reads them (``pipeline.site.context.load_site``), and the MP3 file of each track.

A track's file is looked up by the slug and locale of a resource the site lists, never by
joining a path from the request, so no URL can reach outside ``out/site/``.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from pipeline.errors import ScriptError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Offer:
    """One locale of a resource, as the send form and a share need it."""

    locale: str
    language: str  # "English (GB)"
    mp3: str  # the file name inside out/site/<slug>/


@dataclass(frozen=True)
class Resource:
    slug: str
    title: str
    tracks: tuple[Offer, ...]
    page: Any  # the site's ResourcePage, for the templates

    def track(self, locale: str) -> Offer | None:
        return next((t for t in self.tracks if t.locale == locale), None)


_cache_lock = threading.Lock()
_cache: dict[str, Any] = {}


def site() -> Any:
    """The site's page data (``SiteContext``), read again only when a script, a page text,
    a manifest or the settings have changed since the last request."""
    return _loaded()[0]


def resources() -> list[Resource]:
    return _loaded()[1]


def _loaded() -> tuple[Any, list[Resource]]:
    from pipeline.site.context import load_site

    root: Path = settings.ROOT
    stamp = _inputs_stamp(root)
    with _cache_lock:
        if _cache.get("stamp") != stamp:
            try:
                context = load_site(root, root / "out")
            except ScriptError as error:
                if "loaded" not in _cache:
                    raise
                # A script saved half-edited while the server runs: keep serving the site
                # as it was until the script is valid again.
                log.warning("keeping the site as it was: %s", error)
            else:
                _cache["loaded"] = (context, [_resource(page) for page in context.resources])
            _cache["stamp"] = stamp
        return _cache["loaded"]


def _inputs_stamp(root: Path) -> tuple[tuple[str, int, int], ...]:
    files = [root / "voicetrack.toml", *(root / "scripts_src").glob("*")]
    files += (root / "out").glob("*/*.json")
    stamp = []
    for path in files:
        try:
            info = path.stat()
        except OSError:
            continue
        stamp.append((str(path), info.st_mtime_ns, info.st_size))
    return tuple(sorted(stamp))


def resource(slug: str) -> Resource | None:
    return next((r for r in resources() if r.slug == slug), None)


def track_file(slug: str, locale: str) -> Path | None:
    """The published MP3 of a resource's locale, if the site lists it and it exists."""
    found = resource(slug)
    offer = found.track(locale) if found else None
    if offer is None:
        return None
    folder: Path = settings.SITE_DIR
    path = (folder / found.slug / offer.mp3).resolve()  # type: ignore[union-attr]
    if not path.is_relative_to(folder.resolve()) or not path.is_file():
        return None
    return path


def _resource(page: Any) -> Resource:
    offers = tuple(Offer(t.locale, t.language, t.mp3) for t in page.tracks)
    return Resource(slug=page.slug, title=page.title, tracks=offers, page=page)
