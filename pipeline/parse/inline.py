"""Inline text: one run (a paragraph, a heading or a variant branch) -> inline nodes.

Tags (``[pause …]``, ``<break/>``), say-substitutions, locale variants and emphasis markers
are recognised here; anything else that looks like markup is an error at its position.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pipeline.durations import parse_duration
from pipeline.locales import canonical_locale
from pipeline.model import BellTag, Inline, Pause, Say, Variant
from pipeline.parse.emphasis import (
    MAX_EMPHASIS_DEPTH,
    Delimiter,
    collapse,
    finish,
    punctuation,
    resolve_emphasis,
)
from pipeline.parse.errorlog import ErrorLog
from pipeline.parse.runs import ESCAPABLE, Run

MAX_PAUSE = 600.0  # seconds; one pause tag may not be longer
BREAK_STRENGTHS = {
    "none": 0.0,
    "x-weak": 0.25,
    "weak": 0.5,
    "medium": 1.0,
    "strong": 2.0,
    "x-strong": 3.0,
}


@dataclass(frozen=True)
class InlineRules:
    """What inline parsing needs from the rest of the script."""

    errors: ErrorLog
    locales: tuple[str, ...] | None  # None when the front matter's locales are unknown
    default_pause: float  # the length of a bare [pause]


_ENTITY = re.compile(r"&(#\d+|#[xX][\da-fA-F]+|[A-Za-z][A-Za-z\d]*);")
_ELEMENT_NAME = re.compile(r"[/!?]?[\w:-]*")
_PAUSE_WORD = re.compile(r"\s*([^\s:]*)")
_SAY_TARGET = re.compile(r"\s*say\s*:(.*)", re.IGNORECASE | re.DOTALL)
_BREAK_ATTRIBUTE = re.compile(r"\s*([A-Za-z-]+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
Where = Literal["paragraph", "heading", "branch"]


class InlineParser:
    """Scans one run (paragraph, heading or variant branch) into inline nodes."""

    def __init__(self, rules: InlineRules, run: Run, where: Where):
        self.rules = rules
        self.run = run
        self.where = where
        self.nodes: list[str | Delimiter | Inline] = []

    def error(self, i: int, message: str) -> None:
        line, col = self.run.pos[min(i, len(self.run) - 1)]
        self.rules.errors.add(line, col, message)

    def parse(self) -> tuple[Inline, ...]:
        run, i = self.run, 0
        handlers: dict[str, Callable[[int], int]] = {
            "*": self._delimiter,
            "_": self._delimiter,
            "[": self._bracket,
            "{": self._variant,
            "<": self._angle,
            "]": lambda i: self._stray(i, "unexpected ']' (write \\] for a literal bracket)"),
            "}": lambda i: self._stray(i, "unexpected '}' (write \\} for a literal brace)"),
            "|": lambda i: self._stray(
                i, "unexpected '|' outside a variant (write \\| for a literal bar)"
            ),
            "`": self._backtick,
            "&": self._ampersand,
            "~": self._tilde,
        }
        while i < len(run):
            handler = None if run.escaped[i] else handlers.get(run.chars[i])
            if handler is None:
                self.nodes.append(run.chars[i])
                i += 1
            else:
                i = handler(i)
        nodes, too_deep = resolve_emphasis(self.nodes)
        if too_deep is not None:
            self.error(too_deep, f"emphasis is nested more than {MAX_EMPHASIS_DEPTH} deep")
        return finish(nodes)

    # -- single characters

    def _stray(self, i: int, message: str) -> int:
        self.error(i, message)
        return i + 1

    def _backtick(self, i: int) -> int:
        self.error(i, "unsupported Markdown: code")
        close = self.run.find("`", i + 1)
        return close + 1 if close > 0 else i + 1

    def _ampersand(self, i: int) -> int:
        match = _ENTITY.match(self.run.chars, i)
        if match and not any(self.run.escaped[i : match.end()]):
            self.error(
                i, f"unsupported Markdown: HTML entity {match[0]} (type the character itself)"
            )
            return match.end()
        self.nodes.append("&")
        return i + 1

    def _tilde(self, i: int) -> int:
        if self.run.markup(i + 1, "~"):
            self.error(i, "unsupported Markdown: strikethrough")
            close = self.run.find_text("~~", i + 2)
            return close + 2 if close > 0 else i + 2
        self.nodes.append("~")
        return i + 1

    def _delimiter(self, i: int) -> int:
        run, char = self.run, self.run.chars[i]
        end = i
        while run.markup(end, char):
            end += 1
        # Who may open and close follows CommonMark's flanking rules, which writers know
        # from every Markdown editor: "a * b" is literal, "*a*" is emphasis, "snake_case"
        # is a word, and "**" next to punctuation leans towards its word.
        before = run.chars[i - 1] if i > 0 else " "
        after = run.chars[end] if end < len(run) else " "
        left = not after.isspace() and (
            not punctuation(after) or before.isspace() or punctuation(before)
        )
        right = not before.isspace() and (
            not punctuation(before) or after.isspace() or punctuation(after)
        )
        if char == "_":
            can_open = left and (not right or punctuation(before))
            can_close = right and (not left or punctuation(after))
        else:
            can_open, can_close = left, right
        self.nodes.append(Delimiter(char, end - i, end - i, can_open, can_close, i))
        return end

    # -- [pause …] and [bell …] tags, and [printed](say: spoken)

    def _bracket(self, i: int) -> int:
        run = self.run
        close = run.find("[]", i + 1)
        if close < 0 or run.chars[close] == "[":
            self.error(i, "unclosed '[' (write \\[ for a literal bracket)")
            return i + 1
        if run.markup(close + 1, "("):
            return self._link(i, close)
        content = run.chars[i + 1 : close]
        source = run.source(i, close + 1)
        if any(run.escaped[i + 1 : close]):
            self.error(i, f"unknown tag {source}")
            return close + 1
        word_match = _PAUSE_WORD.match(content)
        assert word_match is not None
        rest = content[word_match.end() :]
        if word_match[1].lower() == "bell" and (not rest or rest[0].isspace()):
            self._bell(i, rest.strip(), source)
            return close + 1
        seconds = self._pause_seconds(i, content, source)
        if seconds is not None:
            self._pause(i, seconds, source)
        return close + 1

    def _bell(self, i: int, duration: str, source: str) -> None:
        """``[bell]`` rings whole; ``[bell 10s]`` gives the ring a pause of its own length."""
        seconds = None
        if duration:
            seconds = self._duration(i, source, duration, what="bell")
            if seconds is None:
                return
            if seconds == 0:
                self.error(
                    i,
                    f"{source} has no length: give it more than 0 s, or write [bell] for "
                    "the whole ring",
                )
                return
        line, col = self.run.pos[i]
        self._place(i, BellTag(seconds, source, line, col), "bells")

    def _pause_seconds(self, i: int, content: str, source: str) -> float | None:
        word_match = _PAUSE_WORD.match(content)
        assert word_match is not None
        word, rest = word_match[1], content[word_match.end() :]
        if word.lower() != "pause":
            self.error(i, _unknown_tag_message(source, word, rest))
            return None
        if rest and not (rest[0].isspace() or rest.lstrip().startswith(":")):
            self.error(i, _unknown_tag_message(source, word, rest))
            return None
        duration = rest.strip().removeprefix(":").strip()
        if not duration:
            if ":" in rest:
                self.error(i, f"{source} needs a duration after ':', like [pause:3s]")
                return None
            return self.rules.default_pause
        return self._duration(i, source, duration)

    def _duration(self, i: int, source: str, text: str, what: str = "pause") -> float | None:
        try:
            seconds = parse_duration(text)
        except ValueError as error:
            self.error(i, f"invalid {what} {source}: {error}")
            return None
        if seconds > MAX_PAUSE:
            self.error(i, f"{source} is longer than the 10-minute limit for one pause")
            return None
        return seconds

    def _pause(self, i: int, seconds: float, source: str) -> None:
        line, col = self.run.pos[i]
        self._place(i, Pause(seconds, source, line, col), "pauses")

    def _place(self, i: int, tag: Pause | BellTag, what: str) -> None:
        """A tag of the timeline, which only a paragraph may hold."""
        if self.where in ("heading", "branch"):
            place = "a heading" if self.where == "heading" else "a variant"
            self.error(i, f"{what} are not allowed in {place}")
            return
        self.nodes.append(tag)

    def _link(self, i: int, close: int) -> int:
        run = self.run
        if i > 0 and run.markup(i - 1, "!"):
            end = run.find(")", close + 2)
            self.error(i - 1, "unsupported Markdown: image")
            return end + 1 if end > 0 else close + 1
        end = run.find(")", close + 2)
        printed_text = run.source(i + 1, close)
        if end < 0:
            self.error(close + 1, f"unclosed '(' after [{printed_text}]")
            return close + 1
        target = _SAY_TARGET.fullmatch(run.chars[close + 2 : end])
        if target is None or any(run.escaped[close + 2 : close + 2 + target.start(1)]):
            self.error(
                i,
                f"unsupported link target ({run.source(close + 2, end)}): only (say: …) is allowed",
            )
            return end + 1
        printed = self._say_part(run.slice(i + 1, close), i, "printed text in [ ]")
        spoken = self._say_part(
            run.slice(close + 2 + target.start(1), end), i, "spoken text after 'say:'"
        )
        if printed and spoken:
            self.nodes.append(Say(printed, spoken))
        return end + 1

    def _say_part(self, part: Run, at: int, what: str) -> str | None:
        bad = part.find("[]{}|<`")
        if bad >= 0:
            char = part.chars[bad]
            message = f"'{char}' is not allowed in a say-substitution"
            if char in ESCAPABLE:
                message += f" (write \\{char} for a literal one)"
            line, col = part.pos[bad]
            self.rules.errors.add(line, col, message)
            return None
        text = collapse(part.chars).strip()
        if not text:
            self.error(at, f"say-substitution has no {what}")
            return None
        return text

    # -- {en-GB: … | en-US: …}

    def _variant(self, i: int) -> int:
        run = self.run
        close = run.find("{}", i + 1)
        if close < 0:
            self.error(
                i,
                "unclosed '{' (a variant must end with '}' in the same paragraph; "
                "write \\{ for a literal brace)",
            )
            return len(run)
        if run.chars[close] == "{":
            self.error(close, "variants cannot be nested")
            return self._past_matching_brace(i)
        branches = self._branches(i, close)
        if branches is not None:
            line, col = run.pos[i]
            self.nodes.append(Variant(branches, line, col))
        return close + 1

    def _past_matching_brace(self, i: int) -> int:
        """Just past the ``}`` matching the ``{`` at ``i``, counting nested braces."""
        depth = 0
        for j in range(i, len(self.run)):
            if self.run.markup(j, "{"):
                depth += 1
            elif self.run.markup(j, "}"):
                depth -= 1
                if depth == 0:
                    return j + 1
        return len(self.run)

    def _branches(self, i: int, close: int) -> tuple[tuple[str, tuple[Inline, ...]], ...] | None:
        run = self.run
        bounds, start = [], i + 1
        while True:
            bar = run.find("|", start, close)
            bounds.append((start, close if bar < 0 else bar))
            if bar < 0:
                break
            start = bar + 1
        if len(bounds) == 1 and not run.chars[i + 1 : close].strip():
            self.error(i, "empty variant: write {en-GB: colour | en-US: color}")
            return None
        branches: list[tuple[str, tuple[Inline, ...]]] = []
        ok = True
        for start, end in bounds:
            branch = self._branch(run.slice(start, end), start, [t for t, _ in branches])
            if branch is None:
                ok = False
            else:
                branches.append(branch)
        return tuple(branches) if ok else None

    def _branch(
        self, part: Run, offset: int, seen: list[str]
    ) -> tuple[str, tuple[Inline, ...]] | None:
        colon = part.find(":")
        lead = len(part.chars) - len(part.chars.lstrip())
        at = offset + min(lead, max(len(part) - 1, 0))
        if colon < 0:
            self.error(
                at, "each variant branch starts with a locale, like {en-GB: colour | en-US: color}"
            )
            return None
        written = part.chars[:colon].strip()
        tag = canonical_locale(written)
        if tag is None:
            self.error(at, f"'{written}' is not a locale tag (like en-GB)")
            return None
        locales = self.rules.locales
        if locales is not None and tag not in locales:
            self.error(
                at, f"locale {tag} is not one of this script's locales ({', '.join(locales)})"
            )
            return None
        if tag in seen:
            self.error(at, f"locale {tag} has two branches in this variant")
            return None
        text = part.slice(colon + 1, len(part)).stripped()
        return tag, InlineParser(self.rules, text, where="branch").parse()

    # -- <break …/> and other HTML

    def _angle(self, i: int) -> int:
        run = self.run
        after = run.chars[i + 1 : i + 2]
        if re.match(r"break[\s/>]", run.chars[i + 1 : i + 7], re.IGNORECASE):
            return self._break(i)
        if after and (after.isalpha() or after in "/!?"):
            name = _ELEMENT_NAME.match(run.chars, i + 1)
            shown = name[0] if name else ""
            self.error(
                i,
                f"unsupported Markdown: HTML <{shown}> (only <!-- comments --> and "
                "<break/> are allowed)",
            )
            # Skip the element's closing tag too, so one element is one error.
            closing = run.find_text(f"</{shown}>", i + 1) if shown.isalnum() else -1
            end = closing + len(shown) + 2 if closing > 0 else run.find(">", i + 1)
            return end + 1 if end > 0 else i + 1
        self.nodes.append("<")
        return i + 1

    def _break(self, i: int) -> int:
        run = self.run
        end = run.find(">", i + 1)
        if end < 0:
            self.error(i, "unclosed <break> tag: end it with '/>'")
            return len(run)
        source = run.source(i, end + 1)
        body = run.chars[i + 6 : end].rstrip()
        body = body[:-1] if body.endswith("/") else body
        attributes: dict[str, str] = {}
        pos = 0
        while pos < len(body):
            match = _BREAK_ATTRIBUTE.match(body, pos)
            if match is None:
                if body[pos:].strip():
                    self.error(
                        i,
                        f'malformed {source}: write <break/>, <break time="3s"/> '
                        'or <break strength="medium"/>',
                    )
                    return end + 1
                break
            name = match[1].lower()
            if name not in ("time", "strength") or name in attributes:
                self.error(
                    i, f"unknown or repeated <break> attribute '{match[1]}' (use time or strength)"
                )
                return end + 1
            attributes[name] = match[2] if match[2] is not None else match[3]
            pos = match.end()
        seconds = self._break_seconds(i, source, attributes)
        if seconds is not None:
            self._pause(i, seconds, source)
        return end + 1

    def _break_seconds(self, i: int, source: str, attributes: dict[str, str]) -> float | None:
        if "time" in attributes and "strength" in attributes:
            self.error(i, f"{source} has both time and strength: use one")
            return None
        if "time" in attributes:
            return self._duration(i, source, attributes["time"])
        if "strength" in attributes:
            strength = attributes["strength"].strip().lower()
            if strength not in BREAK_STRENGTHS:
                self.error(
                    i,
                    f"unknown <break> strength '{attributes['strength']}' (use "
                    f"{', '.join(BREAK_STRENGTHS)})",
                )
                return None
            return BREAK_STRENGTHS[strength]
        return self.rules.default_pause


def _unknown_tag_message(source: str, word: str, rest: str) -> str:
    """``unknown tag [pasue 3s]; did you mean [pause 3s]?`` where a pause or bell tag is
    close."""
    suggestion = None
    lowered = word.lower()
    close = difflib.get_close_matches(lowered, ["pause", "bell"], n=1, cutoff=0.6)
    if lowered.startswith("pause") and _is_duration(lowered[5:] + rest):
        suggestion = f"[pause {(word[5:] + rest).strip()}]"
    elif lowered.startswith("bell") and _is_duration(lowered[4:] + rest.lstrip().lstrip(":")):
        suggestion = f"[bell {(word[4:] + rest.lstrip().lstrip(':')).strip()}]"
    elif close == ["pause"]:
        suggestion = f"[pause{rest}]" if not rest.strip() or rest[0] in " \t:" else None
    elif close == ["bell"]:
        suggestion = f"[bell{rest}]" if not rest.strip() or rest[0] in " \t" else None
    if suggestion:
        return f"unknown tag {source}; did you mean {suggestion}?"
    return (
        f"unknown tag {source} (the tags are [pause] and [bell], as in [pause 3s]; write \\[ "
        "for a literal bracket)"
    )


def _is_duration(text: str) -> bool:
    try:
        parse_duration(text)
    except ValueError:
        return False
    return True
