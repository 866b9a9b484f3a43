"""The public pages, rendered from the static site's templates with the same page data the
publisher gives them; the server's templates extend them and fill the account blocks."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from pipeline.web import catalogue


def site_frame(request: HttpRequest) -> dict[str, Any]:
    """What the site's ``base.html`` needs on every page: the site, and links from the
    server's root."""
    return {"site": catalogue.site(), "url_prefix": "/"}


def index(request: HttpRequest) -> HttpResponse:
    return render(request, "web/index.html")


def resource(request: HttpRequest, slug: str) -> HttpResponse:
    found = catalogue.resource(slug)
    if found is None:
        return not_found(request)
    return render(request, "web/resource.html", {"page": found.page})


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "web/not_found.html", status=404)
