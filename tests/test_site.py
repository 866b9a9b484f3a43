"""voicetrack publish without a browser: the files of out/site/, stable bytes, media links,
page text safety, the feeds read back by feedparser, the preview server's Range support,
the CLI, and the templates shared with the server."""

from __future__ import annotations

import json
import os
import re
import shutil
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

import jinja2
import pytest
from click.testing import CliRunner

from pipeline.build import BuildOptions, build
from pipeline.check import find_scripts
from pipeline.cli import main
from pipeline.engines.fake import FakeEngine
from pipeline.site.context import format_seconds, language_name, load_site
from pipeline.site.feeds import PODCAST_NS
from pipeline.site.preview import serving
from pipeline.site.publish import publish_site
from pipeline.site.render import jinja_environment, render_resource
from pipeline.site.text import render_about
from tests.site_helpers import make_project

BASE = "https://example.org/audio/"
ITUNES_NS = "http://www.itunes.com/dtds/podcast-1.0.dtd"


@pytest.fixture(scope="module")
def built_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("built") / "project")


@pytest.fixture
def project(built_project: Path, tmp_path: Path) -> Path:
    """A copy of the built project, not yet published (copies keep the files' times, so
    its tracks are up to date)."""
    return Path(shutil.copytree(built_project, tmp_path / "project"))


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {
        p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_the_site_has_every_file(site_project: Path) -> None:
    site = site_project / "out" / "site"
    names = {p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file()}
    for slug in ("calm", "scan"):
        assert f"{slug}/index.html" in names
        for locale in ("en-GB", "en-US"):
            for suffix in ("mp3", "pdf", "vtt", "chapters.json"):
                assert f"{slug}/{slug}.{locale}.{suffix}" in names
    assert {"index.html", "static/site.css", "static/resource.js"} <= names
    assert {"feed.en-GB.xml", "feed.en-US.xml", "artwork.png"} <= names


def test_media_are_hard_links_or_copies_of_the_build(site_project: Path) -> None:
    source = site_project / "out" / "calm" / "calm.en-GB.mp3"
    published = site_project / "out" / "site" / "calm" / "calm.en-GB.mp3"
    assert published.read_bytes() == source.read_bytes()
    assert os.path.samefile(source, published)  # tmp_path is one file system: a hard link


def test_publishing_again_changes_no_byte(project: Path) -> None:
    publish_site(project, project / "out", base_url=BASE)
    before = snapshot(project / "out" / "site")
    result = publish_site(project, project / "out", base_url=BASE)
    assert result.written == [] and result.removed == []
    assert snapshot(project / "out" / "site") == before


def test_an_edited_page_text_rewrites_that_page_only(project: Path) -> None:
    publish_site(project, project / "out")
    about = project / "scripts_src" / "calm.about.md"
    about.write_text(about.read_text(encoding="utf-8") + "\nOne more line.\n", encoding="utf-8")
    result = publish_site(project, project / "out")
    assert result.written == ["calm/index.html"]
    assert "One more line." in (project / "out/site/calm/index.html").read_text(encoding="utf-8")


def test_a_copy_is_made_where_links_are_refused(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object) -> None:
        raise OSError("links not supported here")

    monkeypatch.setattr(os, "link", refuse)
    publish_site(project, project / "out")
    source = project / "out" / "scan" / "scan.en-US.mp3"
    published = project / "out" / "site" / "scan" / "scan.en-US.mp3"
    assert not os.path.samefile(source, published)
    assert published.read_bytes() == source.read_bytes()
    assert publish_site(project, project / "out").written == []  # the copy is kept


def test_files_no_longer_published_are_removed(project: Path) -> None:
    publish_site(project, project / "out", base_url=BASE)
    (project / "scripts_src" / "scan.md").unlink()
    result = publish_site(project, project / "out")
    assert "scan/index.html" in result.removed and "feed.en-GB.xml" in result.removed
    assert not (project / "out" / "site" / "scan").exists()


def test_the_page_text_shows_raw_html_and_unsafe_links_as_text() -> None:
    html = render_about(
        '<script>alert(1)</script>\n\n<img src="https://tracker.example/x.png">\n\n'
        "[trap](javascript:alert(1)) [data](data:text/html,hi) [ok](https://example.org/) "
        "![pic](https://example.org/pic.png) <mailto:a@example.org>\n"
    )
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;" in html
    assert "javascript:" not in html.replace("[trap](javascript:alert(1))", "")
    assert 'href="javascript' not in html and 'href="data' not in html
    assert '<a href="https://example.org/">ok</a>' in html
    assert '<a href="mailto:a@example.org">' in html


def test_page_text_headings_start_below_the_title() -> None:
    assert render_about("# Background\n\n## Detail\n").split("\n")[:2] == [
        "<h2>Background</h2>",
        "<h3>Detail</h3>",
    ]


def test_the_resource_page_holds_its_page_text_safely(site_project: Path) -> None:
    page = (site_project / "out/site/calm/index.html").read_text(encoding="utf-8")
    assert "<h2>Introduction &amp; theoretical background</h2>" in page
    assert '<a href="https://example.org/guide">the guide</a>' in page
    assert "<script>alert" not in page and 'href="javascript:' not in page
    assert page.count("<script") == 1  # the page's own module, from the site
    assert '<script type="module" src="../static/resource.js"></script>' in page


def test_the_transcript_shows_pauses(site_project: Path) -> None:
    page = (site_project / "out/site/calm/index.html").read_text(encoding="utf-8")
    assert '<span class="pause">pause · 2 s</span>' in page
    assert '<span class="pause">pause · 30 s</span>' in page
    assert page.count('data-cue="S1-01.2"') == 2  # once per locale
    assert "favourite chair" in page and "favorite chair" in page


def test_wording() -> None:
    assert language_name("en-GB") == "English (GB)"
    assert language_name("en-US") == "English (US)"
    assert [format_seconds(s) for s in (30, 1.5, 2, 60, 90, 600)] == [
        "30 s",
        "1.5 s",
        "2 s",
        "1 min",
        "1 min 30 s",
        "10 min",
    ]


def test_chapters_json_is_podcasting_2_0(site_project: Path) -> None:
    data = json.loads((site_project / "out/site/calm/calm.en-GB.chapters.json").read_bytes())
    manifest = json.loads((site_project / "out/calm/calm.en-GB.json").read_bytes())
    assert data["version"] == "1.2.0"
    assert [(c["title"], c["startTime"]) for c in data["chapters"]] == [
        (c["title"], c["start"]) for c in manifest["chapters"]
    ]


def test_feeds_parse_with_exact_enclosures_and_stable_guids(project: Path) -> None:
    feedparser = pytest.importorskip("feedparser", reason="the feed tests need feedparser")
    publish_site(project, project / "out", base_url=BASE)
    site = project / "out" / "site"
    guids = {}
    for locale in ("en-GB", "en-US"):
        feed = feedparser.parse((site / f"feed.{locale}.xml").read_bytes())
        assert not feed.bozo, feed.get("bozo_exception")
        assert feed.version == "rss20"
        assert feed.feed.language == locale
        assert feed.feed.image.href == BASE + "artwork.png"
        assert feed.feed.author == "Test Press"
        assert [e.title for e in feed.entries] == ["Calm Breathing", "Short Body Scan"]
        for entry, slug in zip(feed.entries, ("calm", "scan"), strict=True):
            (enclosure,) = entry.enclosures
            name = f"{slug}.{locale}.mp3"
            assert enclosure.href == f"{BASE}{slug}/{name}"
            assert enclosure.type == "audio/mpeg"
            assert int(enclosure.length) == (site / slug / name).stat().st_size
            manifest = json.loads((project / "out" / slug / f"{slug}.{locale}.json").read_bytes())
            assert entry.itunes_duration == str(round(manifest["duration"]))
            guids[(locale, slug)] = entry.id
        tree = ET.parse(site / f"feed.{locale}.xml")
        channel = tree.find("channel")
        assert channel is not None
        for tag in ("image", "category", "explicit", "author", "summary"):  # Apple's list
            assert channel.find(f"{{{ITUNES_NS}}}{tag}") is not None, tag
        assert channel.find(f"{{{ITUNES_NS}}}image").get("href") == BASE + "artwork.png"
        for item, slug in zip(tree.iter("item"), ("calm", "scan"), strict=True):
            transcript = item.find(f"{{{PODCAST_NS}}}transcript")
            chapters = item.find(f"{{{PODCAST_NS}}}chapters")
            assert transcript is not None and chapters is not None
            assert transcript.get("url") == f"{BASE}{slug}/{slug}.{locale}.vtt"
            assert transcript.get("type") == "text/vtt"
            assert chapters.get("url") == f"{BASE}{slug}/{slug}.{locale}.chapters.json"
            assert chapters.get("type") == "application/json+chapters"
    assert len(set(guids.values())) == 4

    # A rebuild from scratch (new files, new dates) keeps every GUID.
    shutil.rmtree(site)
    build(
        find_scripts([project / "scripts_src"]),
        BuildOptions(root=project, out_dir=project / "out", force=True),
    )
    publish_site(project, project / "out", base_url=BASE)
    for locale in ("en-GB", "en-US"):
        feed = feedparser.parse((site / f"feed.{locale}.xml").read_bytes())
        for entry, slug in zip(feed.entries, ("calm", "scan"), strict=True):
            assert entry.id == guids[(locale, slug)]


def test_no_feeds_without_a_base_url(project: Path) -> None:
    result = publish_site(project, project / "out")
    assert result.feeds == []
    assert not list((project / "out" / "site").glob("feed.*.xml"))


def test_the_base_url_comes_from_voicetrack_toml(project: Path) -> None:
    settings = project / "voicetrack.toml"
    settings.write_text(settings.read_text() + 'base_url = "https://example.net/x"\n')
    result = publish_site(project, project / "out")
    assert result.feeds == ["feed.en-GB.xml", "feed.en-US.xml"]
    feed = (project / "out/site/feed.en-GB.xml").read_text(encoding="utf-8")
    assert "https://example.net/x/calm/calm.en-GB.mp3" in feed


def test_preview_server_honours_range_requests(site_project: Path) -> None:
    site = site_project / "out" / "site"
    data = (site / "calm" / "calm.en-GB.mp3").read_bytes()
    with serving(site) as url:
        assert url.startswith("http://127.0.0.1:")
        request = urllib.request.Request(
            url + "calm/calm.en-GB.mp3", headers={"Range": "bytes=1000-1999"}
        )
        with urllib.request.urlopen(request) as response:
            assert response.status == 206
            assert response.headers["Content-Range"] == f"bytes 1000-1999/{len(data)}"
            assert response.read() == data[1000:2000]
        with urllib.request.urlopen(url + "calm/") as response:
            assert response.status == 200
            assert "default-src 'self'" in response.headers["Content-Security-Policy"]
        with urllib.request.urlopen(url + "calm/calm.en-GB.vtt") as response:
            assert response.headers["Content-Type"].startswith("text/vtt")


def test_load_site_leaves_out_unbuilt_scripts(project: Path) -> None:
    (project / "scripts_src" / "later.md").write_text(
        "---\ntitle: Later\nvoice: tones\n---\nNot built yet.\n", encoding="utf-8"
    )
    site = load_site(project, project / "out")
    assert [page.slug for page in site.resources] == ["calm", "scan"]
    assert site.title == "Test Exercises" and site.publisher == "Test Press"


def test_editing_techniques_renders_no_audio(project: Path) -> None:
    script = project / "scripts_src" / "scan.md"
    script.write_text(
        script.read_text().replace("[body scan]", "[body scan, mindfulness]"), encoding="utf-8"
    )
    FakeEngine.reset_calls()
    results = build(find_scripts([project / "scripts_src"]), BuildOptions(project, project / "out"))
    assert all(r.up_to_date for r in results) and FakeEngine.calls == 0
    publish_site(project, project / "out")
    assert "mindfulness" in (project / "out/site/scan/index.html").read_text(encoding="utf-8")


def test_a_server_template_extends_the_pages_and_fills_their_blocks(site_project: Path) -> None:
    loader = jinja2.DictLoader(
        {
            "account.html": (
                '{% extends "resource.html" %}'
                "{% block account_nav %}<a href='/signout'>Sign out</a>{% endblock %}"
                "{% block resource_actions %}<button>Send securely to my client</button>"
                "{% endblock %}"
            )
        }
    )
    env = jinja_environment(loader=loader)
    site = load_site(site_project, site_project / "out")
    page = site.resources[0]
    html = env.get_template("account.html").render(site=site, page=page, url_prefix="/")
    assert "Sign out" in html and "Send securely to my client" in html
    assert 'href="/static/site.css"' in html
    assert "<script>" not in render_resource(jinja_environment(), site, page)


def test_autoescape_is_on(site_project: Path) -> None:
    site = load_site(site_project, site_project / "out")
    page = site.resources[0]
    from dataclasses import replace

    evil = replace(page, title="<b>x</b>", description='"><script>alert(1)</script>')
    html = render_resource(jinja_environment(), site, evil)
    assert "<b>x</b>" not in html and "<script>alert" not in html


# --------------------------------------------------------------------------- CLI


def test_publish_command_builds_then_publishes(project: Path, monkeypatch) -> None:
    monkeypatch.chdir(project)
    shutil.rmtree(project / "out" / "scan")
    result = CliRunner().invoke(main, ["publish", "--quiet", "--base-url", BASE])
    assert result.exit_code == 0, result.output
    assert "2 exercise pages in out/site/" in result.output
    assert "feeds: out/site/feed.en-GB.xml, out/site/feed.en-US.xml" in result.output
    assert (project / "out" / "site" / "scan" / "scan.en-US.mp3").is_file()
    again = CliRunner().invoke(main, ["publish", "--quiet"])
    assert again.exit_code == 0, again.output
    assert "up to date" in again.output
    assert "no podcast feeds: give --base-url" in again.output


def test_publish_rejects_a_relative_base_url(project: Path, monkeypatch) -> None:
    monkeypatch.chdir(project)
    result = CliRunner().invoke(main, ["publish", "--base-url", "audio/"])
    assert result.exit_code == 2
    assert "base_url must be an absolute http(s) URL" in result.output


def test_publish_with_a_missing_about_file_writes_nothing(project: Path, monkeypatch) -> None:
    monkeypatch.chdir(project)
    publish_site(project, project / "out")
    before = snapshot(project / "out" / "site")
    script = project / "scripts_src" / "scan.md"
    text = script.read_text().replace("techniques:", "about: missing.md\ntechniques:")
    script.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["publish", "--quiet"])
    assert result.exit_code == 2
    assert "scripts_src/scan.md:8:8: about file missing.md not found" in result.output
    assert snapshot(project / "out" / "site") == before


def test_publish_reports_bad_settings_with_their_position(project: Path, monkeypatch) -> None:
    monkeypatch.chdir(project)
    (project / "voicetrack.toml").write_text('[site]\ntitle = "x"\nbase = "y"\n')
    result = CliRunner().invoke(main, ["publish", "--quiet"])
    assert result.exit_code == 2
    assert "voicetrack.toml:3:1: unknown key 'base' in [site]; did you mean 'base_url'?" in (
        result.output
    )


def test_the_index_has_a_card_per_exercise(site_project: Path) -> None:
    index = (site_project / "out/site/index.html").read_text(encoding="utf-8")
    assert "<h1>Test Exercises</h1>" in index and "<h2" in index and "Test Collection" in index
    assert index.index('href="calm/"') < index.index('href="scan/"')  # by track number
    assert "A short practice for slowing the breath." in index
    assert "soothing rhythm breathing, compassion-focused therapy" in index
    assert '<span lang="en-GB">English (GB)</span>, <span lang="en-US">English (US)</span>' in (
        index
    )
    calm = load_site(site_project, site_project / "out").resources[0]
    assert f'English (GB): <time datetime="PT{round(calm.tracks[0].duration)}S">' in index


def test_publish_preview_prints_its_url(project: Path, monkeypatch) -> None:
    from pipeline.site import preview

    served = []
    serve_forever = preview.PreviewServer.serve_forever

    def serve_until_interrupted(self: preview.PreviewServer) -> None:
        """Serve in a thread, fetch a page as a browser would, then press Ctrl-C."""
        import threading

        threading.Thread(target=serve_forever, args=(self,), daemon=True).start()
        with urllib.request.urlopen(self.url + "calm/", timeout=30) as response:
            served.append(response.status)
        raise KeyboardInterrupt

    monkeypatch.chdir(project)
    monkeypatch.setattr(preview.PreviewServer, "serve_forever", serve_until_interrupted)
    result = CliRunner().invoke(main, ["publish", "--quiet", "--preview", "--port", "0"])
    assert result.exit_code == 0, result.output
    assert re.search(
        r"previewing out/site/ at http://127\.0\.0\.1:\d+/ \(Ctrl-C stops\)", result.output
    )
    assert served == [200]


def test_the_transcript_marks_a_bell_apart_from_the_pauses_beside_it(tmp_path: Path) -> None:
    from pipeline.parse import load_script
    from pipeline.plan import plan_locale
    from pipeline.site.context import transcript

    (tmp_path / "scripts_src").mkdir()
    script = tmp_path / "scripts_src" / "bells.md"
    script.write_text(
        "---\ntitle: Bells\nlocales: [en-GB]\n---\n\n"
        "Settle in. [bell 3s] [pause 2s] Breathe out.\n",
        encoding="utf-8",
    )
    plan = plan_locale(load_script(script, tmp_path), "en-GB")
    (section,) = transcript(plan)
    labels = [getattr(item, "label", None) for item in section.paragraphs[0].items]
    assert labels == [None, "bell · 3 s", "pause · 2 s", None]
