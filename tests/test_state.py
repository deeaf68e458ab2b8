"""The state store contract, on every backend (SQLite, and a real PostgreSQL from
`tests/pg.py`): what it remembers, its journal, its exclusive apply lock, its migrations, and
copies between backends (`state migrate`)."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import psycopg
import pytest

from numbers_iac import engine
from numbers_iac.errors import LockError, StateError
from numbers_iac.model import ManagedNumber, PendingOrder
from numbers_iac.state import postgres, tables
from numbers_iac.state.postgres import PostgresStateStore
from numbers_iac.state.sqlite import SqliteStateStore
from tests.pg import BACKENDS, create_database, free_port, store_opener


def number(n: str, **kw) -> ManagedNumber:
    return ManagedNumber(
        **{"provider": "lab", "number": n, "declaration": "d", "provider_id": n[1:], **kw}
    )


def test_created_on_first_use_and_empty(tmp_path):
    path = tmp_path / "deep" / "dir" / "state.sqlite"
    with SqliteStateStore(path) as s:
        assert s.load().numbers == {}
    assert path.exists()


def test_numbers_round_trip_and_upsert(store):
    store.save_numbers([number("+1", labels={"team": "a"}, protect=True, app="ivr"), number("+2")])
    store.save_numbers([number("+2", declaration="other", status="pending")])
    loaded = store.load().numbers
    assert loaded[("lab", "+1")].labels == {"team": "a"}
    assert loaded[("lab", "+1")].protect is True and loaded[("lab", "+1")].app == "ivr"
    assert (
        loaded[("lab", "+2")].declaration == "other" and loaded[("lab", "+2")].status == "pending"
    )
    assert loaded[("lab", "+1")].created_at  # stamped on first save


def test_created_at_survives_updates(store):
    store.save_numbers([number("+1", created_at="2020-01-01T00:00:00+00:00")])
    store.save_numbers([number("+1", app="x")])
    assert store.load().numbers[("lab", "+1")].created_at == "2020-01-01T00:00:00+00:00"


def test_forget_only_named_numbers(store):
    store.save_numbers([number("+1"), number("+2"), number("+1", provider="other")])
    store.forget_numbers("lab", ["+1"])
    assert set(store.load().numbers) == {("lab", "+2"), ("other", "+1")}


def test_pending_orders(store):
    store.save_order(PendingOrder("o1", "lab", "d", 3, ("+1",)))
    assert store.load().orders[0].numbers == ("+1",)
    store.close_orders(["o1"])
    assert store.load().orders == ()


def test_journal_records_intent_then_outcome(store):
    entry = store.journal_begin("apply1", "purchase", "lab", "d", {"count": 2})
    [open_entry] = store.journal()
    assert open_entry.outcome is None and open_entry.payload == {"count": 2}
    store.journal_end(entry, "ok", "bought 2")
    [closed] = store.journal()
    assert (closed.outcome, closed.detail) == ("ok", "bought 2") and closed.finished_at


def test_fingerprint_changes_with_content(store):
    before = store.load().fingerprint()
    store.save_numbers([number("+1")])
    assert store.load().fingerprint() != before


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "state.sqlite"
    SqliteStateStore(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    with pytest.raises(StateError, match="newer numbers-iac"):
        SqliteStateStore(path)


def test_lock_is_exclusive_names_the_holder_and_dies_with_it(
    backend, request, tmp_path, open_store
):
    open_store().close()
    source = store_opener(backend, request, tmp_path)[1]
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                with ({source}).lock("ci-job-42"):
                    print("locked", flush=True)
                    time.sleep(60)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        said: list[str] = []
        with (
            open_store() as s,
            pytest.raises(LockError) as err,
            s.lock("me", timeout=0.5, waiting=said.append),
        ):
            pass
        assert "ci-job-42" in str(err.value) and str(holder.pid) in str(err.value)
        # a command that waits says so once, naming the holder (not minutes of silence)
        assert str(err.value).endswith("waited 0.5 s (--lock-timeout): try again when it finishes")
        assert len(said) == 1 and "ci-job-42" in said[0], said
        assert said[0].endswith("; waiting up to 0.5 s for it")
        with open_store() as s:  # a reader that takes no lock (drift) can ask who holds it
            assert "ci-job-42" in (s.locked_by() or "")
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        deadline = time.monotonic() + 5
        with open_store() as s:
            while True:
                try:
                    with s.lock("me"):
                        break
                except LockError:
                    assert time.monotonic() < deadline
                    time.sleep(0.1)
            assert s.locked_by() is None
    finally:
        holder.kill()
        holder.wait()


# --------------------------------------------------------------------------- every backend


def test_record_bought_saves_and_closes_in_one_go(store):
    first = store.journal_begin("a1", "buy", "lab", "d", {"numbers": ["+1"]})
    second = store.journal_begin("a1", "buy", "lab", "d", {"count": 3})
    store.record_bought(
        [number("+1")], {first: ("done", "bought +1")}, {second: ({"count": 2}, "1 of 3")}
    )
    by_id = {e.entry_id: e for e in store.journal()}
    assert (by_id[first].outcome, by_id[first].detail) == ("done", "bought +1")
    assert (by_id[second].outcome, by_id[second].payload) == ("unknown", {"count": 2})
    assert set(store.load().numbers) == {("lab", "+1")}
    store.journal_end_many([first, second], "forgotten")
    assert {e.outcome for e in store.journal()} == {"forgotten"}
    assert [e.entry_id for e in store.journal(limit=1)] == [second]


def test_grouped_writes_are_seen_together_when_the_block_ends(open_store):
    """What the executor relies on: another reader (a second process, a crash) sees a
    group's writes all at once or not at all, and a journal entry begun inside a group is
    committed when the block ends, before the call it announces is sent."""
    with open_store() as store, open_store() as reader:
        with store.grouped():
            entry = store.journal_begin("a1", "bind", "lab", "d", {"numbers": ["+1"]})
            store.save_numbers([number("+1")])
            with store.grouped():  # a nested group joins the outer one
                store.journal_end(entry, "ok")
            assert reader.journal() == []
            assert reader.load().numbers == {}
        assert [(e.entry_id, e.outcome) for e in reader.journal()] == [(entry, "ok")]
        assert set(reader.load().numbers) == {("lab", "+1")}


def test_an_error_inside_a_group_undoes_all_its_writes_and_the_next_write_commits(store):
    with pytest.raises(RuntimeError), store.grouped():
        store.journal_begin("a1", "bind", "lab", "d", {"numbers": ["+1"]})
        store.save_numbers([number("+1")])
        raise RuntimeError("killed between a call's record and its journal entry")
    assert store.journal() == []
    assert store.load().numbers == {}
    store.save_numbers([number("+2")])  # on its own again: not part of a dead group
    assert set(store.load().numbers) == {("lab", "+2")}


def test_a_write_that_fails_inside_a_group_fails_the_group_even_when_caught(open_store):
    """PostgreSQL drops a failed transaction at COMMIT without a word, and SQLite keeps the
    writes around the failed one: either way a journal entry could seem written when it
    is not, so the group ends with a `StateError` and keeps nothing."""
    with open_store() as store, open_store() as reader:
        with pytest.raises(StateError, match="none of the group was kept"), store.grouped():
            store.journal_begin("a1", "bind", "lab", "d", {"numbers": ["+1"]})
            with pytest.raises(StateError):
                store.save_numbers([number("+2", declaration=None)])  # NOT NULL
        assert reader.journal() == []
        assert not store.in_group
        store.journal_begin("a1", "bind", "lab", "d", {"numbers": ["+3"]})
        assert len(reader.journal()) == 1


def test_the_tables_are_the_ones_tables_py_lists(backend, store):
    """Every backend's migrations end at `tables.TABLES`, the list `state migrate` copies."""
    for table in tables.TABLES:
        if backend == "sqlite":
            rows = store._db.execute(f"PRAGMA table_info({table.name})").fetchall()
            columns = {r[1] for r in rows}
        else:
            columns = {
                r[0]
                for r in store._read(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = 'numbers_iac' AND table_name = %s",
                    (table.name,),
                )
            }
        assert columns == set(table.column_names), table.name


def test_opening_again_migrates_nothing_and_loses_nothing(open_store):
    with open_store() as s:
        s.save_numbers([number("+1")])
    with open_store() as s, open_store() as t:
        assert set(s.load().numbers) == set(t.load().numbers) == {("lab", "+1")}


# --------------------------------------------------------------------------- postgres


def test_postgres_newer_schema_is_refused(pg_dsn):
    PostgresStateStore(pg_dsn).close()
    with psycopg.connect(pg_dsn, autocommit=True) as db:
        db.execute("UPDATE numbers_iac.meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StateError, match="newer numbers-iac"):
        PostgresStateStore(pg_dsn)


def test_postgres_migrates_once_when_runners_start_together(pg_dsn):
    opened = [PostgresStateStore(pg_dsn) for _ in range(3)]
    assert {s.schema_version() for s in opened} == {postgres.SCHEMA_VERSION}
    for s in opened:
        s.close()


def test_postgres_errors_never_show_the_password():
    dsn = f"postgresql://app:Sup3rS3cret@127.0.0.1:{free_port()}/numbers?connect_timeout=2"
    with pytest.raises(StateError) as err:
        PostgresStateStore(dsn)
    message = str(err.value)
    assert "Sup3rS3cret" not in message and dsn not in message
    assert "PostgreSQL app@127.0.0.1" in message and "cannot open the state" in message


def test_a_malformed_dsn_is_refused_without_quoting_it():
    with pytest.raises(StateError) as err:
        PostgresStateStore("host=db password='half-quoted s3cret")
    assert "s3cret" not in str(err.value) and "not a PostgreSQL connection string" in str(err.value)


def test_postgres_mask_hides_the_dsn_and_its_password():
    dsn = "host=db user=app password=hunter22 dbname=s"
    assert postgres.mask(f"bad {dsn}; also hunter22", dsn) == "bad ***; also ***"
    assert postgres.describe_dsn(dsn) == "PostgreSQL app@db/s"


def test_a_stale_lock_row_names_nobody(pg_dsn):
    """A holder killed before it removed its row leaves the row, not the lock: the message
    of a later wait must not blame it."""
    with PostgresStateStore(pg_dsn) as s, psycopg.connect(pg_dsn, autocommit=True) as db:
        db.execute(
            "INSERT INTO numbers_iac.apply_lock VALUES ('apply', 'ghost', 1, 'h', 'then', 1)"
        )
        db.execute("SELECT pg_advisory_lock(%s, %s)", postgres.LOCK_KEYS)
        with pytest.raises(LockError) as err, s.lock("me", timeout=0.2):
            pass
    assert "ghost" not in str(err.value) and "another process" in str(err.value)


# --------------------------------------------------------------------------- state migrate


def fill(store) -> None:
    """A state with something in every column: open, closed and unknown journal entries,
    labels, protection, a pending order, and a quarantine date where the model has one."""
    extra = (
        {"quarantine_until": "2030-01-01"}
        if "quarantine_until" in ManagedNumber.__dataclass_fields__
        else {}
    )
    store.save_numbers(
        [
            number("+1", labels={"team": "a", "cost-center": "4711"}, protect=True, app="ivr"),
            number("+2", status="pending", created_at="2020-01-01T00:00:00+00:00"),
            number("+3", provider="other", declaration="ü-decl", **extra),
        ]
    )
    store.save_order(PendingOrder("o1", "lab", "d", 3, ("+7", "+8")))
    done = store.journal_begin("a1", "purchase", "lab", "d", {"count": 2, "where": {"x": [1]}})
    store.journal_end(done, "ok", "bought 2")
    unknown = store.journal_begin("a1", "buy", "lab", "d", {"numbers": ["+9"]})
    store.journal_end(unknown, "unknown", "timeout")
    store.journal_begin("a2", "release", "lab", "d", {"numbers": ["+2"]})


@pytest.mark.parametrize("first", BACKENDS)
def test_migrate_round_trips_between_backends_with_nothing_lost(first, request, tmp_path):
    other = "postgres" if first == "sqlite" else "sqlite"
    stores = [
        store_opener(first, request, tmp_path / "1")[0](),
        store_opener(other, request, tmp_path / "2")[0](),
        store_opener(first, request, tmp_path / "3")[0]()
        if first == "sqlite"
        else PostgresStateStore(create_database(request.getfixturevalue("pg_server"))),
    ]
    try:
        fill(stores[0])
        assert engine.copy_state(stores[0], stores[1]) == {
            "managed_numbers": 3,
            "pending_orders": 1,
            "journal": 3,
        }
        engine.copy_state(stores[1], stores[2])
        original, there, back = (s.export_rows() for s in stores)
        assert there == original and back == original
        assert stores[2].load() == stores[0].load()
        assert stores[2].journal() == stores[0].journal()
        # the copy goes on where the original stopped
        assert stores[2].journal_begin("a3", "bind", "lab", "d", {}) == 4
        with pytest.raises(StateError, match="already holds a state"):
            engine.copy_state(stores[0], stores[2])
    finally:
        for s in stores:
            s.close()


def test_a_read_only_role_can_read_a_state_the_tool_set_up(pg_dsn):
    """A drift job may connect with SELECT rights only: opening migrates nothing then."""
    with PostgresStateStore(pg_dsn) as owner:
        owner.save_numbers([number("+1")])
    role = "reader_" + psycopg.conninfo.conninfo_to_dict(pg_dsn)["dbname"]  # roles are per server
    with psycopg.connect(pg_dsn, autocommit=True) as db:
        db.execute(f"CREATE ROLE {role} LOGIN")
        db.execute(f"GRANT USAGE ON SCHEMA numbers_iac TO {role}")
        db.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA numbers_iac TO {role}")
    reader_dsn = psycopg.conninfo.make_conninfo(pg_dsn, user=role)
    with PostgresStateStore(reader_dsn) as reader:
        assert set(reader.load().numbers) == {("lab", "+1")}
        with pytest.raises(StateError, match="permission denied"):
            reader.save_numbers([number("+2")])
