"""SQLite state store: one file next to the configuration, created on first use.

Every write is one transaction. Bulk reads and writes only (`executemany`, one `SELECT` per
table), so the store stays linear at 100,000 numbers. The apply lock is an `flock` on a
sibling `.lock` file: the kernel drops it when the holder dies, so a killed apply never leaves
the state locked, and the file's content says who holds it for the error message.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from numbers_iac import journal as journal_reading
from numbers_iac.errors import LockError, StateError
from numbers_iac.model import JournalEntry, ManagedNumber, PendingOrder, Recorded
from numbers_iac.state import tables
from numbers_iac.state.base import (
    GROUP_FAILED,
    StateStore,
    locked_message,
    waiting_message,
)
from numbers_iac.state.tables import StateRows

SCHEMA_VERSION = 2

_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE IF NOT EXISTS managed_numbers (
        provider TEXT NOT NULL,
        number TEXT NOT NULL,
        declaration TEXT NOT NULL,
        provider_id TEXT NOT NULL,
        app TEXT,
        labels TEXT NOT NULL DEFAULT '{}',
        protect INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL DEFAULT 'active',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (provider, number)
    );
    CREATE TABLE IF NOT EXISTS pending_orders (
        order_id TEXT PRIMARY KEY,
        provider TEXT NOT NULL,
        declaration TEXT NOT NULL,
        quantity INTEGER NOT NULL,
        numbers TEXT NOT NULL DEFAULT '[]',
        created_at TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS journal (
        entry_id INTEGER PRIMARY KEY AUTOINCREMENT,
        apply_id TEXT NOT NULL,
        started_at TEXT NOT NULL,
        operation TEXT NOT NULL,
        provider TEXT NOT NULL,
        declaration TEXT NOT NULL,
        payload TEXT NOT NULL,
        outcome TEXT,
        detail TEXT,
        finished_at TEXT
    );
    """,
    # cooling-off: a number no longer wanted is kept (unbound) until this ISO date; NULL for
    # every number of a state file written before
    2: "ALTER TABLE managed_numbers ADD COLUMN quarantine_until TEXT",
}


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class SqliteStateStore(StateStore):
    """The default backend. `path` is created (with its directory) on first use."""

    def __init__(self, path: str | os.PathLike[str]):
        # The lock belongs to the file, not to the spelling of its path: two configs that
        # reach one state through a symlink or `..` must share one lock.
        self.path = Path(path).resolve()
        #: inside `grouped()`: writes join its transaction; one of them failed
        self._grouped = self._group_failed = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # check_same_thread: a plan reads the state in a worker while the providers
            # list (engine.make_plan); the store is never used by two threads at once
            self._db = sqlite3.connect(
                self.path, isolation_level=None, timeout=30, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._migrate()
        except (OSError, sqlite3.Error) as exc:
            raise StateError(f"cannot open state file {self.path}: {exc}") from exc
        self._lock_file: Any = None

    # ----------------------------------------------------------------- schema
    def _migrate(self) -> None:
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            raise StateError(
                f"state file {self.path} was written by a newer numbers-iac "
                f"(schema {version}, this version knows {SCHEMA_VERSION}); upgrade numbers-iac"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            with self._transaction() as db:
                for statement in _MIGRATIONS[target].split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                    (str(target),),
                )

    @property
    def in_group(self) -> bool:
        return self._grouped

    @contextmanager
    def grouped(self) -> Iterator[None]:
        if self._grouped:
            yield
            return
        with self._transaction():
            self._grouped, self._group_failed = True, False
            try:
                yield
                if self._group_failed:  # a write failed and someone caught it: keep none
                    raise StateError(f"state file {self.path}: {GROUP_FAILED}")
            finally:
                self._grouped = False

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        if self._grouped:  # inside `grouped()`: its transaction commits this write
            try:
                yield self._db
            except sqlite3.Error as exc:
                self._group_failed = True
                raise StateError(f"state file {self.path}: {exc}") from exc
            except BaseException:
                self._group_failed = True
                raise
            return
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StateError(f"state file {self.path}: {exc}") from exc

    # ----------------------------------------------------------------- reads
    def load(self) -> Recorded:
        try:
            numbers = _managed_numbers(
                self._db.execute(
                    "SELECT provider, number, declaration, provider_id, app, labels, protect, "
                    "status, created_at, quarantine_until FROM managed_numbers"
                )
            )
            open_rows = self._db.execute(
                "SELECT entry_id, apply_id, started_at, operation, provider, declaration, "
                "payload, outcome, detail, finished_at FROM journal "
                "WHERE (outcome IS NULL OR outcome = ?) AND operation IN (?, ?)",
                (journal_reading.UNKNOWN, *journal_reading.OPEN_OPERATIONS),
            ).fetchall()
            order_rows = self._db.execute(
                "SELECT order_id, provider, declaration, quantity, numbers, created_at "
                "FROM pending_orders"
            ).fetchall()
        except sqlite3.Error as exc:
            raise StateError(f"cannot read state file {self.path}: {exc}") from exc
        orders = tuple(
            PendingOrder(r[0], r[1], r[2], r[3], tuple(json.loads(r[4])), r[5]) for r in order_rows
        )
        entries = [_entry(r) for r in open_rows]
        return Recorded(
            numbers,
            orders,
            journal_reading.interrupted_releases(entries),
            journal_reading.open_attempts(entries),
        )

    def journal(self, limit: int | None = None) -> list[JournalEntry]:
        sql = (
            "SELECT entry_id, apply_id, started_at, operation, provider, declaration, payload, "
            "outcome, detail, finished_at FROM journal ORDER BY entry_id DESC"
        )
        params: tuple = ()
        if limit is not None:
            sql += " LIMIT ?"
            params = (limit,)
        try:
            rows = self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StateError(f"cannot read the journal in {self.path}: {exc}") from exc
        return [_entry(r) for r in rows]

    # ----------------------------------------------------------------- writes
    def save_numbers(self, numbers: Sequence[ManagedNumber]) -> None:
        with self._transaction() as db:
            self._save_numbers(db, numbers)

    def record_bought(
        self,
        numbers: Sequence[ManagedNumber],
        closed: Mapping[int, tuple[str, str | None]],
        still_open: Mapping[int, tuple[Mapping[str, Any], str]] | None = None,
    ) -> None:
        now = utc_now()
        with self._transaction() as db:
            self._save_numbers(db, numbers)
            db.executemany(
                "UPDATE journal SET outcome = ?, detail = ?, finished_at = ? WHERE entry_id = ?",
                [(outcome, detail, now, entry) for entry, (outcome, detail) in closed.items()],
            )
            db.executemany(
                "UPDATE journal SET outcome = ?, detail = ?, payload = ?, finished_at = ? "
                "WHERE entry_id = ?",
                [
                    (journal_reading.UNKNOWN, detail, json.dumps(dict(payload)), now, entry)
                    for entry, (payload, detail) in (still_open or {}).items()
                ],
            )

    @staticmethod
    def _save_numbers(db: sqlite3.Connection, numbers: Sequence[ManagedNumber]) -> None:
        now = utc_now()
        rows = [
            (
                m.provider,
                m.number,
                m.declaration,
                m.provider_id,
                m.app,
                json.dumps(dict(m.labels), sort_keys=True) if m.labels else "{}",
                int(m.protect),
                m.status,
                m.created_at or now,
                now,
                m.quarantine_until,
            )
            for m in numbers
        ]
        if rows:
            db.executemany(
                "INSERT INTO managed_numbers (provider, number, declaration, provider_id, app, "
                "labels, protect, status, created_at, updated_at, quarantine_until) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (provider, number) DO UPDATE SET declaration = excluded.declaration, "
                "provider_id = excluded.provider_id, app = excluded.app, "
                "labels = excluded.labels, protect = excluded.protect, "
                "status = excluded.status, updated_at = excluded.updated_at, "
                "quarantine_until = excluded.quarantine_until",
                rows,
            )

    def forget_numbers(self, provider: str, numbers: Sequence[str]) -> None:
        with self._transaction() as db:
            db.executemany(
                "DELETE FROM managed_numbers WHERE provider = ? AND number = ?",
                [(provider, n) for n in numbers],
            )

    def save_order(self, order: PendingOrder) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO pending_orders (order_id, provider, declaration, "
                "quantity, numbers, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    order.order_id,
                    order.provider,
                    order.declaration,
                    order.quantity,
                    json.dumps(list(order.numbers)),
                    order.created_at or utc_now(),
                ),
            )

    def close_orders(self, order_ids: Sequence[str]) -> None:
        with self._transaction() as db:
            db.executemany(
                "DELETE FROM pending_orders WHERE order_id = ?", [(o,) for o in order_ids]
            )

    def journal_begin(
        self,
        apply_id: str,
        operation: str,
        provider: str,
        declaration: str,
        payload: Mapping[str, Any],
    ) -> int:
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO journal (apply_id, started_at, operation, provider, declaration, "
                "payload) VALUES (?, ?, ?, ?, ?, ?)",
                (apply_id, utc_now(), operation, provider, declaration, json.dumps(payload)),
            )
            return int(cursor.lastrowid)

    def journal_end(self, entry_id: int, outcome: str, detail: str | None = None) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE journal SET outcome = ?, detail = ?, finished_at = ? WHERE entry_id = ?",
                (outcome, detail, utc_now(), entry_id),
            )

    def journal_end_many(self, entry_ids: Sequence[int], outcome: str) -> None:
        if not entry_ids:
            return
        now = utc_now()
        with self._transaction() as db:
            db.executemany(
                "UPDATE journal SET outcome = ?, finished_at = ? WHERE entry_id = ?",
                [(outcome, now, entry_id) for entry_id in entry_ids],
            )

    # ----------------------------------------------------------------- lock
    @contextmanager
    def lock(
        self, holder: str, timeout: float = 0.0, waiting: Callable[[str], None] | None = None
    ) -> Iterator[None]:
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            handle = open(lock_path, "a+")  # noqa: SIM115 - held for the whole apply
        except OSError as exc:
            raise StateError(
                f"cannot open the state lock file {lock_path}: {exc.strerror}"
            ) from None
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise LockError(locked_message(_locked_by(lock_path), timeout)) from None
                    if waiting is not None:
                        waiting(waiting_message(_locked_by(lock_path), timeout))
                        waiting = None
                    time.sleep(0.2)
            handle.seek(0)
            handle.truncate()
            handle.write(
                json.dumps(
                    {
                        "holder": holder,
                        "pid": os.getpid(),
                        "host": socket.gethostname(),
                        "since": utc_now(),
                    }
                )
            )
            handle.flush()
            try:
                yield
            finally:
                handle.seek(0)
                handle.truncate()
                handle.flush()
                fcntl.flock(handle, fcntl.LOCK_UN)
        finally:
            handle.close()

    def locked_by(self) -> str | None:
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            handle = open(lock_path)  # noqa: SIM115 - read only: creates nothing
        except OSError:
            return None  # no lock file: no apply ever ran here
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return _locked_by(lock_path)
            except OSError:
                return None
            fcntl.flock(handle, fcntl.LOCK_UN)
        return None

    # ----------------------------------------------------------------- copies
    @property
    def where(self) -> str:
        return str(self.path)

    def export_rows(self) -> StateRows:
        rows: dict[str, list[dict[str, Any]]] = {}
        try:
            for table in tables.TABLES:
                names = table.column_names
                cursor = self._db.execute(
                    f"SELECT {', '.join(names)} FROM {table.name} ORDER BY {', '.join(table.key)}"
                )
                rows[table.name] = [
                    {name: _plain(table, name, value) for name, value in zip(names, r, strict=True)}
                    for r in cursor.fetchall()
                ]
        except sqlite3.Error as exc:
            raise StateError(f"cannot read state file {self.path}: {exc}") from exc
        return rows

    def import_rows(self, rows: StateRows) -> None:
        with self._transaction() as db:
            for table in tables.TABLES:
                if db.execute(f"SELECT 1 FROM {table.name} LIMIT 1").fetchone():
                    raise StateError(
                        f"state file {self.path} already holds a state; move it away first"
                    )
            for table in tables.TABLES:
                names = table.column_names
                db.executemany(
                    f"INSERT INTO {table.name} ({', '.join(names)}) "
                    f"VALUES ({', '.join('?' for _ in names)})",
                    [[_stored(table, n, row.get(n)) for n in names] for row in rows[table.name]],
                )

    def close(self) -> None:
        self._db.close()


def _managed_numbers(rows: Iterable[tuple]) -> dict[tuple[str, str], ManagedNumber]:
    """Records read row by row (no list of 100,000 rows beside them), holding one copy of
    each value that repeats from row to row (provider, declaration, app, status, dates):
    the driver makes a new string per cell, which at 100,000 numbers cost 25 MB."""
    shared: dict[Any, Any] = {}
    numbers: dict[tuple[str, str], ManagedNumber] = {}
    for r in rows:
        provider = shared.setdefault(r[0], r[0])
        numbers[(provider, r[1])] = ManagedNumber(
            provider=provider,
            number=r[1],
            declaration=shared.setdefault(r[2], r[2]),
            provider_id=r[3],
            app=shared.setdefault(r[4], r[4]),
            labels=json.loads(r[5]) if r[5] != "{}" else {},  # most have none
            protect=bool(r[6]),
            status=shared.setdefault(r[7], r[7]),
            created_at=shared.setdefault(r[8], r[8]),
            quarantine_until=shared.setdefault(r[9], r[9]),
        )
    return numbers


def _entry(row: Sequence[Any]) -> JournalEntry:
    return JournalEntry(
        row[0], row[1], row[2], row[3], row[4], row[5], json.loads(row[6]), *row[7:10]
    )


def _plain(table: tables.Table, name: str, value: Any) -> Any:
    """A stored value in the plain form `tables` describes."""
    if value is None:
        return None
    if name in table.of_kind(tables.JSON):
        return json.loads(value)
    if name in table.of_kind(tables.FLAG):
        return bool(value)
    return value


def _stored(table: tables.Table, name: str, value: Any) -> Any:
    if value is None:
        return None
    if name in table.of_kind(tables.JSON):
        return json.dumps(value, sort_keys=True)
    if name in table.of_kind(tables.FLAG):
        return int(value)
    return value


def _locked_by(lock_path: Path) -> str:
    try:
        info = json.loads(lock_path.read_text() or "{}")
    except (OSError, ValueError):
        info = {}
    who = (
        f"{info.get('holder', 'another process')} (pid {info.get('pid', '?')} on "
        f"{info.get('host', '?')}) since {info.get('since', '?')}"
    )
    return f"the state {lock_path.with_suffix('')} is locked by {who}"
