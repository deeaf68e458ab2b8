"""The state, journal and inventory tables of `numbers-iac state` and `inventory`: data in,
text or JSON out. No I/O and no decisions: the CLI reads the store or the provider and
prints what these return."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import fields

from numbers_iac.journal import BUY_ATTEMPT, UNKNOWN, is_open
from numbers_iac.model import JournalEntry, ManagedNumber, Price, Recorded, amount_text
from numbers_iac.providers.base import InventoryRow
from numbers_iac.render.escape import for_terminal as visible
from numbers_iac.render.text import first_of, plural, shorten_lists


def _columns(
    header: Sequence[str], rows: Sequence[Sequence[str]], minimum: Sequence[int], right: int = 0
) -> list[str]:
    """Header and rows padded into columns as wide as their widest cell (at least `minimum`),
    so a long provider or region name pushes its column, not the ones after it; the last
    `right` columns before the final one are right-aligned. Cells must be escaped already."""
    widths = [
        max([minimum[i], len(header[i]), *(len(row[i]) for row in rows)])
        for i in range(len(header) - 1)
    ]
    first_right = len(widths) - right

    def line(cells: Sequence[str]) -> str:
        padded = [
            cell.rjust(width) if i >= first_right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=False))
        ]
        return " ".join([*padded, cells[-1]]).rstrip()

    return [line(header), *(line(row) for row in rows)]


# --------------------------------------------------------------------------- state


def state_text(recorded: Recorded, store: str) -> str:
    """Managed numbers and pending orders; `store` names the store for the empty case."""
    rows = _managed_rows(recorded)
    if not rows and not recorded.orders:
        return f"The state {store} holds no managed numbers."
    # every field may have come from a provider: escaped before it is padded
    cells = [
        [
            visible(m.provider),
            visible(m.number),
            visible(m.declaration),
            visible(m.app or "-"),
            visible(m.status),
            " ".join(
                part
                for part in (
                    visible(",".join(f"{k}={v}" for k, v in sorted(m.labels.items()))),
                    "(protected)" if m.protect else "",
                    f"(quarantined until {m.quarantine_until})" if m.quarantine_until else "",
                )
                if part
            ),
        ]
        for m in rows
    ]
    header = ["PROVIDER", "NUMBER", "DECLARATION", "APP", "STATUS", "LABELS"]
    lines = _columns(header, cells, (12, 16, 24, 16, 8))
    for o in recorded.orders:
        lines.append(
            visible(
                f"pending order {o.order_id}: {o.provider} / {o.declaration}, "
                f"{plural(o.quantity, 'number')}"
            )
        )
    lines.append(
        f"{plural(len(rows), 'managed number')}, {plural(len(recorded.orders), 'pending order')}."
    )
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
            "quarantine_until": m.quarantine_until,
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
    """One line per entry, newest first, the numbers it acted on and its detail below (long
    lists cut to their first numbers: `--format json` has them all); a note explains open
    outcomes."""
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
        numbers = e.payload.get("numbers") if isinstance(e.payload, Mapping) else None
        if numbers and isinstance(numbers, list):
            lines.append(f"    numbers: {visible(first_of([str(n) for n in numbers]))}")
        if e.detail:
            lines.append(f"    {visible(shorten_lists(e.detail))}")
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
    cells = []
    for r in rows:
        stock = "?" if r.available is None else str(r.available)
        setup, monthly = _amounts(r.price)
        cells.append(
            [
                visible(r.number_type),
                visible(r.region or "-"),
                visible(r.prefix or "-"),
                stock,
                setup,
                monthly,
                visible(",".join(r.capabilities)),
            ]
        )
    header = ["TYPE", "REGION", "PREFIX", "STOCK", "SETUP", "MONTHLY", "CAPABILITIES"]
    lines = _columns(header, cells, (9, 28, 8, 7, 9, 9), right=3)
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
                "setup": amount_text(r.price.setup) if r.price else None,
                "monthly": amount_text(r.price.monthly) if r.price else None,
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
