"""Renders what an apply did: for a person (failures and skipped actions grouped, the
numbers bought and released, one summary line) and for a pipeline (`apply --format json`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

from numbers_iac.executor import DONE, FAILED, SKIPPED, ActionResult, ApplyReport
from numbers_iac.model import (
    Action,
    Adopt,
    Bind,
    Forget,
    Move,
    Purchase,
    Quarantine,
    Release,
    Restore,
    SetLabels,
)
from numbers_iac.render.escape import for_terminal
from numbers_iac.render.text import LIST_SHOWN, first_of, plural, shorten_lists

#: where every number an apply bought or released is listed, when the summary shows the first
FULL_LIST = "all of them: numbers-iac state journal, or apply --format json"


def render_report(report: ApplyReport, color: bool = False) -> str:
    """What an apply did, for a person: failures and skipped actions grouped by declaration
    and reason (never one line per number), what was bought and released (the first
    numbers), then one summary line that counts numbers and actions apart."""
    paint: Callable[..., str] = click.style if color else (lambda text, **_style: text)
    lines = [
        f"{paint('failed:', fg='red', bold=True)} {for_terminal(text)}"
        for text in _grouped(report.of_status(FAILED))
    ]
    lines += [f"skipped: {for_terminal(text)}" for text in _grouped(report.of_status(SKIPPED))]
    released = _released(report)
    bought = _bought(report)
    # one line per provider when there are several: the same number may be on two accounts
    several = len({provider for provider, _ in bought + released}) > 1
    for verb, pairs in (("Bought", bought), ("Released", released)):
        for provider in sorted({p for p, _ in pairs}) if several else [None]:
            numbers = [n for p, n in pairs if provider in (None, p)]
            if not numbers:
                continue
            where = f" on {provider}" if provider else ""
            more = f" ({FULL_LIST})" if len(numbers) > LIST_SHOWN else ""
            lines.append(
                for_terminal(
                    f"{verb} {plural(len(numbers), 'number')}{where}: {first_of(numbers)}{more}"
                )
            )
    summary = f"Apply {_status(report)}. {_numbers_figure(report)}. {_actions_figure(report)}"
    lines.append(paint(summary, fg="green" if report.ok else "red", bold=True))
    return "\n".join(lines)


def report_json(report: ApplyReport, refused: str | None = None) -> str:
    """Every action's result and numbers, for a pipeline (`apply --format json`); an apply
    with nothing to do has status "no changes" and no results, one a safety rule stopped
    (exit 3) status "refused" and the rule's words in `refused`."""
    done = report.of_status(DONE)
    status = _status(report) if report.results else "no changes"
    data: dict[str, Any] = {
        "apply_id": report.apply_id or None,
        "status": "refused" if refused else status,
        "numbers": _number_counts(report),
        "actions": {
            "total": len(report.results),
            "done": len(done),
            "failed": len(report.of_status(FAILED)),
            "skipped": len(report.of_status(SKIPPED)),
        },
        "bought": [number for _, number in _bought(report)],
        "released": [number for _, number in _released(report)],
        "results": [_result_json(r) for r in report.results],
    }
    if refused:
        data["refused"] = refused.splitlines()
    return json.dumps(data, indent=2)


def _status(report: ApplyReport) -> str:
    if report.interrupted:
        return "interrupted"
    return "finished with errors" if report.of_status(FAILED) else "complete"


def _number_counts(report: ApplyReport) -> dict[str, int]:
    done = [r.action for r in report.of_status(DONE)]
    # a number going into or out of quarantine is counted there, its (un)binding with it
    cooling = {(a.provider, _number(a)) for a in done if isinstance(a, Quarantine | Restore)}
    updated = {(a.provider, _number(a)) for a in done if isinstance(a, Bind | SetLabels | Adopt)}
    return {
        "purchased": len(_bought(report)),
        "updated": len(updated - cooling),
        "released": sum(1 for a in done if isinstance(a, Release)),
        "moved": sum(1 for a in done if isinstance(a, Move)),
        "forgotten": sum(1 for a in done if isinstance(a, Forget)),
        "quarantined": sum(1 for a in done if isinstance(a, Quarantine)),
        "restored": sum(1 for a in done if isinstance(a, Restore)),
    }


def _numbers_figure(report: ApplyReport) -> str:
    counts = _number_counts(report)
    shown = ["purchased", "updated", "released"]
    shown += [name for name in ("moved", "forgotten", "quarantined", "restored") if counts[name]]
    words = {"restored": "taken back from quarantine"}
    return "Numbers: " + ", ".join(f"{counts[name]:,} {words.get(name, name)}" for name in shown)


def _actions_figure(report: ApplyReport) -> str:
    done, failed = len(report.of_status(DONE)), len(report.of_status(FAILED))
    text = f"Actions: {done:,} done, {failed:,} failed"
    skipped = len(report.of_status(SKIPPED))
    if report.interrupted:
        return f"{text}, {skipped:,} not started; plan again for the rest."
    return f"{text}, {skipped:,} skipped." if skipped else f"{text}."


def _bought(report: ApplyReport) -> list[tuple[str, str]]:
    """(provider, number) of every number bought, failed purchases' included (they are on
    the account)."""
    return [
        (r.action.provider, n)
        for r in report.results
        if isinstance(r.action, Purchase)
        for n in r.numbers
    ]


def _released(report: ApplyReport) -> list[tuple[str, str]]:
    """(provider, number) of every number released."""
    return [
        (r.action.provider, _number(r.action))
        for r in report.of_status(DONE)
        if isinstance(r.action, Release)
    ]


def _number(action: Action) -> str:
    return getattr(action, "number", "") or ""


def _grouped(results: list[ActionResult]) -> list[str]:
    """One text per declaration, kind and reason: `lab / bulk: release of 30 numbers (+1, …
    and 10 more): why`; a purchase is its own group (it says how many it bought)."""
    groups: dict[tuple[str, str, str, str, int], list[ActionResult]] = {}
    for result in results:
        action = result.action
        alone = isinstance(action, Purchase) or not _number(action)
        key = (action.provider, action.declaration, action.kind, result.detail)
        groups.setdefault((*key, id(action) if alone else 0), []).append(result)
    texts = []
    for group in groups.values():
        action = group[0].action
        subject = _subject(action, [_number(r.action) for r in group])
        detail = shorten_lists(group[0].detail)
        texts.append(
            f"{action.provider} / {action.declaration}: {subject}"
            + (f": {detail}" if detail else "")
        )
    return texts


def _subject(action: Action, numbers: list[str]) -> str:
    if isinstance(action, Purchase):
        if action.pinned:
            return f"purchase {first_of(list(action.pinned))}"
        return f"purchase {plural(action.count, 'number')}"
    if len(numbers) == 1:
        return f"{action.kind} {numbers[0]}".rstrip()
    return f"{action.kind} of {plural(len(numbers), 'number')} ({first_of(numbers)})"


def _result_json(result: ActionResult) -> dict[str, Any]:
    action = result.action
    numbers = list(result.numbers) or ([_number(action)] if _number(action) else [])
    return {
        "kind": action.kind,
        "provider": action.provider,
        "declaration": action.declaration,
        "status": result.status,
        "detail": result.detail,
        "numbers": numbers,
        "action": action.to_dict(),
    }
