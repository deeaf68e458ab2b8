"""The state, journal and inventory tables of `numbers-iac state` and `inventory`: data in,
text or JSON out. No I/O and no decisions: the CLI reads the store or the provider and
prints what these return."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import fields

from numbers_iac.journal import BUY_ATTEMPT, UNKNOWN, is_open
from numbers_iac.model import JournalEntry, ManagedNumber, Price, Recorded
from numbers_iac.providers.base import InventoryRow
from numbers_iac.render.escape import for_terminal as visible

# --------------------------------------------------------------------------- state


def state_text(recorded: Recorded, store: str) -> str:
    """Managed numbers and pending orders; `store` names the store for the empty case."""
    rows = _managed_rows(recorded)
    if not rows and not recorded.orders:
        return f"The state {store} holds no managed numbers."
    lines = [
        f"{'PROVIDER':<12} {'NUMBER':<16} {'DECLARATION':<24} {'APP':<16} {'STATUS':<8} LABELS"
    ]
    # every field may have come from a provider: escaped before it is padded
    for m in rows:
        labels = visible(",".join(f"{k}={v}" for k, v in sorted(m.labels.items())))
        flag = " (protected)" if m.protect else ""
        row = (
            f"{visible(m.provider):<12} {visible(m.number):<16} {visible(m.declaration):<24} "
            f"{visible(m.app or '-'):<16} {visible(m.status):<8} {labels}{flag}"
        )
        lines.append(row.rstrip())
    for o in recorded.orders:
        lines.append(
            visible(
                f"pending order {o.order_id}: {o.provider} / {o.declaration}, "
                f"{o.quantity} number(s)"
            )
        )
    lines.append(f"{len(rows)} managed number(s), {len(recorded.orders)} pending order(s).")
    return "\n".join(lines)


def state_json(recorded: Recorded) -> str:
    numbers = [
        {
            "provider": m.provider,
            "number": m.number,
            "declaration": m.declaration,
            "app": m.app,
            "labels": dict(m.labels),
            "protect": m.protect,
            "status": m.status,
            "created_at": m.created_at,
        }
        for m in _managed_rows(recorded)
    ]
    orders = [
        {
            "order_id": o.order_id,
            "provider": o.provider,
            "declaration": o.declaration,
            "quantity": o.quantity,
        }
        for o in recorded.orders
    ]
    return json.dumps({"numbers": numbers, "pending_orders": orders}, indent=2)


def _managed_rows(recorded: Recorded) -> list[ManagedNumber]:
    return sorted(recorded.numbers.values(), key=lambda m: (m.provider, m.declaration, m.number))


# --------------------------------------------------------------------------- journal

#: how an entry's outcome reads when the provider never answered, or answered ambiguously
NO_ANSWER = "(no answer: interrupted)"
UNKNOWN_OPEN = "unknown (open)"

_NOTES = {
    NO_ANSWER: "the apply stopped (or is still running) before the provider answered",
    UNKNOWN_OPEN: "the provider's answer was ambiguous",
}
_OPEN_NOTE = "The next plan settles open entries from the provider's listing."


def journal_shown(
    entries: Sequence[JournalEntry], limit: int, show_all: bool
) -> list[JournalEntry]:
    """The newest `limit` entries worth showing. A closed buy attempt is also told by its
    purchase's entry, so it is noise unless `show_all`; an open one never is."""
    if not show_all:
        entries = [e for e in entries if not (e.operation == BUY_ATTEMPT and not is_open(e))]
    return list(entries[:limit])


def journal_outcome(entry: JournalEntry) -> str:
    """An entry's outcome as the journal table shows it."""
    if entry.outcome is None:
        return NO_ANSWER
    if entry.outcome == UNKNOWN:
        return UNKNOWN_OPEN
    return entry.outcome


def journal_text(entries: Sequence[JournalEntry]) -> str:
    """One line per entry, newest first, its detail below; a note explains open outcomes."""
    if not entries:
        return "The journal is empty: no apply has changed anything yet."
    lines = []
    for e in entries:
        lines.append(
            visible(
                f"{e.started_at}  apply {e.apply_id}  {e.provider} / {e.declaration}  "
                f"{e.operation}: {journal_outcome(e)}"
            )
        )
        if e.detail:
            lines.append(f"    {visible(e.detail)}")
    shown = {journal_outcome(e) for e in entries}
    notes = [f"{outcome}: {note}." for outcome, note in _NOTES.items() if outcome in shown]
    if notes:
        lines += ["", *notes, _OPEN_NOTE]
    return "\n".join(lines)


def journal_json(entries: Sequence[JournalEntry]) -> str:
    """Every field of every entry; an open entry has outcome null or "unknown"."""
    rows = []
    for e in entries:
        row = {f.name: getattr(e, f.name) for f in fields(e)}
        row["payload"] = dict(e.payload)
        rows.append(row)
    return json.dumps(rows, indent=2, default=str)


# --------------------------------------------------------------------------- inventory


def inventory_text(
    rows: Sequence[InventoryRow], provider: str, country: str, number_type: str | None
) -> str:
    """Regions and prefixes for sale; "?" where the provider gives no stock or price."""
    if not rows:
        of_type = f" of type {number_type}" if number_type else ""
        return visible(f"{provider} sells no numbers in {country}{of_type}")
    lines = [
        f"{'TYPE':<9} {'REGION':<28} {'PREFIX':<8} {'STOCK':>7} {'SETUP':>9} {'MONTHLY':>9} "
        "CAPABILITIES"
    ]
    for r in rows:
        stock = "?" if r.available is None else str(r.available)
        setup, monthly = _amounts(r.price)
        lines.append(
            f"{visible(r.number_type):<9} {visible(r.region or '-'):<28} {visible(r.prefix or '-'):<8} "
            f"{stock:>7} {setup:>9} {monthly:>9} {visible(','.join(r.capabilities))}"
        )
    currencies = sorted({r.price.currency for r in rows if r.price is not None})
    if currencies:
        lines.append(visible(f"Prices in {', '.join(currencies)}."))
    else:
        lines.append(visible(f"{provider} publishes no prices."))
    return "\n".join(lines)


def inventory_json(rows: Sequence[InventoryRow]) -> str:
    return json.dumps(
        [
            {
                "country": r.country,
                "type": r.number_type,
                "region": r.region,
                "prefix": r.prefix,
                "available": r.available,
                "setup": str(r.price.setup) if r.price else None,
                "monthly": str(r.price.monthly) if r.price else None,
                "currency": r.price.currency if r.price else None,
                "capabilities": list(r.capabilities),
            }
            for r in rows
        ],
        indent=2,
    )


def _amounts(price: Price | None) -> tuple[str, str]:
    if price is None:
        return "?", "?"
    return f"{price.setup:.2f}", f"{price.monthly:.2f}"
