"""``voicetrack serve``: the published site and the therapist area, as a Django project.

The public pages are rendered from the static site's own Jinja2 templates; the server adds
what needs an account: signing in, sending a track to a client as an expiring link by email,
and the list of links sent. Everything here needs the ``web`` extra; this module itself does
not import Django, so the CLI can say how to install it when it is missing.
"""

from __future__ import annotations

from pipeline.errors import PipelineError

WEB_INSTALL = "pip install 'voicetrack[web]'"


class WebUnavailable(PipelineError):
    """The ``web`` extra (Django and its companions) is not installed."""

    def __init__(self, missing: str):
        super().__init__(f"voicetrack serve needs the web extra ({missing} is not installed)")
        self.hint = f"install it with: {WEB_INSTALL}"


class ServeError(PipelineError):
    """The server cannot start as configured (a missing password variable, a busy port)."""

    exit_status = 2

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


def require_web() -> None:
    """Raise :class:`WebUnavailable` unless the web extra can be imported."""
    import importlib.util

    for module in ("django", "argon2", "axes", "csp", "django_ratelimit", "waitress", "whitenoise"):
        if importlib.util.find_spec(module) is None:
            raise WebUnavailable(module)
