"""The public pages, rendered from the static site's templates with the same context the
publisher gives them; the server's templates extend them and fill the account blocks."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from pipeline.web import catalogue


def index(request: HttpRequest) -> HttpResponse:
    return render(request, "web/index.html", {"site": catalogue.site()})


def resource(request: HttpRequest, slug: str) -> HttpResponse:
    found = catalogue.resource(slug)
    if found is None:
        return not_found(request)
    return render(request, "web/resource.html", {"site": catalogue.site(), "page": found.page})


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "web/not_found.html", status=404)
