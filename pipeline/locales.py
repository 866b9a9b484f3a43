"""BCP 47 locale tags as scripts and lexicons write them (``en-GB``, ``en-us``, ``pt-BR``)."""

from __future__ import annotations

import re

# language[-script][-region][-variant...]: the subset of BCP 47 that names a spoken locale
# (two- or three-letter ISO 639 languages; the rarely used longer forms are refused).
_TAG = re.compile(
    r"(?P<language>[A-Za-z]{2,3})"
    r"(?:-(?P<script>[A-Za-z]{4}))?"
    r"(?:-(?P<region>[A-Za-z]{2}|\d{3}))?"
    r"(?P<variants>(?:-(?:[A-Za-z\d]{5,8}|\d[A-Za-z\d]{3}))*)"
)


def canonical_locale(tag: str) -> str | None:
    """``tag`` in canonical case (``en-gb`` -> ``en-GB``), or None if it is not a locale tag."""
    match = _TAG.fullmatch(tag.strip())
    if not match:
        return None
    parts = [match["language"].lower()]
    if match["script"]:
        parts.append(match["script"].title())
    if match["region"]:
        parts.append(match["region"].upper())
    if match["variants"]:
        parts.extend(v.lower() for v in match["variants"].split("-")[1:])
    return "-".join(parts)


def language_of(locale: str) -> str:
    """The language subtag: ``en`` for ``en-GB``."""
    return locale.split("-", 1)[0].lower()
