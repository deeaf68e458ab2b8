"""What the state holds, table by table and column by column: the one list every backend
must reach.

Each backend keeps its own frozen, versioned migrations (SQL dialects differ, and a migration
that has run must never change), but they all end at these columns, and `state migrate`
copies a state between backends through them. `tests/test_state.py` checks every backend's
tables against this list after migrating, so a column added to one backend and forgotten in
another (or in the copy) fails there.

Values travel between backends in one plain form: text as `str`, integers as `int`, flags as
`bool`, JSON columns as the decoded Python value, and None for SQL NULL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

TEXT, INTEGER, FLAG, JSON = "text", "integer", "flag", "json"


@dataclass(frozen=True)
class Column:
    name: str
    kind: str = TEXT
    nullable: bool = False


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def of_kind(self, kind: str) -> frozenset[str]:
        return frozenset(c.name for c in self.columns if c.kind == kind)


MANAGED_NUMBERS = Table(
    "managed_numbers",
    (
        Column("provider"),
        Column("number"),
        Column("declaration"),
        Column("provider_id"),
        Column("app", nullable=True),
        Column("labels", JSON),
        Column("protect", FLAG),
        Column("status"),
        Column("created_at"),
        Column("updated_at"),
        #: until when a released or failed number is held back from purchase (guard rails)
        Column("quarantine_until", nullable=True),
    ),
    key=("provider", "number"),
)

PENDING_ORDERS = Table(
    "pending_orders",
    (
        Column("order_id"),
        Column("provider"),
        Column("declaration"),
        Column("quantity", INTEGER),
        Column("numbers", JSON),
        Column("created_at"),
    ),
    key=("order_id",),
)

JOURNAL = Table(
    "journal",
    (
        Column("entry_id", INTEGER),
        Column("apply_id"),
        Column("started_at"),
        Column("operation"),
        Column("provider"),
        Column("declaration"),
        Column("payload", JSON),
        Column("outcome", nullable=True),
        Column("detail", nullable=True),
        Column("finished_at", nullable=True),
    ),
    key=("entry_id",),
)

#: every table a state copy carries, in the order it is written
TABLES: tuple[Table, ...] = (MANAGED_NUMBERS, PENDING_ORDERS, JOURNAL)

#: table name -> its rows, each row column name -> value in the plain form above
StateRows = Mapping[str, Sequence[Mapping[str, Any]]]


def row_counts(rows: StateRows) -> dict[str, int]:
    return {table.name: len(rows.get(table.name, ())) for table in TABLES}
