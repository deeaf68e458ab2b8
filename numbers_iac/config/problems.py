"""Located problems: each pass of the loader adds them rather than stopping at the first.

A problem points at a file, line, column and dotted field path (`numbers.a.app`), so the user
can fix every mistake in one edit.
"""

from __future__ import annotations

import difflib

import yaml

from numbers_iac.errors import Problem
from numbers_iac.render.escape import for_terminal

#: where a value sits in the document: keys and list indexes from the top
FieldPath = tuple[str | int, ...]


def dotted(path: FieldPath) -> str:
    """`("numbers", "a", "numbers", 0)` as `numbers.a.numbers[0]`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def did_you_mean(key: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(key, candidates, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


class Problems:
    """Collects problems for one file; marks are PyYAML's 0-based, problems 1-based."""

    def __init__(self, file: str):
        self.file = file
        self.items: list[Problem] = []
        #: values whose problem was reported at its cause (a missing variable): later checks
        #: of the same value would only repeat it in other words
        self.settled: set[FieldPath] = set()

    def settle(self, mark: yaml.Mark | None, path: FieldPath, message: str) -> None:
        """Report a problem and silence any later one about the same value."""
        self.add(mark, path, message)
        self.settled.add(path)

    def add(self, mark: yaml.Mark | None, path: FieldPath, message: str) -> None:
        if path in self.settled:
            return
        line = mark.line + 1 if mark is not None else None
        column = mark.column + 1 if mark is not None else None
        self.add_located(Problem(self.file, line, column, dotted(path), message))

    def add_located(self, problem: Problem) -> None:
        """Add a problem someone else located (a provider's own declaration checks). Keys and
        values quoted in it may hold control characters: they are shown escaped, so that each
        problem stays one line and nothing in it acts on the terminal."""
        problem = Problem(
            for_terminal(problem.file),
            problem.line,
            problem.column,
            for_terminal(problem.path),
            _bounded(for_terminal(problem.message)),
        )
        if problem.line is not None and any(
            (p.line, p.column, p.path) == (problem.line, problem.column, problem.path)
            for p in self.items
        ):
            return  # one problem per value: the first words found for it are enough
        if problem not in self.items:
            self.items.append(problem)

    def sorted(self) -> list[Problem]:
        return sorted(self.items, key=lambda p: (p.line is not None, p.line or 0, p.column or 0))


#: the longest message a problem prints: a value quoted whole could fill a screen
MAX_MESSAGE = 400


def _bounded(message: str) -> str:
    """The message, its middle cut when it is very long (a huge value quoted in it)."""
    if len(message) <= MAX_MESSAGE:
        return message
    cut = len(message) - MAX_MESSAGE
    half = MAX_MESSAGE // 2
    return f"{message[:half]}…[{cut:,} characters cut]…{message[-half:]}"
