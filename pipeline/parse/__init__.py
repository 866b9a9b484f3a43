"""Parse stage: the text of a script -> :class:`~pipeline.model.Script`.

:func:`parse_script` is pure: it takes the text, the path to show in messages and the
lexicon, and gives a Script or raises one :class:`~pipeline.errors.ScriptError` holding every
problem in the file, each at its 1-based line and column. :func:`load_script` adds the file
system: it reads the script and the lexicon files above it and checks the files its front
matter names.

The parser follows the file's own seams, one module each:

- :mod:`~pipeline.parse.frontmatter`: the ``key: value`` lines -> FrontMatter;
- :mod:`~pipeline.parse.blocks`: comments removed, lines grouped into sections and paragraphs;
- :mod:`~pipeline.parse.inline`: each paragraph's characters scanned into inline nodes
  (tags, say-substitutions, variants), with :mod:`~pipeline.parse.emphasis` pairing the
  emphasis markers;
- :mod:`~pipeline.parse.script` joins them into a Script, and :mod:`~pipeline.parse.load`
  reads one from the project.
"""

from __future__ import annotations

from pipeline.images import JPEG_SIGNATURE, PNG_SIGNATURE, image_type
from pipeline.parse.emphasis import MAX_EMPHASIS_DEPTH
from pipeline.parse.frontmatter import (
    BED_DUCK_RANGE,
    BED_LEVEL_RANGE,
    COVER_SUFFIXES,
    DEFAULTS,
    FRONT_MATTER_KEYS,
    LOUDNESS_RANGE,
    ROLE_NAME,
    SOUND_SUFFIXES,
    is_role_name,
)
from pipeline.parse.inline import BREAK_STRENGTHS, MAX_PAUSE, Where
from pipeline.parse.load import (
    ABOUT_SUFFIX,
    SCRIPT_OUTSIDE_ROOT,
    about_file,
    bed_file,
    bell_file,
    cover_problems,
    is_script_name,
    load_script,
    sound_seconds,
)
from pipeline.parse.runs import ESCAPABLE
from pipeline.parse.script import NO_LEXICON, parse_script

__all__ = [
    "ABOUT_SUFFIX",
    "BED_DUCK_RANGE",
    "BED_LEVEL_RANGE",
    "BREAK_STRENGTHS",
    "COVER_SUFFIXES",
    "DEFAULTS",
    "ESCAPABLE",
    "FRONT_MATTER_KEYS",
    "JPEG_SIGNATURE",
    "LOUDNESS_RANGE",
    "MAX_EMPHASIS_DEPTH",
    "MAX_PAUSE",
    "NO_LEXICON",
    "PNG_SIGNATURE",
    "ROLE_NAME",
    "SCRIPT_OUTSIDE_ROOT",
    "SOUND_SUFFIXES",
    "Where",
    "about_file",
    "bed_file",
    "bell_file",
    "cover_problems",
    "image_type",
    "is_role_name",
    "is_script_name",
    "load_script",
    "parse_script",
    "sound_seconds",
]
