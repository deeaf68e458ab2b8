"""The state store contract: what a provider cannot remember for us.

It keeps which declaration each managed number belongs to, labels for providers without a
label field, purchases still pending, and a journal of every mutation apply attempts (intent
written before the provider call, outcome after), so a killed apply can be reconciled. One
exclusive lock serialises applies. SQLite (one file, `flock`) is the default backend;
PostgreSQL (shared by ephemeral CI runners, advisory lock) keeps the same tables
(`tables.py`).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from numbers_iac.model import JournalEntry, ManagedNumber, PendingOrder, Recorded
from numbers_iac.state.tables import StateRows

__all__ = ["GROUP_FAILED", "JournalEntry", "StateStore"]

GROUP_FAILED = "a write failed inside a group of writes; none of the group was kept"
#: the end of every backend's "locked by ..." refusal
LOCKED_HINT = "try again when it finishes (--lock-timeout SECONDS waits for it)"


def locked_message(locked_by: str, timeout: float) -> str:
    """The error of a lock not taken: after waiting, it says so instead of suggesting it."""
    if timeout > 0:
        return f"{locked_by}; waited {timeout:g} s (--lock-timeout): try again when it finishes"
    return f"{locked_by}; {LOCKED_HINT}"


def waiting_message(locked_by: str, timeout: float) -> str:
    """What a command waiting for the lock says once: who holds it, and for how long at
    most this one waits."""
    return f"{locked_by}; waiting up to {timeout:g} s for it"


class StateStore(abc.ABC):
    """A state backend. All writes of one call happen in one transaction (of one `grouped`
    block, inside one)."""

    @abc.abstractmethod
    def load(self) -> Recorded:
        """Everything the planner needs, in one read."""

    @abc.abstractmethod
    def save_numbers(self, numbers: Sequence[ManagedNumber]) -> None:
        """Insert or replace managed-number records (keyed by provider and number)."""

    @abc.abstractmethod
    def record_bought(
        self,
        numbers: Sequence[ManagedNumber],
        closed: Mapping[int, tuple[str, str | None]],
        still_open: Mapping[int, tuple[Mapping[str, Any], str]] | None = None,
    ) -> None:
        """Save bought numbers and close their journal entries (entry id -> outcome,
        detail) in one transaction: a crash can never leave one without the other.
        `still_open` (entry id -> new payload, detail) keeps entries open as "unknown" with
        what is still in doubt (a commit that delivered fewer numbers than it paid for)."""

    @abc.abstractmethod
    def forget_numbers(self, provider: str, numbers: Sequence[str]) -> None:
        """Drop records of numbers that are no longer managed (released or accepted missing)."""

    @abc.abstractmethod
    def save_order(self, order: PendingOrder) -> None:
        """Record a pending order."""

    @abc.abstractmethod
    def close_orders(self, order_ids: Sequence[str]) -> None:
        """Drop pending orders that were delivered or cancelled."""

    @abc.abstractmethod
    def journal_begin(
        self,
        apply_id: str,
        operation: str,
        provider: str,
        declaration: str,
        payload: Mapping[str, Any],
    ) -> int:
        """Write an intent before a provider call; returns its entry id."""

    @abc.abstractmethod
    def journal_end(self, entry_id: int, outcome: str, detail: str | None = None) -> None:
        """Write the outcome of an intent."""

    @abc.abstractmethod
    def journal_end_many(self, entry_ids: Sequence[int], outcome: str) -> None:
        """Write one outcome for many intents, in one transaction."""

    @property
    def in_group(self) -> bool:
        """True inside `grouped()`: nothing written now is committed yet, so no provider
        call these writes announce may be sent."""
        return False

    def check_committed(self) -> None:
        """Raise unless every write so far is committed: called just before a provider call
        is sent, since an entry written inside a group still open around the caller would
        announce a call that a kill erases from the journal."""
        if self.in_group:
            raise RuntimeError("a provider call must not be sent inside a group of state writes")

    @contextmanager
    def grouped(self) -> Iterator[None]:
        """Make every write inside commit together, in one transaction, when the block
        ends; an error inside undoes them all. The executor closes a finished provider
        call and journals the next one in one write (a call journaled this way is sent only
        after the block ends), which costs one commit instead of three: a `fsync` each on
        SQLite, a round trip and a lock check each on PostgreSQL. A backend without
        transactions may commit each write on its own (this default). A group inside a
        group joins it. A write that fails inside fails the group even if the error is
        caught: none of its writes is kept and the block ends with `StateError`. One thread
        writes the state during an apply, so a group belongs to the store, not a thread."""
        yield

    @abc.abstractmethod
    def journal(self, limit: int | None = None) -> list[JournalEntry]:
        """Journal entries, newest first."""

    @abc.abstractmethod
    @contextmanager
    def lock(
        self, holder: str, timeout: float = 0.0, waiting: Callable[[str], None] | None = None
    ) -> Iterator[None]:
        """Hold the exclusive apply lock; raises `LockError` naming the holder on timeout.
        When another holds it and `timeout` lets this one wait, `waiting` is told once who
        holds it (a CI job waiting ten minutes in silence looks hung)."""

    def locked_by(self) -> str | None:
        """Who holds the apply lock now ("the state ... is locked by ..."), without waiting
        for it or taking it; None when nobody does. For readers that take no lock (drift),
        so that an apply half done is not taken for drift in silence."""
        return None

    @abc.abstractmethod
    def export_rows(self) -> StateRows:
        """Every row of every table in `tables.TABLES`, in their plain form (for `state
        migrate`)."""

    @abc.abstractmethod
    def import_rows(self, rows: StateRows) -> None:
        """Write `export_rows()` output of another store into this one, in one transaction;
        refuses (`StateError`) unless this store holds nothing yet."""

    @property
    @abc.abstractmethod
    def where(self) -> str:
        """Where the state lives, for messages: a path, or a connection with no password."""

    def close(self) -> None:
        """Release the connection."""
        return None

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
