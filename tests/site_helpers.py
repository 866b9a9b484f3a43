"""A small published project for the site's tests: two short scripts built on the fake engine
(test tones), so that pages, feeds and the browser tests have real files in seconds."""

from __future__ import annotations

from pathlib import Path

from pipeline.build import BuildOptions, build
from pipeline.check import find_scripts

CALM = """\
---
title: Calm Breathing
collection: Test Collection
track: 1
description: A short practice for slowing the breath.
voice: tones
pause: 1s
lead_in: 0.5s
tail: 1s
techniques: [soothing rhythm breathing, compassion-focused therapy]
---

Welcome to this short practice. [pause 2s]
Settle into your {en-GB: favourite | en-US: favorite} chair.

# Breathing

Breathe in slowly. Breathe out gently. [pause 3s]

[pause 30s]

# Closing

When you are ready, open your eyes. Notice the {en-GB: colour | en-US: color} of the light.
"""

SCAN = """\
---
title: Short Body Scan
collection: Test Collection
track: 2
voice: tones
lead_in: 0.5s
tail: 1s
techniques: [body scan]
---

# Feet

Notice your feet. [pause 2s]

# Head

Notice your head.
"""

ABOUT = """\
## Introduction & theoretical background

A *short* practice. Read [the guide](https://example.org/guide) or write to
<mailto:team@example.org>.

<script>alert("raw html")</script>

[a trap](javascript:alert(1))

## Therapist guidance

- Go slowly.
- Stop at any time.
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

SETTINGS = """\
[site]
title = "Test Exercises"
publisher = "Test Press"
"""


def make_project(root: Path) -> Path:
    """Write the project's files into ``root`` and build every track; returns ``root``."""
    (root / "scripts_src").mkdir(parents=True)
    (root / "voices").mkdir()
    (root / "scripts_src" / "calm.md").write_text(CALM, encoding="utf-8")
    (root / "scripts_src" / "calm.about.md").write_text(ABOUT, encoding="utf-8")
    (root / "scripts_src" / "scan.md").write_text(SCAN, encoding="utf-8")
    (root / "voices" / "tones.toml").write_text(TONES, encoding="utf-8")
    (root / "voicetrack.toml").write_text(SETTINGS, encoding="utf-8")
    build(find_scripts([root / "scripts_src"]), BuildOptions(root=root, out_dir=root / "out"))
    return root
