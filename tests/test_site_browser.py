"""The published site in a real browser: Debian's Chromium through Playwright, the site
served on 127.0.0.1 by the preview server (with HTTP Range, so the player can seek).

Controls are found by role and accessible name, as a screen reader finds them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.site.preview import serving

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


@pytest.fixture(scope="module")
def site_url(site_project: Path) -> Iterator[str]:
    with serving(site_project / "out" / "site") as url:
        yield url


def manifest(site_project: Path, slug: str, locale: str) -> dict[str, Any]:
    return json.loads((site_project / "out" / slug / f"{slug}.{locale}.json").read_bytes())


class Watched:
    """A page with its console errors and every request it made."""

    def __init__(self, page: Any):
        self.page = page
        self.errors: list[str] = []
        self.requests: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", lambda r: self.requests.append(r.url))


@pytest.fixture
def open_page(browser: Any) -> Iterator[Any]:
    """open_page(url, **context options) -> Watched; contexts are closed afterwards."""
    contexts = []

    def opener(url: str, without_site_script: bool = False, **options: Any) -> Watched:
        options.setdefault("locale", "en-GB")
        context = browser.new_context(**options)
        contexts.append(context)
        if without_site_script:
            # The page as it is without its script. (axe itself needs JavaScript, so this
            # stands in for a browser with JavaScript off.)
            context.route("**/static/resource.js", lambda route: route.abort())
        page = context.new_page()
        watched = Watched(page)
        page.goto(url)
        page.wait_for_load_state("load")
        return watched

    yield opener
    for context in contexts:
        context.close()


def enhanced(page: Any) -> None:
    """Wait until the page's script has run and the captions' cues are loaded."""
    wait(
        page,
        "document.documentElement.classList.contains('enhanced') && "
        "document.querySelector('audio').textTracks.length > 0 && "
        "document.querySelector('audio').textTracks[0].cues !== null && "
        "document.querySelector('audio').textTracks[0].cues.length > 0",
    )


def wait(page: Any, expression: str, **options: Any) -> None:
    """Wait until ``expression`` is true in the page. It is passed as a function, which
    Playwright calls directly: a bare expression would be eval'd, which the site's CSP forbids."""
    page.wait_for_function(f"() => ({expression})", **options)


def record_seeks(page: Any) -> None:
    """Keep where each seek of the player landed: what a test checks, however far the
    track has played on by the time it looks (a busy machine may poll late)."""
    page.evaluate(
        "() => { window.seeks = []; const audio = document.querySelector('audio'); "
        "audio.addEventListener('seeked', () => window.seeks.push(audio.currentTime)); }"
    )


def wait_for_seek_to(page: Any, seconds: float) -> None:
    """Wait until the player has seeked to within 0.25 s of ``seconds``."""
    wait(page, f"window.seeks.some((t) => Math.abs(t - {seconds}) < 0.25)")


def audio(page: Any, expression: str) -> Any:
    return page.evaluate(
        f"(() => {{ const audio = document.querySelector('audio'); return {expression}; }})()"
    )


def test_no_console_errors_and_no_request_to_another_origin(open_page, site_url: str) -> None:
    index = open_page(site_url)
    index.page.get_by_role("link", name="Calm Breathing").click()
    index.page.wait_for_url(site_url + "calm/")
    enhanced(index.page)
    index.page.get_by_role("link", name=re.compile("Closing")).first.click()
    wait(index.page, "!document.querySelector('audio').paused")
    index.page.wait_for_timeout(300)
    assert index.errors == []
    assert index.requests, "the page made no request at all"
    assert [url for url in index.requests if not url.startswith(site_url)] == []


def test_choosing_a_language_switches_everything(
    open_page, site_url: str, site_project: Path
) -> None:
    watched = open_page(site_url + "calm/")
    page = watched.page
    enhanced(page)
    choice = page.get_by_label("Choose your language")
    assert choice.input_value() == "en-GB"
    assert [o.strip() for o in choice.locator("option").all_inner_texts()] == [
        "English (GB)",
        "English (US)",
    ]

    def visible_state() -> dict[str, Any]:
        transcript = page.get_by_role("region", name="Transcript")
        chapters = page.get_by_role("region", name="Chapters")
        return {
            "src": audio(page, "audio.currentSrc"),
            "track": audio(page, "audio.querySelector('track').src"),
            "track_lang": audio(page, "audio.querySelector('track').srclang"),
            "transcript": transcript.inner_text(),
            "chapters": [
                float(link.get_attribute("data-start"))
                for link in chapters.get_by_role("link").all()
            ],
            "mp3": page.get_by_role("link", name=re.compile(r"^Audio track \(MP3\)")).get_attribute(
                "href"
            ),
            "pdf": page.get_by_role(
                "link", name=re.compile(r"^Audio script \(PDF\)")
            ).get_attribute("href"),
        }

    for locale, word in (("en-GB", "favourite"), ("en-US", "favorite")):
        if locale != "en-GB":
            choice.select_option(locale)
        wait(page, f"document.querySelector('audio').currentSrc.endsWith('calm.{locale}.mp3')")
        state = visible_state()
        assert state["src"] == f"{site_url}calm/calm.{locale}.mp3"
        assert state["track"] == f"{site_url}calm/calm.{locale}.vtt"
        assert state["track_lang"] == locale
        assert f"Settle into your {word} chair." in state["transcript"]
        other = "favorite" if word == "favourite" else "favourite"
        assert other not in state["transcript"]
        assert state["chapters"] == [
            c["start"] for c in manifest(site_project, "calm", locale)["chapters"]
        ]
        assert state["mp3"] == f"calm.{locale}.mp3"
        assert state["pdf"] == f"calm.{locale}.pdf"
    # The captions of the new language load too.
    wait(
        page,
        "(() => { const t = document.querySelector('audio').textTracks; "
        "const last = t[t.length - 1]; return last.language === 'en-US' && last.cues "
        "&& last.cues.length > 0; })()",
    )

    # The choice is remembered.
    page.reload()
    enhanced(page)
    assert page.get_by_label("Choose your language").input_value() == "en-US"
    assert audio(page, "audio.currentSrc").endswith("calm.en-US.mp3")


@pytest.mark.parametrize(
    ("browser_locale", "expected"),
    [("en-US", "en-US"), ("en-GB", "en-GB"), ("en-AU", "en-GB"), ("en-CA", "en-US")],
)
def test_the_first_choice_follows_the_browsers_english(
    open_page, site_url: str, browser_locale: str, expected: str
) -> None:
    page = open_page(site_url + "calm/", locale=browser_locale).page
    enhanced(page)
    assert page.get_by_label("Choose your language").input_value() == expected
    assert audio(page, "audio.currentSrc").endswith(f"calm.{expected}.mp3")


def test_a_chapter_seeks_and_is_highlighted(open_page, site_url: str, site_project: Path) -> None:
    page = open_page(site_url + "calm/").page
    enhanced(page)
    record_seeks(page)
    chapters = manifest(site_project, "calm", "en-GB")["chapters"]
    chapter_links = page.get_by_role("region", name="Chapters").get_by_role("link")
    for index in (2, 1):
        link = chapter_links.nth(index)
        assert chapters[index]["title"] in link.inner_text()
        link.click()
        wait_for_seek_to(page, chapters[index]["start"])
        wait(
            page,
            "(() => { const c = document.querySelectorAll("
            '\'[data-locale="en-GB"] .chapter-list a[aria-current="true"]\'); '
            f"return c.length === 1 && c[0].dataset.start === '{chapters[index]['start']}'; }})()",
        )
        audio(page, "audio.pause()")


def test_captions_load_every_cue_and_the_transcript_follows_playback(
    open_page, site_url: str, site_project: Path
) -> None:
    page = open_page(site_url + "calm/").page
    enhanced(page)
    record_seeks(page)
    vtt = (site_project / "out" / "site" / "calm" / "calm.en-GB.vtt").read_text(encoding="utf-8")
    cues_in_file = vtt.count(" --> ")
    assert cues_in_file > 3
    assert audio(page, "audio.textTracks[0].cues.length") == cues_in_file

    # Play from just before the last cue: the highlight moves to it as the track plays.
    last = audio(
        page,
        "(() => { const c = audio.textTracks[0].cues; "
        "return {id: c[c.length - 1].id, start: c[c.length - 1].startTime}; })()",
    )
    audio(page, f"(audio.currentTime = {max(last['start'] - 0.4, 0)}, audio.play())")
    wait(
        page,
        f"document.querySelector('.cue.current')?.dataset.cue === '{last['id']}'",
        timeout=10_000,
    )
    current = page.locator(".cue.current")
    assert current.count() == 1 and current.get_attribute("aria-current") == "true"
    audio(page, "audio.pause()")

    # Activating a sentence seeks to its cue.
    first = audio(
        page,
        "({id: audio.textTracks[0].cues[1].id, start: audio.textTracks[0].cues[1].startTime, "
        "text: audio.textTracks[0].cues[1].text})",
    )
    transcript = page.get_by_role("region", name="Transcript")
    sentence = transcript.get_by_role("button", name=first["text"], exact=True)
    assert sentence.get_attribute("data-cue") == first["id"]
    sentence.click()
    wait_for_seek_to(page, first["start"])
    wait(page, f"document.querySelector('.cue.current')?.dataset.cue === '{first['id']}'")


def test_everything_works_from_the_keyboard_with_a_visible_focus(
    open_page, site_url: str, site_project: Path
) -> None:
    page = open_page(site_url + "calm/").page
    enhanced(page)
    record_seeks(page)
    chapters = manifest(site_project, "calm", "en-GB")["chapters"]
    target = chapters[1]
    for _ in range(60):
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.dataset.start || ''")
        if focused and float(focused) == target["start"]:
            break
    else:
        pytest.fail("Tab never reached the second chapter")
    outline = page.evaluate(
        "(() => { const s = getComputedStyle(document.activeElement); "
        "return [s.outlineStyle, parseFloat(s.outlineWidth)]; })()"
    )
    assert outline[0] != "none" and outline[1] >= 2
    page.keyboard.press("Enter")
    wait_for_seek_to(page, target["start"])
    audio(page, "audio.pause()")

    # The language choice works from the keyboard too.
    page.get_by_label("Choose your language").focus()
    page.keyboard.press("ArrowDown")
    wait(page, "document.querySelector('audio').currentSrc.endsWith('en-US.mp3')")

    # Transcript sentences are buttons: Tab reaches them and Enter seeks.
    sentence = page.get_by_role("region", name="Transcript").get_by_role("button").nth(2)
    assert sentence.evaluate("e => e.closest('[data-locale]').dataset.locale") == "en-US"
    sentence.focus()
    cue = sentence.get_attribute("data-cue")
    page.keyboard.press("Enter")
    start = audio(
        page, f"audio.textTracks[audio.textTracks.length - 1].cues.getCueById('{cue}').startTime"
    )
    wait_for_seek_to(page, start)


def test_each_languages_text_is_marked_with_its_language(open_page, site_url: str) -> None:
    page = open_page(site_url + "calm/").page
    assert page.evaluate("document.documentElement.lang") == "en"
    groups = page.locator("[data-locale]")
    assert groups.count() == 6  # downloads, chapters and transcript, per locale
    for index in range(groups.count()):
        group = groups.nth(index)
        assert group.get_attribute("lang") == group.get_attribute("data-locale")
    assert page.locator('option[lang="en-US"]').inner_text() == "English (US)"


def test_motion_respects_reduced_motion(open_page, site_url: str) -> None:
    style = "getComputedStyle(document.querySelector('.cue')).transitionDuration"
    moving = open_page(site_url + "calm/").page
    enhanced(moving)
    assert moving.evaluate(style) != "0s"
    still = open_page(site_url + "calm/", reduced_motion="reduce").page
    enhanced(still)
    assert still.evaluate(style) == "0s"


@pytest.mark.parametrize("path", ["", "calm/", "scan/"])
def test_axe_finds_no_wcag_a_or_aa_violation(open_page, site_url: str, path: str) -> None:
    axe_module = pytest.importorskip(
        "axe_playwright_python.sync_playwright", reason="needs axe-playwright-python"
    )
    for javascript in (True, False):
        page = open_page(site_url + path, without_site_script=not javascript).page
        if javascript and path:
            enhanced(page)
        results = axe_module.Axe().run(
            page,
            options={
                "runOnly": {"type": "tag", "values": WCAG_TAGS},
                "resultTypes": ["violations"],
            },
        )
        assert results.violations_count == 0, results.generate_report()
        assert results.response["testEngine"]["name"] == "axe-core"


@pytest.mark.parametrize("path", ["", "calm/"])
@pytest.mark.parametrize("width", [320, 1440])
def test_no_horizontal_scroll(open_page, site_url: str, path: str, width: int) -> None:
    page = open_page(site_url + path, viewport={"width": width, "height": 800}).page
    if path:
        enhanced(page)
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0


def test_without_javascript_every_languages_links_work(
    open_page, site_url: str, site_project: Path
) -> None:
    watched = open_page(site_url + "calm/", java_script_enabled=False)
    page = watched.page
    assert not page.get_by_label("Choose your language").is_visible()
    assert page.locator("audio").get_attribute("src") == "calm.en-GB.mp3"
    site = site_project / "out" / "site" / "calm"
    for locale, language in (("en-GB", "English (GB)"), ("en-US", "English (US)")):
        for name, suffix, kind in (
            ("Audio track (MP3)", "mp3", "audio/mpeg"),
            ("Audio script (PDF)", "pdf", "application/pdf"),
        ):
            link = page.get_by_role("link", name=f"{name} in {language}", exact=True)
            assert link.is_visible()
            href = link.get_attribute("href")
            assert href == f"calm.{locale}.{suffix}"
            response = page.request.get(site_url + "calm/" + href)
            assert response.status == 200
            assert response.headers["content-type"].startswith(kind)
            assert response.body() == (site / href).read_bytes()
    # Chapters are links into the MP3 at their start (media fragments).
    first_us = page.locator('[data-locale="en-US"] .chapter-list a').nth(1)
    assert re.fullmatch(r"calm\.en-US\.mp3#t=\d+(\.\d+)?", first_us.get_attribute("href"))
    assert watched.errors == []
