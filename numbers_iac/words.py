"""Words for people: counts with their noun and long lists cut short.

Shared by the planner's warnings, the executor's errors and the renderers, so every message
counts and shortens the same way; it depends on nothing, so the core can use it without
reaching into `render/`.
"""

from __future__ import annotations

from collections.abc import Sequence

LIST_SHOWN = 20


def plural(count: int, word: str, many: str | None = None) -> str:
    """`1 number`, `2 numbers`, `3 replies` with `many`; thousands separated (`1,200`)."""
    return f"{count:,} {word if count == 1 else (many or word + 's')}"


def first_of(items: Sequence[str], shown: int = LIST_SHOWN) -> str:
    """`a, b, c`; past `shown` items, the first ones and `and N more`: a long list stays
    readable in a summary or an error, and its full form lives elsewhere (the journal)."""
    if len(items) <= shown:
        return ", ".join(items)
    return f"{', '.join(items[:shown])} and {len(items) - shown:,} more"
