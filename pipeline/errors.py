"""The ways a build can fail, each as one exception class a caller can act on.

Every error derives from :class:`PipelineError`.  The CLI maps script errors to exit
status 2 (invalid input) and every other pipeline error to exit status 1 (render failure).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

#: Characters no input text may hold: C0 controls but tab and line breaks, DEL and C1.
#: They are invisible in an editor, cut speech engines short and break captions.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


class PipelineError(Exception):
    """Base class of every error voicetrack reports to a user.

    ``exit_status`` is what the CLI exits with: 1 for a failed render, 2 for input a person
    must fix (a script, a profile, missing takes)."""

    hint: str | None = None
    exit_status: int = 1

    def __reduce__(self) -> tuple[object, ...]:
        # Errors cross process boundaries (parallel builds); rebuild them from their state,
        # not by calling __init__ again with the formatted message.
        return (_rebuild_error, (type(self), self.args, self.__dict__))


def _rebuild_error(
    cls: type[PipelineError], args: tuple[object, ...], state: dict
) -> PipelineError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


@dataclass(frozen=True)
class SourceError:
    """One problem in an input file, at a 1-based line and column."""

    path: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.message}"


class ScriptError(PipelineError):
    """A script (or a file it depends on) is invalid; carries every problem found in it."""

    exit_status = 2

    def __init__(self, errors: Sequence[SourceError]):
        self.errors = tuple(sorted(errors, key=lambda e: (e.path, e.line, e.col)))
        super().__init__("\n".join(str(e) for e in self.errors))

    @classmethod
    def at(cls, path: str, line: int, col: int, message: str) -> ScriptError:
        return cls([SourceError(path, line, col, message)])


class OptionError(PipelineError):
    """A command-line option names something the project does not have."""

    exit_status = 2


class OutsideRoot(PipelineError):
    """A file or folder voicetrack would read or write lies outside the project root."""

    exit_status = 2


class VoiceError(PipelineError):
    """A voice profile is malformed or names something that does not exist."""

    exit_status = 2


class VoiceUnavailable(PipelineError):
    """An engine or model is not installed on this machine; ``hint`` says how to get it."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


class ProcessError(PipelineError):
    """An external step failed; keeps what a person needs to reproduce it."""

    def __init__(
        self,
        message: str,
        command: Sequence[str] | None = None,
        returncode: int | None = None,
        stderr: str = "",
    ):
        self.command = tuple(command) if command else None
        self.returncode = returncode
        self.stderr = stderr
        details = [message]
        if self.command:
            details.append("command: " + " ".join(self.command))
        if returncode is not None:
            details.append(f"exit status: {returncode}")
        if stderr.strip():
            tail = "\n".join(stderr.strip().splitlines()[-15:])
            details.append("stderr:\n" + tail)
        super().__init__("\n".join(details))


class SynthesisError(ProcessError):
    """A speech engine failed on some text."""


class EncodeError(ProcessError):
    """ffmpeg (or tagging) failed while writing an output file."""


class InstallError(PipelineError):
    """A voice could not be downloaded or installed."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


def control_characters(text: str) -> Iterator[tuple[int, str]]:
    """``(offset, description)`` of every control character in ``text``."""
    for match in _CONTROL.finditer(text):
        yield match.start(), f"control character U+{ord(match[0]):04X}"


CONTROL_HINT = "only tabs and line breaks may be used"
