"""Page text: a script's ``about`` Markdown -> safe HTML for its resource page.

CommonMark, rendered by markdown-it-py with raw HTML turned off (it shows as text) and
links limited to ``http:``, ``https:`` and ``mailto:`` (any other is left as text). Images
are not rendered either, since one from another site would be a request to another origin.
Headings are shifted so that the text's top level is an ``<h2>``, below the page's title.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from markdown_it import MarkdownIt

SAFE_SCHEMES = ("http", "https", "mailto")


def render_about(text: str) -> str:
    """``text`` (CommonMark) as HTML that is safe to put in a page as it is."""
    md = _markdown()
    tokens = md.parse(text)
    levels = [int(t.tag[1]) for t in tokens if t.type == "heading_open"]
    shift = 2 - min(levels) if levels else 0
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1]) + shift, 6)}"
    return md.renderer.render(tokens, md.options, {})


def safe_link(url: str) -> bool:
    """Whether a link target may be used: an absolute http(s) or mailto URL."""
    scheme = urlsplit(url.strip()).scheme.lower()
    return scheme in SAFE_SCHEMES and not any(ord(c) < 32 for c in url)


def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False})
    md.disable("image")
    md.validateLink = safe_link  # type: ignore[method-assign]
    return md
