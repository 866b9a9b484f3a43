"""The errors of one file, collected as the parser finds them."""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.errors import SourceError


@dataclass
class ErrorLog:
    """Every problem found in the file at ``path``, each at its 1-based line and column."""

    path: str
    items: list[SourceError] = field(default_factory=list)

    def add(self, line: int, col: int, message: str) -> None:
        self.items.append(SourceError(self.path, line, col, message))
