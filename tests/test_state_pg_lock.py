"""The PostgreSQL apply lock when its connection dies mid-apply.

The lock is a session advisory lock on a connection of its own that sits idle while the apply
runs. If that connection is cut (`pg_terminate_backend` here; an idle timeout, a proxy or NAT
cut in life), the server drops the lock and a second apply may take it: the first must stop
at its next write, before journaling anything more, and a normal apply must not notice.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import psycopg
import pytest

from numbers_iac.errors import LockError
from numbers_iac.model import ManagedNumber, PendingOrder
from numbers_iac.state import postgres
from numbers_iac.state.postgres import PostgresStateStore

LOST = "apply lock on PostgreSQL .* was lost"


def lock_holders(dsn: str) -> list[int]:
    """Backend pids holding the apply lock in the database of `dsn`."""
    with psycopg.connect(dsn, autocommit=True) as admin:
        rows = admin.execute(postgres._LOCK_HOLDERS, postgres.LOCK_KEYS).fetchall()
    return [pid for (pid,) in rows]


def cut_lock_connection(dsn: str) -> None:
    """End the lock's session from the server side, as an idle cut would, and wait until
    the server has dropped its lock."""
    [holder] = lock_holders(dsn)
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s, 5000)", (holder,))
    deadline = time.monotonic() + 5
    while lock_holders(dsn):
        assert time.monotonic() < deadline, "the terminated session kept the lock"
        time.sleep(0.05)


def number(n: str) -> ManagedNumber:
    return ManagedNumber(provider="sandbox", number=n, declaration="support", provider_id=f"id-{n}")


def begin(store: PostgresStateStore, apply_id: str = "apply-a") -> int:
    return store.journal_begin(apply_id, "purchase", "sandbox", "support", {"count": 1})


#: every write a lock holder makes, as (name, call)
WRITES: list[tuple[str, Callable[[PostgresStateStore, int], object]]] = [
    ("journal_begin", lambda s, entry: begin(s)),
    ("journal_end", lambda s, entry: s.journal_end(entry, "ok")),
    ("journal_end_many", lambda s, entry: s.journal_end_many([entry], "ok")),
    ("save_numbers", lambda s, entry: s.save_numbers([number("+15550000001")])),
    (
        "record_bought",
        lambda s, entry: s.record_bought([number("+15550000001")], {entry: ("ok", None)}),
    ),
    ("forget_numbers", lambda s, entry: s.forget_numbers("sandbox", ["+15550000009"])),
    ("save_order", lambda s, entry: s.save_order(PendingOrder("o-1", "sandbox", "support", 1, ()))),
    ("close_orders", lambda s, entry: s.close_orders(["o-9"])),
]


@pytest.mark.parametrize("write", [call for _, call in WRITES], ids=[name for name, _ in WRITES])
def test_a_write_after_the_lock_connection_died_raises_and_writes_nothing(pg_dsn, write):
    with PostgresStateStore(pg_dsn) as store:
        with store.lock("apply A"):
            entry = begin(store)
            before = store.export_rows()
            cut_lock_connection(pg_dsn)
            with pytest.raises(LockError, match=LOST) as err:
                write(store, entry)
            assert "stopping before any further change" in str(err.value)
            assert store.export_rows() == before
        # a later apply (the lock taken again) writes as usual
        with store.lock("apply A again"):
            store.journal_end(entry, "ok")
        assert store.journal()[0].outcome == "ok"


def test_a_second_apply_takes_the_lost_lock_and_the_first_stops(pg_dsn):
    first, second = PostgresStateStore(pg_dsn), PostgresStateStore(pg_dsn)
    try:
        with first.lock("apply A"):
            begin(first, "apply-a")
            cut_lock_connection(pg_dsn)
            with second.lock("apply B", timeout=2):
                begin(second, "apply-b")
                with pytest.raises(LockError, match=LOST):
                    begin(first, "apply-a")
                begin(second, "apply-b")
            with pytest.raises(LockError, match=LOST):  # B has gone, A's lock has not come back
                begin(first, "apply-a")
        assert [e.apply_id for e in first.journal()] == ["apply-b", "apply-b", "apply-a"]
    finally:
        first.close()
        second.close()


def test_an_apply_taking_over_waits_for_a_write_that_proved_the_lock(pg_dsn):
    """The proof and the write are one transaction: once a write has seen the lock held, an
    apply that takes the lock after it was lost signs (and so reads the state) only after
    that write commits."""
    first, second = PostgresStateStore(pg_dsn), PostgresStateStore(pg_dsn)
    taken = threading.Event()

    def take_over() -> None:
        with second.lock("apply B", timeout=5):
            taken.set()

    try:
        with first.lock("apply A"), first._transaction() as cursor:
            cursor.execute(
                "INSERT INTO journal (apply_id, started_at, operation, provider, "
                "declaration, payload) VALUES ('apply-a', 'now', 'purchase', 'sandbox', "
                "'support', '{}')"
            )
            cut_lock_connection(pg_dsn)
            thread = threading.Thread(target=take_over)
            thread.start()
            assert not taken.wait(0.5)
        thread.join(5)
        assert taken.is_set()
    finally:
        first.close()
        second.close()


def test_a_normal_apply_writes_throughout_and_releases_the_lock(pg_dsn):
    with PostgresStateStore(pg_dsn) as store:
        with store.lock("apply A"):
            entry = begin(store)
            store.save_order(PendingOrder("o-1", "sandbox", "support", 1, ()))
            store.record_bought([number("+15550000001")], {entry: ("ok", None)})
            store.close_orders(["o-1"])
            store.journal_end_many([begin(store)], "ok")
        assert lock_holders(pg_dsn) == []
        store.forget_numbers("sandbox", ["+15550000001"])  # outside the lock: not fenced
        assert [e.outcome for e in store.journal()] == ["ok", "ok"]
        assert store.load().numbers == {}


def test_the_lock_connection_outlives_an_idle_session_timeout(pg_dsn):
    with PostgresStateStore(pg_dsn) as store:
        with psycopg.connect(pg_dsn, autocommit=True) as admin:
            dbname = admin.info.dbname
            admin.execute(f"ALTER DATABASE {dbname} SET idle_session_timeout = '300ms'")
        with store.lock("apply A"):
            time.sleep(1)
            assert len(lock_holders(pg_dsn)) == 1
            begin(store)
