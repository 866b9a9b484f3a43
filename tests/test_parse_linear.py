"""Reading a script takes work in proportion to its length, whatever the script holds.

Work is counted, not timed: every line of voicetrack's own code that runs while a script is
parsed and planned is one step (``sys.settrace``). A parser that is quadratic or exponential
on some input shows up as a step count far above a fixed number of steps per character.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pipeline
from pipeline.check import find_scripts
from pipeline.errors import ScriptError
from pipeline.parse import parse_script
from pipeline.plan import plan_script

PACKAGE = str(Path(pipeline.__file__).parent)
#: Steps a character of script may take to parse and plan. The sample scripts take about 30
#: and dense markup (`*a* *a* …`) about 135; anything that grows faster than linear fails.
STEPS_PER_CHAR = 600
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class TooManySteps(Exception):
    pass


def steps(work: Callable[[], object], limit: int | None = None) -> int:
    """How many lines of the pipeline package run during ``work()``; past ``limit`` the work
    is stopped (so that an exponential case fails at once instead of running for ever)."""
    count = 0

    def in_frame(frame, event, arg):
        nonlocal count
        if event == "line":
            count += 1
            if limit is not None and count > limit:
                raise TooManySteps(count)
        return in_frame

    def on_call(frame, event, arg):
        return in_frame if frame.f_code.co_filename.startswith(PACKAGE) else None

    previous = sys.gettrace()
    sys.settrace(on_call)
    try:
        work()
    finally:
        sys.settrace(previous)
    return count


def read(body: str) -> None:
    """Parse and plan a script with ``body``; an invalid script is fine, a slow one is not."""
    with contextlib.suppress(ScriptError):
        plan_script(parse_script(f"---\ntitle: T\n---\n{body}\n", "scripts_src/t.md"))


def assert_linear(body: str) -> None:
    limit = STEPS_PER_CHAR * (len(body) + 20)
    try:
        steps(lambda: read(body), limit)
    except TooManySteps:
        pytest.fail(f"{len(body)} characters took more than {limit} steps: {body[:60]!r}…")


def test_the_sample_scripts_fit_the_bound():
    for path in find_scripts([Path(__file__).parents[1] / "scripts_src"]):
        text = path.read_text(encoding="utf-8")
        counted = steps(lambda text=text: plan_script(parse_script(text, "scripts_src/x.md")))
        assert counted <= STEPS_PER_CHAR * len(text), (path.name, counted)


@pytest.mark.parametrize("depth", [20, 40, 60])
@pytest.mark.parametrize("marker", ["*", "_", "**"])
def test_deeply_nested_emphasis(marker, depth):
    # "*x *x *x … y x* x* x*": every level an emphasis inside the one around it.
    body = f"{marker}x " * depth + "y" + f" x{marker}" * depth
    assert_linear(body)


@pytest.mark.parametrize(
    "unit",
    ["x* ", "*x ", "_a _b ", "*_", "[a](", "<a ", "<break ", "{en-GB: ", "` ", "a. [b](say: c) "],
)
def test_a_repeated_construct(unit):
    assert_linear(unit * 800)


MARKUP = st.sampled_from(
    [
        "*",
        "**",
        "_",
        "x",
        " ",
        ".",
        "[",
        "]",
        "(",
        ")",
        "(say: a)",
        "[pause]",
        "{en-GB: ",
        "|",
        "}",
        "<",
        "<break ",
        ">",
        "`",
        "~~",
        "&amp;",
        "\\",
        "\n",
        "\n\n",
        "# ",
        "<!--",
        "-->",
        "!",
    ]
)


@SETTINGS
@given(st.lists(MARKUP, max_size=300))
def test_any_mix_of_markup(pieces):
    assert_linear("".join(pieces))


@SETTINGS
@given(st.lists(MARKUP, min_size=1, max_size=8), st.integers(min_value=50, max_value=300))
def test_any_construct_repeated(unit, times):
    assert_linear("".join(unit) * times)


@SETTINGS
@given(st.lists(st.sampled_from(["*", "_", "**"]), min_size=1, max_size=60))
def test_any_nesting_of_emphasis(markers):
    opening = "".join(f"{m}w " for m in markers)
    closing = "".join(f" w{m}" for m in reversed(markers))
    assert_linear(opening + "core" + closing)
