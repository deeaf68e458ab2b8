"""The state, journal and inventory tables, from plain data: no store, no provider."""

from __future__ import annotations

import json
from decimal import Decimal

from numbers_iac.model import JournalEntry, ManagedNumber, PendingOrder, Price, Recorded
from numbers_iac.providers.base import InventoryRow
from numbers_iac.render import tables


def entry(entry_id: int, operation: str, outcome: str | None, **kwargs) -> JournalEntry:
    return JournalEntry(
        entry_id=entry_id,
        apply_id="a1",
        started_at=f"2024-05-01T10:00:0{entry_id}Z",
        operation=operation,
        provider="lab",
        declaration="support-fr",
        outcome=outcome,
        **kwargs,
    )


# --------------------------------------------------------------------------- state


def test_state_lists_numbers_sorted_with_orders_and_a_count() -> None:
    recorded = Recorded(
        numbers={
            ("lab", "+33322000002"): ManagedNumber(
                "lab", "+33322000002", "support-fr", "33322000002", labels={"team": "support"}
            ),
            ("lab", "+33322000001"): ManagedNumber(
                "lab", "+33322000001", "hotline", "33322000001", app="ivr", protect=True
            ),
        },
        orders=(PendingOrder("o-7", "lab", "support-de", 2),),
    )
    lines = tables.state_text(recorded, "/tmp/state.sqlite").splitlines()
    assert lines[0].split() == ["PROVIDER", "NUMBER", "DECLARATION", "APP", "STATUS", "LABELS"]
    assert lines[1].split() == ["lab", "+33322000001", "hotline", "ivr", "active", "(protected)"]
    assert lines[2].split() == ["lab", "+33322000002", "support-fr", "-", "active", "team=support"]
    assert lines[3] == "pending order o-7: lab / support-de, 2 numbers"
    assert lines[4] == "2 managed numbers, 1 pending order."
    data = json.loads(tables.state_json(recorded))
    assert [n["number"] for n in data["numbers"]] == ["+33322000001", "+33322000002"]
    assert data["pending_orders"] == [
        {"order_id": "o-7", "provider": "lab", "declaration": "support-de", "quantity": 2}
    ]


def test_an_empty_state_says_so_and_names_the_store() -> None:
    assert tables.state_text(Recorded(), "store (postgres)") == (
        "The state store (postgres) holds no managed numbers."
    )


# --------------------------------------------------------------------------- journal


def test_open_outcomes_read_distinctly_and_are_explained() -> None:
    text = tables.journal_text(
        [
            entry(3, "buy-attempt", "unknown", detail="timeout after sending"),
            entry(2, "release", None),
            entry(1, "purchase", "ok", detail="+33322000001"),
        ]
    )
    lines = text.splitlines()
    assert lines[0].endswith("lab / support-fr  buy-attempt: unknown (open)")
    assert lines[1] == "    timeout after sending"
    assert lines[2].endswith("lab / support-fr  release: (no answer: interrupted)")
    assert lines[3].endswith("lab / support-fr  purchase: ok")
    assert lines[4] == "    +33322000001"
    assert "(no answer: interrupted): the apply stopped" in text
    assert "unknown (open): the provider's answer was ambiguous" in text
    assert "settles open entries" in text


def test_a_journal_of_answered_calls_has_no_note() -> None:
    text = tables.journal_text([entry(1, "purchase", "ok")])
    assert text.count("\n") == 0 and text.endswith("purchase: ok")


def test_an_empty_journal_says_so() -> None:
    assert "empty" in tables.journal_text([])


def test_closed_buy_attempts_are_hidden_unless_all_but_open_ones_never_are() -> None:
    entries = [
        entry(5, "buy-attempt", "ok"),
        entry(4, "buy-attempt", "unknown"),
        entry(3, "buy-attempt", None),
        entry(2, "buy-attempt", "failed"),
        entry(1, "purchase", "ok"),
    ]
    assert [e.entry_id for e in tables.journal_shown(entries, 50, False)] == [4, 3, 1]
    assert [e.entry_id for e in tables.journal_shown(entries, 2, False)] == [4, 3]
    assert [e.entry_id for e in tables.journal_shown(entries, 50, True)] == [5, 4, 3, 2, 1]


def test_journal_json_keeps_every_field_and_the_raw_outcome() -> None:
    rows = json.loads(
        tables.journal_json([entry(1, "buy-attempt", "unknown", payload={"count": 2})])
    )
    assert rows == [
        {
            "entry_id": 1,
            "apply_id": "a1",
            "started_at": "2024-05-01T10:00:01Z",
            "operation": "buy-attempt",
            "provider": "lab",
            "declaration": "support-fr",
            "payload": {"count": 2},
            "outcome": "unknown",
            "detail": None,
            "finished_at": None,
        }
    ]


# --------------------------------------------------------------------------- inventory


def row(region: str, price: Price | None, available: int | None = 900) -> InventoryRow:
    return InventoryRow("FR", "local", region, "322", available, price, ("voice",))


def test_inventory_shows_prices_and_unknowns() -> None:
    rows = [
        row("AMIENS, FRANCE", Price(Decimal("0"), Decimal("0.8"), "EUR")),
        row("PARIS, FRANCE", None, available=None),
    ]
    lines = tables.inventory_text(rows, "lab", "FR", "local").splitlines()
    assert lines[0].split()[:6] == ["TYPE", "REGION", "PREFIX", "STOCK", "SETUP", "MONTHLY"]
    assert lines[1].split()[-4:] == ["900", "0.00", "0.80", "voice"]
    assert lines[2].split()[-4:] == ["?", "?", "?", "voice"]
    assert lines[3] == "Prices in EUR."
    data = json.loads(tables.inventory_json(rows))
    assert (data[0]["monthly"], data[0]["currency"]) == ("0.80", "EUR")
    assert (data[1]["monthly"], data[1]["currency"]) == (None, None)


def test_inventory_without_prices_or_rows_says_so() -> None:
    assert tables.inventory_text([row("X", None)], "cr", "FR", None).endswith(
        "cr publishes no prices."
    )
    assert tables.inventory_text([], "lab", "FR", "mobile") == (
        "lab sells no numbers in FR of type mobile"
    )
