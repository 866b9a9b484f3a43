"""The preview server: ``out/site/`` on 127.0.0.1, as a static host would serve it.

A WSGI app (WhiteNoise, which honours HTTP Range requests, so a browser can seek in an MP3)
served by waitress. Without Range, as with Python's ``http.server``, a browser cannot seek.
Files are looked up on every request, so a page published again shows on reload.
``voicetrack serve`` may mount :func:`site_app` for the same files.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pipeline.site.render import CONTENT_SECURITY_POLICY

#: Types a static host should send that Python's table may not know.
MEDIA_TYPES = {".vtt": "text/vtt", ".mp3": "audio/mpeg", ".xml": "application/rss+xml"}

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def site_app(site_dir: Path) -> WSGIApp:
    """A WSGI app serving the files of ``site_dir`` (``index.html`` for a folder), with
    Range support, the site's Content-Security-Policy and no caching (a preview changes)."""
    from whitenoise import WhiteNoise

    def add_headers(headers: Any, path: str, url: str) -> None:
        headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "no-referrer"
        headers["Cache-Control"] = "no-cache"

    return WhiteNoise(  # type: ignore[no-any-return]
        _not_found,
        root=str(site_dir),
        autorefresh=True,
        index_file=True,
        max_age=0,
        allow_all_origins=False,
        mimetypes=MEDIA_TYPES,
        add_headers_function=add_headers,
    )


def _not_found(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    body = b"Not found\n"
    start_response(
        "404 Not Found",
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
    )
    return [body]


class PreviewServer:
    """``site_app`` on ``host:port`` (port 0: any free port), run until :meth:`close`."""

    def __init__(self, site_dir: Path, host: str = "127.0.0.1", port: int = 0):
        from waitress.server import create_server

        self._server = create_server(
            site_app(site_dir), host=host, port=port, threads=4, ident="voicetrack"
        )
        self._closing = False

    @property
    def url(self) -> str:
        host, port = self._server.socket.getsockname()[:2]
        return f"http://{host}:{port}/"

    def serve_forever(self) -> None:
        try:
            self._server.run()
        except (OSError, ValueError):
            # Closing from another thread closes the sockets under the polling loop.
            if not self._closing:
                raise

    def close(self) -> None:
        """Finish the requests in progress, then stop listening."""
        self._closing = True
        self._server.task_dispatcher.shutdown()
        self._server.close()


@contextmanager
def serving(site_dir: Path, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``site_dir`` in a background thread for the duration of the block; yields
    the URL of its root."""
    server = PreviewServer(site_dir, host, port)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.url
    finally:
        server.close()
        thread.join(timeout=5)
