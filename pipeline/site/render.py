"""Templates: page data -> HTML, through one Jinja2 environment.

:func:`jinja_environment` is used as it is by the static publisher and as the
``environment`` callable of Django's Jinja2 backend (``voicetrack serve``), so both render
the same templates. Autoescaping is always on. Templates get ``url_prefix``, the way from
the page to the site's root ("" for the index, "../" for a resource page, "/" on a server),
for links to the static files and between pages.
"""

from __future__ import annotations

from typing import Any

import jinja2

from pipeline.site.context import ResourcePage, SiteContext, format_clock

#: The site's own stylesheet and scripts, copied to ``static/`` beside the pages.
STATIC_PACKAGE = "pipeline.site"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "media-src 'self'; font-src 'self'; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'"
)


def jinja_environment(**options: Any) -> jinja2.Environment:
    """The environment the site's templates render in. ``options`` are Jinja2's; a
    ``loader`` given (Django passes its template folders) is searched before the site's own
    templates, so a server's templates can extend ``base.html`` and ``resource.html``."""
    own = jinja2.PackageLoader(STATIC_PACKAGE, "templates")
    given = options.pop("loader", None)
    options["autoescape"] = True
    options.setdefault("undefined", jinja2.StrictUndefined)
    options.setdefault("trim_blocks", True)
    options.setdefault("lstrip_blocks", True)
    options.setdefault("keep_trailing_newline", True)
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader([*([given] if given else []), own]), **options
    )
    env.filters["clock"] = format_clock
    env.globals["content_security_policy"] = CONTENT_SECURITY_POLICY
    return env


def render_index(
    env: jinja2.Environment, site: SiteContext, url_prefix: str = "", **extra: Any
) -> str:
    """The collection index (``index.html`` at the site's root)."""
    return env.get_template("index.html").render(site=site, url_prefix=url_prefix, **extra)


def render_resource(
    env: jinja2.Environment,
    site: SiteContext,
    page: ResourcePage,
    url_prefix: str = "../",
    **extra: Any,
) -> str:
    """The resource page of one script (``<slug>/index.html``); its media files are named
    relative to the page, so the page sits in the folder that holds them."""
    return env.get_template("resource.html").render(
        site=site, page=page, url_prefix=url_prefix, **extra
    )
