"""Renders what an apply did: one line per failure, then a Terraform-like summary line."""

from __future__ import annotations

import click

from numbers_iac.executor import DONE, FAILED, SKIPPED, ApplyReport
from numbers_iac.model import Action, Adopt, Bind, Forget, Purchase, Release, SetLabels
from numbers_iac.render.escape import for_terminal


def _subject(action: Action) -> str:
    if isinstance(action, Purchase):
        what = ", ".join(action.pinned) if action.pinned else f"{action.count} number(s)"
        return f"{action.provider} / {action.declaration}: purchase {what}"
    return (
        f"{action.provider} / {action.declaration}: {action.kind} {getattr(action, 'number', '')}"
    )


def render_report(report: ApplyReport, color: bool = False) -> str:
    lines = []
    for result in report.of_status(FAILED):
        label = click.style("failed:", fg="red", bold=True) if color else "failed:"
        lines.append(f"{label} {for_terminal(f'{_subject(result.action)}: {result.detail}')}")
    for result in report.of_status(SKIPPED):
        lines.append(f"skipped: {for_terminal(f'{_subject(result.action)}: {result.detail}')}")
    done = report.of_status(DONE)
    bought = sum(len(r.numbers) for r in report.results if isinstance(r.action, Purchase))
    updated = sum(1 for r in done if isinstance(r.action, Bind | SetLabels | Adopt | Forget))
    released = sum(1 for r in done if isinstance(r.action, Release))
    failed = len(report.of_status(FAILED))
    state = "complete" if not failed else "finished with errors"
    if report.interrupted:
        state = "interrupted"
    summary = (
        f"Apply {state}: {bought} purchased, {updated} updated, {released} released, "
        f"{failed} failed."
    )
    skipped = len(report.of_status(SKIPPED))
    if report.interrupted:
        summary += f" Interrupted: {skipped} action(s) not started; plan again for the rest."
    if color:
        summary = click.style(summary, fg="green" if not failed else "red", bold=True)
    lines.append(summary)
    return "\n".join(lines)
