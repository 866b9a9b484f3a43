"""The Jinja2 environment of the server's templates: the static site's own environment
(so both render one set of templates), with ``url()`` for Django's URL names."""

from __future__ import annotations

from typing import Any

import jinja2
from django.urls import reverse


def environment(**options: Any) -> jinja2.Environment:
    from pipeline.site.render import jinja_environment

    env = jinja_environment(**options)
    env.globals["url"] = url
    return env


def url(name: str, *args: object) -> str:
    return reverse(name, args=args or None)
