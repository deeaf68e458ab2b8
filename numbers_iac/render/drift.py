"""DriftReport -> text (a cron job's log), Markdown (an issue or a chat message), JSON.

Per provider: declared numbers missing, numbers that differ from their declaration, numbers
changed outside numbers-iac since the last apply (field by field, labels key by key),
managed numbers the provider no longer lists, what else apply would do, and the unmanaged
numbers with what they cost. Data -> str only.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from numbers_iac.drift import DriftReport, FieldChange, NumberDrift, ProviderDrift, Shortfall
from numbers_iac.model import amount_text
from numbers_iac.render.escape import for_markdown, for_markdown_code, for_terminal
from numbers_iac.render.text import format_money
from numbers_iac.words import first_of, plural

#: numbers listed per section before "and N more" (the JSON lists all)
SHOWN = 20
FORMATS = ("text", "json", "markdown")
_HEADINGS = {
    "missing": "Declared but not on the account",
    "differing": "Differ from the declarations",
    "changed_outside": "Changed outside numbers-iac since the last apply",
    "vanished": "Managed but no longer listed by the provider (released elsewhere?)",
}


def render_drift(report: DriftReport, fmt: str) -> str:
    if fmt == "json":
        return drift_json(report)
    if fmt == "markdown":
        return _lines(report, _markdown)
    if fmt == "text":
        return _lines(report, _text)
    raise ValueError(f"unknown drift format {fmt!r}; expected one of {', '.join(FORMATS)}")


def verdict(report: DriftReport) -> str:
    drifted = [p.provider for p in report.providers if p.drifted]
    if not drifted:
        return "No drift: the accounts match the configuration and the state."
    return f"Drift on {plural(len(drifted), 'provider')}: {', '.join(drifted)}."


# --------------------------------------------------------------------------- shared walk


class _Style:
    def __init__(
        self,
        heading: Callable[[str], str],
        bullets: tuple[str, str],
        code: Callable[[str], str],
        plain: Callable[[str], str],
    ):
        self.heading, self.bullets, self.code, self.plain = heading, bullets, code, plain

    def item(self, text: str) -> str:
        return f"{self.bullets[0]}{text}"

    def sub_item(self, text: str) -> str:
        return f"{self.bullets[1]}{text}"


_text = _Style(lambda t: f"{t}:", ("  ", "    "), for_terminal, for_terminal)
_markdown = _Style(lambda t: f"### {t}", ("- ", "  - "), for_markdown_code, for_markdown)


def _lines(report: DriftReport, style: _Style) -> str:
    title = "## numbers-iac drift" if style is _markdown else None
    lines = [title, "", verdict(report)] if title else [verdict(report)]
    for provider in report.providers:
        lines += ["", *_provider_lines(provider, style)]
    if report.warnings:
        lines += ["", style.heading("Warnings")]
        lines += [style.item(style.plain(w)) for w in report.warnings]
    return "\n".join(lines) + "\n"


def _provider_lines(drift: ProviderDrift, style: _Style) -> list[str]:
    state = "drift" if drift.drifted else "no drift"
    lines = [style.heading(f"{style.plain(drift.provider)} ({state})")]
    sections: list[tuple[str, list[str]]] = [
        ("missing", [_shortfall(s, style) for s in drift.missing]),
        ("differing", [_number_drift(n, style, "now", "declared") for n in drift.differing]),
        (
            "changed_outside",
            [_number_drift(n, style, "applied", "now") for n in drift.changed_outside],
        ),
        (
            "vanished",
            [f"{style.code(m.number)} ({style.plain(m.declaration)})" for m in drift.vanished],
        ),
    ]
    for key, items in sections:
        if items:
            lines.append(style.item(f"{_HEADINGS[key]} ({len(items)}):"))
            lines += [style.sub_item(item) for item in _cut(items)]
    if drift.other_changes:
        what = ", ".join(f"{count} {kind}" for kind, count in drift.other_changes.items())
        lines.append(style.item(f"Apply would also make: {what} (see numbers-iac plan)"))
    lines += _unmanaged_lines(drift, style)
    return lines


def _cut(items: list[str]) -> list[str]:
    if len(items) <= SHOWN:
        return items
    return [*items[:SHOWN], f"... and {len(items) - SHOWN} more (--format json lists all)"]


def _shortfall(shortfall: Shortfall, style: _Style) -> str:
    if shortfall.pinned:
        numbers = first_of([style.code(n) for n in shortfall.pinned], SHOWN)
        return f"{style.plain(shortfall.declaration)}: {numbers} not held"
    where = f" at {style.plain(shortfall.where)}" if shortfall.where else ""
    return f"{style.plain(shortfall.declaration)}: {plural(shortfall.count, 'number')} short{where}"


def _number_drift(drift: NumberDrift, style: _Style, before: str, after: str) -> str:
    changes = "; ".join(_change(c, style, before, after) for c in drift.changes)
    return f"{style.code(drift.number)} ({style.plain(drift.declaration)}): {changes}"


def _change(change: FieldChange, style: _Style, before: str, after: str) -> str:
    def shown(value: str | None) -> str:
        return "(none)" if value is None else style.plain(value)

    return (
        f"{style.plain(change.field)} {before} {shown(change.before)}, "
        f"{after} {shown(change.after)}"
    )


def _unmanaged_lines(drift: ProviderDrift, style: _Style) -> list[str]:
    if not drift.unmanaged:
        return []
    totals = drift.unmanaged_monthly()
    cost = ", ".join(f"{format_money(v, c)}/month" for c, v in sorted(totals.items()))
    unpriced = sum(1 for u in drift.unmanaged if u.monthly is None)
    cost_text = f" costing {cost}" if cost else ""
    if unpriced:
        cost_text += f" ({unpriced} unpriced)"
    lines = [
        style.item(
            f"Unmanaged ({len(drift.unmanaged)}){cost_text}; not drift: import them, or "
            "release them by hand:"
        )
    ]
    rows = [
        f"{style.code(u.number)}"
        + (f" {format_money(u.monthly, u.currency)}/month" if u.monthly is not None else "")
        for u in drift.unmanaged
    ]
    return lines + [style.sub_item(row) for row in _cut(rows)]


# --------------------------------------------------------------------------- JSON


def drift_json(report: DriftReport) -> str:
    return json.dumps(
        {
            "drift": report.drifted,
            "providers": [_provider_json(p) for p in report.providers],
            "warnings": list(report.warnings),
        },
        indent=2,
        ensure_ascii=False,
    )


def _provider_json(drift: ProviderDrift) -> dict[str, Any]:
    return {
        "provider": drift.provider,
        "drift": drift.drifted,
        "missing": [
            {
                "declaration": s.declaration,
                "count": s.count,
                "pinned": list(s.pinned),
                "where": s.where,
            }
            for s in drift.missing
        ],
        "differing": _numbers_json(drift.differing, "now", "declared"),
        "changed_outside": _numbers_json(drift.changed_outside, "applied", "now"),
        "vanished": [{"declaration": m.declaration, "number": m.number} for m in drift.vanished],
        "other_changes": dict(drift.other_changes),
        "unmanaged": [
            {
                "number": u.number,
                "monthly": _money(u.monthly),
                "currency": u.currency,
            }
            for u in drift.unmanaged
        ],
        "unmanaged_monthly": {c: _money(v) for c, v in drift.unmanaged_monthly().items()},
    }


def _numbers_json(numbers: Sequence[NumberDrift], before: str, after: str) -> list[dict[str, Any]]:
    return [
        {
            "declaration": n.declaration,
            "number": n.number,
            "changes": [{"field": c.field, before: c.before, after: c.after} for c in n.changes],
        }
        for n in numbers
    ]


def _money(value: Decimal | None) -> str | None:
    return None if value is None else amount_text(value)
