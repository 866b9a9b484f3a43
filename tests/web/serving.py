"""What voicetrack serve's tests share: the test project (one script on the fake engine,
whose title holds markup, to show it is escaped everywhere) and a free port. No side
effects on import; the fixtures are in conftest.py."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

CLIENT_EMAIL = "client@example.org"
PASSWORD = "a long enough passphrase"
LINK = re.compile(r"http://testserver/s/([A-Za-z0-9_-]+)/")
SLUG = "calm-place"
TITLE = "A Calm <script>alert('x')</script> Place"
SCRIPT = f"""\
---
title: {TITLE}
collection: Test Collection
track: 1
description: A short exercise for the tests.
voice: tones
---

Settle into a comfortable position. [pause 1s]

# Breathing

Breathe in slowly.
"""
TONES = """\
description = "test tones"

[en-GB]
engine = "fake"
model = "gb"

[en-US]
engine = "fake"
model = "us"
"""


def make_project(root: Path) -> Path:
    """Write, build and publish the test project in ``root``."""
    from pipeline.build import BuildOptions, build
    from pipeline.site.publish import publish_site

    (root / "scripts_src").mkdir(parents=True, exist_ok=True)
    (root / "voices").mkdir(exist_ok=True)
    (root / "scripts_src" / f"{SLUG}.md").write_text(SCRIPT, encoding="utf-8")
    (root / "voices" / "tones.toml").write_text(TONES, encoding="utf-8")
    scripts = sorted((root / "scripts_src").glob("*.md"))
    build(scripts, BuildOptions(root=root, out_dir=root / "out"))
    publish_site(root, root / "out")
    return root


def free_port() -> int:
    """A port nothing listens on now (servers here cannot be given port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def send(client: Any, capture: Any, **fields: str) -> tuple[Any, str | None]:
    """POST the send form (on-commit callbacks run); returns the response and the token
    from the email, if one was sent."""
    data = {
        "client_email": CLIENT_EMAIL,
        "locale": "en-GB",
        "consent": "on",
        "days": "7",
        "downloads": "3",
        **fields,
    }
    from django.core import mail

    sent_before = len(mail.outbox)
    with capture(execute=True):
        response = client.post(f"/{SLUG}/send/", data)
    token = None
    if len(mail.outbox) > sent_before:
        found = LINK.search(mail.outbox[-1].body)
        token = found.group(1) if found else None
    return response, token
