"""Emphasis: pairing ``*``, ``_`` and ``**`` markers into :class:`~pipeline.model.Emphasis`
nodes, and the last tidy of a run's nodes into :class:`~pipeline.model.Text`."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from pipeline.model import Emphasis, Inline, Text

MAX_EMPHASIS_DEPTH = 20  # emphasis inside emphasis; no reading needs more than a few


@dataclass
class Delimiter:
    """A run of emphasis markers, waiting for a partner."""

    char: str
    length: int  # of the run as written
    count: int  # markers of the run not yet paired
    can_open: bool
    can_close: bool
    at: int = 0  # index in the run, for errors


def resolve_emphasis(
    nodes: list[str | Delimiter | Inline],
) -> tuple[list[str | Inline], int | None]:
    """Pair emphasis markers: each closer takes the nearest opener of the same character;
    markers left between a pair, and markers without a partner, are literal text.

    Linear in the number of nodes, as CommonMark's delimiter algorithm is: nodes move into
    an Emphasis once, the openers a search passes over are taken into the pair it finds,
    and a search that finds nothing leaves a floor that later searches of its kind stop at.

    Also gives where emphasis first nests deeper than MAX_EMPHASIS_DEPTH (None if nowhere):
    later stages walk the nesting recursively.
    """
    out: list[str | Delimiter | Inline] = []
    openers: dict[str, list[int]] = {"*": [], "_": []}  # indexes into ``out``, in order
    floors: dict[tuple[str, bool, int], int] = {}  # closer kind -> openers below: no partner
    depths: dict[int, int] = {}  # id of an Emphasis made here -> its depth
    too_deep: list[int] = []
    for node in nodes:
        if isinstance(node, Delimiter):
            if node.can_close:
                _close(node, out, openers, floors, depths, too_deep)
            if node.can_open and node.count:
                openers[node.char].append(len(out))
        out.append(node)
    return _literal_delimiters(out), (too_deep[0] if too_deep else None)


def _close(
    closer: Delimiter,
    out: list[str | Delimiter | Inline],
    openers: dict[str, list[int]],
    floors: dict[tuple[str, bool, int], int],
    depths: dict[int, int],
    too_deep: list[int],
) -> None:
    """Pair ``closer`` with the openers before it while it has markers left."""
    stack = openers[closer.char]
    kind = (closer.char, closer.can_open, closer.length % 3)
    while closer.count:
        floor = floors.get(kind, 0)
        found = next(
            (
                k
                for k in range(len(stack) - 1, floor - 1, -1)
                if not _multiple_of_three(_opener_at(out, stack[k]), closer)
            ),
            None,
        )
        if found is None:
            floors[kind] = len(stack)
            return
        at = stack[found]
        opener = _opener_at(out, at)
        use = 2 if closer.char == "*" and opener.count >= 2 and closer.count >= 2 else 1
        inner = _literal_delimiters(out[at + 1 :])
        del out[at + 1 :]
        del stack[found + 1 :]
        for other in openers.values():  # openers inside the pair are literal now
            while other and other[-1] > at:
                other.pop()
        opener.count -= use
        closer.count -= use
        if not opener.count:
            stack.pop()
        for key in floors:  # a floor never stands above openers pushed after it
            floors[key] = min(floors[key], len(openers[key[0]]))
        emphasis = Emphasis("**" if use == 2 else closer.char, finish(inner))  # type: ignore[arg-type]
        depth = 1 + max((depths.get(id(n), 0) for n in inner if isinstance(n, Emphasis)), default=0)
        depths[id(emphasis)] = depth
        if depth > MAX_EMPHASIS_DEPTH and not too_deep:
            too_deep.append(opener.at)
        out.append(emphasis)


def _opener_at(out: list[str | Delimiter | Inline], index: int) -> Delimiter:
    opener = out[index]
    assert isinstance(opener, Delimiter)
    return opener


def _multiple_of_three(opener: Delimiter, closer: Delimiter) -> bool:
    """CommonMark's "rule of three": it keeps ``*a**b**c*`` from pairing ``*`` with ``**``."""
    both = (opener.can_open and opener.can_close) or (closer.can_open and closer.can_close)
    total = opener.length + closer.length
    return both and total % 3 == 0 and not (opener.length % 3 == 0 and closer.length % 3 == 0)


def punctuation(char: str) -> bool:
    return unicodedata.category(char)[0] in "PS"


def _literal_delimiters(nodes: list[str | Delimiter | Inline]) -> list[str | Inline]:
    return [n.char * n.count if isinstance(n, Delimiter) else n for n in nodes]


def finish(nodes: list[str | Inline]) -> tuple[Inline, ...]:
    """Merge adjacent characters into Text nodes, whitespace runs collapsed to one space."""
    out: list[Inline] = []
    buffer: list[str] = []
    for node in nodes:
        if isinstance(node, str):
            buffer.append(node)
            continue
        if buffer:
            out.append(Text(collapse("".join(buffer))))
            buffer = []
        out.append(node)
    if buffer:
        out.append(Text(collapse("".join(buffer))))
    return tuple(n for n in out if not (isinstance(n, Text) and not n.text))


_WHITESPACE = re.compile(r"[ \t\n\r\f\v]+")


def collapse(text: str) -> str:
    return _WHITESPACE.sub(" ", text)
