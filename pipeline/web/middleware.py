"""Response rules that Django's own security middleware does not cover."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers


class SecureCookiesOverHttps:
    """Mark every cookie Secure on a request that came over HTTPS (directly, or through a
    trusted reverse proxy), and keep a signed-in therapist's pages out of every cache.

    Django's ``SESSION_COOKIE_SECURE`` is all or nothing; this also covers a server reached
    both as https://… through its proxy and as http://127.0.0.1 for a local trial."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.is_secure():
            for cookie in response.cookies.values():
                cookie["secure"] = True
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            add_never_cache_headers(response)
        return response
