"""The static site: built tracks -> ``out/site/``, ready for any static host as it is.

:func:`publish_site` renders the collection index and a resource page per built script,
puts each page's media beside it (hard-linked from ``out/<slug>/`` where the file system
allows, copied otherwise), writes the JSON chapters, the site's stylesheet and script, and,
when the base URL is known, a podcast feed per locale. A file whose content is unchanged is
not rewritten, so an unchanged site keeps its bytes and dates; files of the site that are
no longer published are removed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

from pipeline.atomic import atomic_path, write_bytes_atomic
from pipeline.settings import load_settings
from pipeline.site.context import SiteContext, load_site
from pipeline.site.feeds import (
    ARTWORK,
    artwork_png,
    chapters_json,
    feed_name,
    feed_xml,
    published_times,
)
from pipeline.site.render import jinja_environment, render_index, render_resource

SITE_FOLDER = "site"
STATIC_FOLDER = "static"


@dataclass
class PublishResult:
    site_dir: Path
    site: SiteContext
    written: list[str] = field(default_factory=list)  # paths relative to site_dir
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    feeds: list[str] = field(default_factory=list)


def publish_site(
    root: Path,
    out_dir: Path,
    base_url: str | None = None,
    paths: Sequence[Path] = (),
) -> PublishResult:
    """Write the site of every built script into ``out_dir/site``. ``base_url`` (else
    ``[site] base_url`` of voicetrack.toml) gives the feeds; without one there are none."""
    settings = load_settings(root)
    site = load_site(root, out_dir, paths, settings)
    if base_url:
        site = replace(site, base_url=base_url if base_url.endswith("/") else base_url + "/")
    site_dir = out_dir / SITE_FOLDER
    result = PublishResult(site_dir=site_dir, site=site)
    env = jinja_environment()
    wanted: set[str] = set()

    def put(relative: str, data: bytes) -> None:
        wanted.add(relative)
        target = site_dir / relative
        if target.is_file() and target.read_bytes() == data:
            result.unchanged.append(relative)
            return
        write_bytes_atomic(target, data)
        result.written.append(relative)

    def link(relative: str, source: Path) -> None:
        wanted.add(relative)
        if _same_file(source, site_dir / relative):
            result.unchanged.append(relative)
            return
        _link_or_copy(source, site_dir / relative)
        result.written.append(relative)

    for name, data in static_files():
        put(f"{STATIC_FOLDER}/{name}", data)
    put("index.html", render_index(env, site).encode("utf-8"))
    for page in site.resources:
        for track in page.tracks:
            for name in (track.mp3, track.vtt, track.pdf):
                link(f"{page.slug}/{name}", out_dir / page.script_dir / name)
            put(f"{page.slug}/{track.chapters_json}", chapters_json(page, track).encode("utf-8"))
        put(f"{page.slug}/index.html", render_resource(env, site, page).encode("utf-8"))
    if site.base_url and site.resources:
        put(ARTWORK, artwork_png(site.title))
        published = published_times(site_dir, site)
        for locale, language in site.locales:
            put(feed_name(locale), feed_xml(site, locale, language, published))
            result.feeds.append(feed_name(locale))
    result.removed = _remove_unwanted(site_dir, wanted)
    return result


def static_files() -> list[tuple[str, bytes]]:
    """The site's stylesheet and scripts, as shipped in the package."""
    folder = resources.files("pipeline.site") / STATIC_FOLDER
    return sorted(
        (entry.name, entry.read_bytes())
        for entry in folder.iterdir()
        if entry.is_file() and not entry.name.startswith(".")
    )


def _same_file(source: Path, target: Path) -> bool:
    """Whether ``target`` already holds ``source``: the same file (a hard link), or a copy
    of the same size and modification time (copies keep the source's time)."""
    try:
        if os.path.samefile(source, target):
            return True
        a, b = source.stat(), target.stat()
    except OSError:
        return False
    return a.st_size == b.st_size and a.st_mtime_ns == b.st_mtime_ns


def _link_or_copy(source: Path, target: Path) -> None:
    """Put ``source`` at ``target`` atomically: a hard link where the file system allows
    one, else a copy that keeps the source's modification time."""
    with atomic_path(target) as temp:
        temp.unlink()
        try:
            os.link(source, temp)
        except OSError:
            shutil.copy2(source, temp)


def _remove_unwanted(site_dir: Path, wanted: set[str]) -> list[str]:
    removed: list[str] = []
    if not site_dir.is_dir():
        return removed
    for path in sorted(site_dir.rglob("*"), reverse=True):
        relative = path.relative_to(site_dir).as_posix()
        if path.is_dir():
            if not any(path.iterdir()):
                path.rmdir()
        elif relative not in wanted:
            path.unlink()
            removed.append(relative)
    return sorted(removed)
