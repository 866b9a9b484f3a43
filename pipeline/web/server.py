"""Starting ``voicetrack serve``: settings, database migrations, the privacy sweep and the
waitress server.

``prepare(root)`` makes the instance folder, configures Django for the project and applies
the committed migrations; every command that touches the database (``serve``, ``users``)
starts with it. ``serve`` then sweeps expired clients' addresses, starts a thread that
sweeps again every day, and runs waitress, a production WSGI server, until interrupted.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from pipeline.settings import load_settings
from pipeline.web import ServeError, require_web

log = logging.getLogger(__name__)

SWEEP_INTERVAL = 24 * 60 * 60.0
SETTINGS_MODULE = "pipeline.web.settings"


def prepare(root: Path) -> None:
    """Configure Django for the project at ``root`` and bring its database up to date."""
    require_web()
    project = load_settings(root)  # invalid settings are reported before anything starts
    email = project.email
    if email is not None and email.password_env and email.password_env not in os.environ:
        raise ServeError(
            f"[email] password_env names {email.password_env}, which is not set",
            hint=f"export {email.password_env}=... before starting voicetrack",
        )
    os.environ["VOICETRACK_ROOT"] = str(root.resolve())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS_MODULE)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)


def sweep() -> int:
    from django.db import connection

    from pipeline.web.shares.services import sweep_addresses

    try:
        return sweep_addresses()
    finally:
        connection.close()


def _sweep_daily(stop: threading.Event, interval: float) -> None:
    while not stop.wait(interval):
        try:
            sweep()
        except Exception:  # a failed sweep is retried the next day; the server goes on
            log.exception("privacy sweep failed")


def serve(
    root: Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    trusted_proxy: str | None = None,
    threads: int = 8,
    announce: Callable[[str], None] = print,
) -> None:
    """Serve ``root``'s published site and therapist area until interrupted."""
    site = root / "out" / "site"
    if not (site / "index.html").is_file():
        raise ServeError(
            f"there is no published site in {site}", hint="run voicetrack publish first"
        )
    if host not in ("127.0.0.1", "localhost", "::1", "0.0.0.0", "::"):
        os.environ["VOICETRACK_HOSTS"] = host
    prepare(root)
    sweep()
    stop = threading.Event()
    threading.Thread(
        target=_sweep_daily, args=(stop, SWEEP_INTERVAL), name="privacy-sweep", daemon=True
    ).start()

    from waitress import create_server

    from pipeline.web.wsgi import application

    options: dict[str, object] = {"threads": threads, "ident": "voicetrack"}
    if trusted_proxy:
        options.update(
            trusted_proxy=trusted_proxy,
            trusted_proxy_headers={"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"},
            clear_untrusted_proxy_headers=True,
        )
    try:
        server = create_server(application, host=host, port=port, **options)
    except OSError as error:
        stop.set()
        raise ServeError(
            f"cannot listen on {host}:{port}: {error.strerror or error}",
            hint="choose another port with --port",
        ) from None
    shown = f"[{host}]" if ":" in host else host
    announce(f"Serving {root} on http://{shown}:{server.effective_port}/ (Ctrl-C stops)")
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.close()
