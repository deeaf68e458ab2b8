"""The SQLite state store: what it remembers, its journal, and its exclusive apply lock."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from numbers_iac.errors import LockError, StateError
from numbers_iac.model import ManagedNumber, PendingOrder
from numbers_iac.state.sqlite import SqliteStateStore


@pytest.fixture
def store(tmp_path):
    with SqliteStateStore(tmp_path / "sub" / "state.sqlite") as s:
        yield s


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


def test_lock_is_exclusive_names_the_holder_and_dies_with_it(tmp_path):
    path = tmp_path / "state.sqlite"
    SqliteStateStore(path).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from numbers_iac.state.sqlite import SqliteStateStore
                with SqliteStateStore({str(path)!r}).lock("ci-job-42"):
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
        with (
            SqliteStateStore(path) as s,
            pytest.raises(LockError) as err,
            s.lock("me", timeout=0.3),
        ):
            pass
        assert "ci-job-42" in str(err.value) and str(holder.pid) in str(err.value)
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        deadline = time.monotonic() + 5
        with SqliteStateStore(path) as s:
            while True:
                try:
                    with s.lock("me"):
                        break
                except LockError:
                    assert time.monotonic() < deadline
                    time.sleep(0.1)
    finally:
        holder.kill()
        holder.wait()
