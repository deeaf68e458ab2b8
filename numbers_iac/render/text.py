"""Plan -> what a person reads in a terminal before saying yes, shaped like Terraform's plan.

The helpers that describe one action or an amount of money are shared with the Markdown
renderer, so a pull-request comment and a terminal say the same thing in the same words.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

import click

from numbers_iac.model import (
    APP_CAUGHT_UP,
    Action,
    Adopt,
    Bind,
    CostSummary,
    Forget,
    GuardTrip,
    Misplaced,
    Move,
    PendingNote,
    Plan,
    Purchase,
    Quarantine,
    QuarantineNote,
    Release,
    Restore,
    SetLabels,
    Settle,
    Unmanaged,
)
from numbers_iac.render.escape import for_terminal
from numbers_iac.words import LIST_SHOWN, first_of, plural

#: Symbol, colour and legend text per action kind. Updates share `~` like Terraform's
#: "update in place"; `forget` only touches the state store, so it gets a quiet symbol.
SYMBOLS: dict[str, str] = {
    "purchase": "+",
    "adopt": "~",
    "bind": "~",
    "labels": "~",
    "release": "-",
    "forget": ".",
    "settle": ".",
    "move": "~",
    "quarantine": "~",
    "restore": "~",
}
_COLOURS = {"+": "green", "~": "yellow", "-": "red", ".": "cyan"}
_LEGEND = {
    "+": "purchase",
    "~": "update in place",
    "-": "release (IRREVERSIBLE)",
    ".": "state only (forget, settle)",
}
#: Order of actions inside a declaration: what is added, then changed, then removed.
KIND_ORDER = {
    "purchase": 0,
    "move": 1,
    "adopt": 1,
    "restore": 1,
    "quarantine": 2,
    "settle": 2,
    "bind": 3,
    "labels": 4,
    "release": 5,
    "forget": 6,
}
UPDATE_KINDS = (Adopt, Bind, SetLabels)
UNMANAGED_SHOWN = 10
#: how many items a long list shows before "and N more" (apply summaries, errors, journal)
_CENT = Decimal("0.01")
#: a phone number in free text (an error, a journal detail), as `shorten_lists` finds lists
_NUMBER = r"\+\d{4,15}"

Paint = Callable[..., str]


# --------------------------------------------------------------------------- shared helpers


def format_money(amount: Decimal, currency: str, signed: bool = False) -> str:
    """`$1.60`, `-$0.50`, `12.00 EUR`; two decimals, more only when the amount needs them."""
    magnitude = abs(amount)
    if magnitude == magnitude.quantize(_CENT):
        digits = f"{magnitude:,.2f}"
    else:
        digits = f"{magnitude.normalize():,f}"
    sign = "-" if amount < 0 else ("+" if signed and amount > 0 else "")
    if currency == "USD":
        return f"{sign}${digits}"
    return f"{sign}{digits} {currency}"


def shorten_lists(text: str, shown: int = LIST_SHOWN) -> str:
    """`text` with every run of more than `shown` comma-separated phone numbers cut as
    `first_of` cuts it: errors and journal details name what they bought or refused in full."""
    run = re.compile(f"{_NUMBER}(?:, {_NUMBER}){{{shown},}}")
    return run.sub(lambda match: first_of(match.group().split(", "), shown), text)


def format_labels(labels: Mapping[str, str]) -> str:
    return "{" + ", ".join(f"{key}: {value}" for key, value in labels.items()) + "}"


def changed_labels(
    before: Mapping[str, str], after: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """Only the keys whose value differs; a key missing on one side is missing there too."""
    keys = [k for k in {**before, **after} if before.get(k) != after.get(k)]
    return (
        {k: before[k] for k in keys if k in before},
        {k: after[k] for k in keys if k in after},
    )


def action_subject(action: Action) -> str:
    """The left column: the number an action touches, or what a purchase buys."""
    if isinstance(action, Purchase):
        if len(action.pinned) == 1 and action.count == 1:
            return f"purchase {action.pinned[0]}"
        return f"purchase {plural(action.count, 'number')}"
    if isinstance(action, Settle):
        return f"journal entry {action.entry_id}"
    return getattr(action, "number", "") or "(unknown number)"


def action_details(action: Action) -> list[str]:
    """The right-hand columns: what changes, and what it costs or saves."""
    if isinstance(action, Purchase):
        return _purchase_details(action)
    if isinstance(action, Adopt):
        parts = [f"adopt ({action.reason})" if action.reason else "adopt"]
        return parts + (["protected"] if action.protect else [])
    if isinstance(action, Move):
        if action.proposed:
            return [
                f"move from {action.moved_from} (proposed: looks like a rename; confirm with "
                f"moved_from: [{action.moved_from}] on {action.declaration}, or plan with "
                f"--replace {action.moved_from} to release and buy anew)"
            ]
        return [f"moved from {action.moved_from} (state only)"]
    if isinstance(action, Bind):
        return [f"app: {action.app_before or '(none)'} -> {action.app or '(none)'}"]
    if isinstance(action, SetLabels):
        return _label_details(action)
    if isinstance(action, Release):
        parts = [f"release ({action.reason})" if action.reason else "release", "IRREVERSIBLE"]
        if action.monthly is not None:
            parts.append(f"saves {format_money(action.monthly, action.currency)}/month")
        return parts
    if isinstance(action, Quarantine):
        parts = [
            f"quarantine until {action.until} ({action.reason}; released on or after that date)"
        ]
        if action.monthly is not None:
            parts.append(f"still costs {format_money(action.monthly, action.currency)}/month")
        return parts
    if isinstance(action, Restore):
        return [
            f"take back from quarantine (was to be released on {action.until}; wanted again, "
            "so nothing is bought)"
        ]
    if isinstance(action, Forget):
        return ["forget (drop the state record; the provider is not called)"]
    if isinstance(action, Settle):
        return [settle_text(action)]
    return [action.kind]


def settle_text(action: Settle) -> str:
    """What closing an unresolved purchase attempt or release means, in words."""
    if action.operation == "release":
        kept = (
            f"{', '.join(action.kept)} still on the account: not released, still managed"
            if action.kept
            else "the provider no longer lists its numbers: released"
        )
        return f"settle an interrupted release ({kept})"
    parts = []
    if action.adopted:
        parts.append(f"it bought {', '.join(action.adopted)}")
    if action.not_bought:
        parts.append(
            f"{plural(action.not_bought, 'number')} never arrived in "
            f"{format_age(action.age_seconds)}: counted as not bought"
        )
    return "settle an unresolved purchase (" + ("; ".join(parts) or "nothing to adopt") + ")"


def format_age(seconds: int | None) -> str:
    if seconds is None:
        return "an unknown time"
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


def _purchase_details(action: Purchase) -> list[str]:
    parts: list[str] = []
    if len(action.pinned) > 1 or (action.pinned and action.count != 1):
        parts.append("pinned " + ", ".join(action.pinned))
    if action.where is not None and not action.pinned:
        parts.append(action.where.describe())
    if action.app:
        parts.append(f"app {action.app}")
    if action.labels:
        parts.append(f"labels {format_labels(action.labels)}")
    if action.protect:
        parts.append("protected")
    if action.price is None:
        parts.append("price unknown")
    else:
        each = " each" if action.count > 1 else ""
        setup = format_money(action.price.setup, action.price.currency)
        monthly = format_money(action.price.monthly, action.price.currency)
        setup_part = f"{setup} setup + " if action.price.setup else ""
        parts.append(f"{setup_part}{monthly}/month{each}")
    return parts


def _label_details(action: SetLabels) -> list[str]:
    parts: list[str] = []
    before, after = changed_labels(action.before, action.after)
    if before or after:
        parts.append(f"labels: {format_labels(before)} -> {format_labels(after)}")
    if action.tag_before != action.tag:
        parts.append(f"tag: {action.tag_before or '(none)'} -> {action.tag or '(none)'}")
    return parts or ["labels: (no visible change)"]


@dataclass(frozen=True)
class Counts:
    """What the summary line counts: numbers, not API calls."""

    purchase: int
    update: int
    release: int
    forget: int
    move: int = 0
    quarantine: int = 0
    restore: int = 0

    @classmethod
    def of(cls, actions: Iterable[Action]) -> Counts:
        purchase = release = forget = 0
        updated: set[tuple[str, str]] = set()
        moved: set[tuple[str, str]] = set()
        tag_only: set[tuple[str, str]] = set()  # a moved number's tag rewrite is its move
        #: a number going into or out of quarantine: its (un)binding is part of that
        cooling: dict[str, set[tuple[str, str]]] = {"quarantine": set(), "restore": set()}
        for action in actions:
            if isinstance(action, Quarantine | Restore):
                cooling[action.kind].add((action.provider, action.number))
            elif isinstance(action, Purchase):
                purchase += action.count
            elif isinstance(action, Move):
                moved.add((action.provider, action.number))
            elif isinstance(action, SetLabels) and dict(action.before) == dict(action.after):
                tag_only.add((action.provider, action.number))
            elif isinstance(action, UPDATE_KINDS):
                updated.add((action.provider, action.number))
            elif isinstance(action, Release):
                release += 1
            elif isinstance(action, Forget):
                forget += 1
        updated |= tag_only - moved
        updated -= cooling["quarantine"] | cooling["restore"]
        return cls(
            purchase,
            len(updated),
            release,
            forget,
            len(moved),
            len(cooling["quarantine"]),
            len(cooling["restore"]),
        )


def group_actions(actions: Iterable[Action]) -> list[tuple[tuple[str, str], list[Action]]]:
    """Actions grouped by (provider, declaration), groups sorted, kinds ordered inside."""
    groups: dict[tuple[str, str], list[Action]] = {}
    for action in actions:
        groups.setdefault((action.provider, action.declaration), []).append(action)
    return [
        (key, sorted(groups[key], key=lambda a: KIND_ORDER.get(a.kind, len(KIND_ORDER))))
        for key in sorted(groups)
    ]


def cost_text(cost: CostSummary) -> str:
    """`+$1.60/month, $2.00 one-off setup`; per currency; says when prices are unknown."""
    parts: list[str] = []
    monthly = [
        f"{format_money(amount, cur, signed=True)}/month"
        for cur, amount in sorted(cost.monthly.items())
    ]
    setup = [format_money(amount, cur) for cur, amount in sorted(cost.setup.items()) if amount]
    if monthly:
        parts.append(" and ".join(monthly))
    if setup:
        parts.append(" and ".join(setup) + " one-off setup")
    if cost.unpriced:
        parts.append(f"price unknown for {plural(cost.unpriced, 'number')}")
    return ", ".join(parts) if parts else "no change"


def summary_line(plan: Plan) -> str:
    counts = Counts.of(plan.actions)
    parts = [
        f"{counts.purchase:,} to purchase",
        f"{counts.update:,} to update",
        f"{counts.release:,} to release",
    ]
    if counts.move:
        parts.append(f"{counts.move:,} to move")
    if counts.forget:
        parts.append(f"{counts.forget:,} to forget")
    if counts.quarantine:
        parts.append(f"{counts.quarantine:,} to quarantine")
    if counts.restore:
        parts.append(f"{counts.restore:,} back from quarantine")
    text = f"Plan: {', '.join(parts)}. Cost: {cost_text(plan.cost())}."
    if plan.missing:
        text += f" {missing_sentence(len(plan.missing))}"
    if plan.misplaced:
        text += f" {misplaced_sentence(plan.misplaced)}"
    return text


def missing_sentence(count: int) -> str:
    return (
        f"{plural(count, 'managed number')} missing from the provider's listing (see the "
        "warnings; never replaced without --accept-missing)."
    )


def misplaced_counts(misplaced: Sequence[Misplaced]) -> tuple[int, int]:
    """The numbers held outside their declaration's place or type, and the protected
    numbers held beyond its quantity."""
    kept = sum(1 for m in misplaced if m.field == "quantity")
    return len(misplaced) - kept, kept


def misplaced_sentence(misplaced: Sequence[Misplaced]) -> str:
    """The numbers a declaration holds but does not fit: by place or type, and a protected
    declaration's beyond its quantity."""
    unfit, kept = misplaced_counts(misplaced)
    parts = []
    if unfit:
        fit = "fits its" if unfit == 1 else "fit their"
        parts.append(
            f"{plural(unfit, 'number')} no longer {fit} declaration's country, type or prefix "
            "(see the warnings; never swapped for others)"
        )
    if kept:
        are = "is" if kept == 1 else "are"
        parts.append(
            f"{plural(kept, 'protected number')} {are} held beyond {'its' if kept == 1 else 'their'}"
            " declaration's quantity (see the warnings; never released)"
        )
    return "; ".join(parts) + "."


def irreversible_notice(release_count: int) -> str:
    subject = "1 release is" if release_count == 1 else f"{release_count} releases are"
    return (
        f"{subject} IRREVERSIBLE: released numbers go back to the carrier and cannot be "
        "reliably recovered. Apply needs --allow-release."
    )


def no_changes_sentence(plan: Plan) -> str:
    """What a plan without actions means: converged, or not quite (numbers missing from the
    listing, or held outside their declaration's place or type), or waiting on purchases in
    flight."""
    if plan.missing:
        return f"No changes to apply, but {missing_sentence(len(plan.missing))}"
    if plan.misplaced:
        return f"No changes to apply, but {misplaced_sentence(plan.misplaced)}"
    if any(note.reason == "unresolved" for note in plan.pending):
        return "No changes to apply now: purchases of unknown outcome are still being settled."
    return "No changes. Your numbers match the configuration."


def caught_up(plan: Plan) -> int:
    """Recognised numbers that the state holds, bound otherwise than the provider shows."""
    return sum(1 for a in plan.recognised if getattr(a, "reason", "") == APP_CAUGHT_UP)


def recognised_sentence(count: int, caught_up: int = 0) -> str:
    """Numbers the provider already shows as declared while the state lags: `count` in
    all, `caught_up` of them recorded but bound differently (the rest: the provider's own
    tags give them to their declarations, the state lacks them)."""
    parts = []
    tagged = count - caught_up
    if tagged:
        parts.append(
            f"{plural(tagged, 'number is', 'numbers are')} recognised by the ownership tag on "
            "the provider but missing from the state (a lost state file?)"
        )
    if caught_up:
        parts.append(
            f"{plural(caught_up, 'number is', 'numbers are')} bound as declared on the "
            "provider but not so in the state (an interrupted apply)"
        )
    return "; ".join(parts) + ": the next apply records them; nothing changes on the provider."


def pending_sentence(note: PendingNote) -> str:
    count, subject = note.count, f"{note.provider} / {note.declaration}"
    verb = "is" if count == 1 else "are"
    if note.reason == "unresolved":
        return (
            f"{plural(count, 'number')} for {subject} {verb} an unresolved order (age "
            f"{format_age(note.age_seconds)}): an apply never heard whether the purchase "
            "happened, so that much is not bought again until the provider's listing shows "
            "it or its settle time passes"
        )
    return (
        f"{plural(count, 'number')} for {subject} {verb} pending with the provider (ordered "
        "earlier, awaiting delivery or regulatory checks), not bought again"
    )


def apply_command(plan: Plan, plan_file: str) -> str:
    """The command that applies a saved plan as it was reviewed: `--allow-release` when it
    releases, and the command-line limits its run lifted (an apply holds a plan to the
    limits of its own run)."""
    flags = [" --allow-release"] if plan.releases else []
    flags += sorted({f" {trip.overridden_by}" for trip in plan.guards if trip.overridden_by})
    return f"numbers-iac apply{''.join(flags)} {plan_file}"


def guard_sentence(trip: GuardTrip) -> str:
    """A guard rail the plan goes over, as plan shows it (apply says the same, refusing)."""
    if not trip.blocking:
        return f"{trip.guard}: {trip.message}."
    flag = f"--{trip.guard.replace('_', '-')}"
    return (
        f"{trip.guard} {trip.limit}: {trip.message}. apply refuses this plan (exit 3) unless "
        f"the limit is raised (safety.{trip.guard}, or {flag} for one run)."
    )


def quarantine_heading(notes: Sequence[QuarantineNote]) -> str:
    verb = "stays" if len(notes) == 1 else "stay"
    return (
        f"{plural(len(notes), 'number')} {verb} in quarantine: unbound, still paid for, "
        "released by an apply with --allow-release on or after the date shown"
    )


def quarantine_cost(notes: Sequence[QuarantineNote]) -> str:
    """What the quarantined numbers cost meanwhile, per currency, and how many have no
    known price."""
    totals: dict[str, Decimal] = {}
    unpriced = 0
    for note in notes:
        if note.monthly is None:
            unpriced += 1
            continue
        totals[note.currency] = totals.get(note.currency, Decimal(0)) + note.monthly
    parts = [f"{format_money(amount, cur)}/month" for cur, amount in sorted(totals.items())]
    if unpriced:
        parts.append(f"price unknown for {plural(unpriced, 'number')}")
    return "Cost meanwhile: " + (" and ".join(parts) or "unknown")


def quarantine_row(note: QuarantineNote) -> tuple[str, str, str, str]:
    """Number, where, until when, and at what price ("" when unknown)."""
    price = f"{format_money(note.monthly, note.currency)}/month" if note.monthly else ""
    return note.number, f"{note.provider} / {note.declaration}", f"until {note.until}", price


def unmanaged_by_provider(unmanaged: Iterable[Unmanaged]) -> list[tuple[str, list[Unmanaged]]]:
    by_provider: dict[str, list[Unmanaged]] = {}
    for item in unmanaged:
        by_provider.setdefault(item.provider, []).append(item)
    return sorted(by_provider.items())


# --------------------------------------------------------------------------- text output


def render_text(plan: Plan, color: bool = False) -> str:
    """The whole plan as terminal text; ANSI colour only when `color` (the CLI decides)."""
    paint = _painter(color)
    lines: list[str] = _target_lines(plan.targets, paint)
    if plan.has_changes:
        lines += _legend(plan.actions, paint)
        for key, actions in group_actions(plan.actions):
            lines += _group_lines(key, actions, paint)
    else:
        lines.append(paint(no_changes_sentence(plan), bold=True))
        if plan.recognised:
            lines.append(recognised_sentence(len(plan.recognised), caught_up(plan)))
    lines += _pending_lines(plan)
    lines += _quarantine_lines(plan.quarantined)
    lines += _warning_lines(plan.warnings, paint)
    lines += _guard_lines(plan.guards, paint)
    lines += _unmanaged_lines(plan.unmanaged)
    if plan.has_changes:
        releases = sum(1 for a in plan.actions if isinstance(a, Release))
        if releases:
            lines += ["", paint(irreversible_notice(releases), fg="red", bold=True)]
        lines += ["", paint(for_terminal(summary_line(plan)), bold=True)]
    return "\n".join(lines) + "\n"


def _painter(color: bool) -> Paint:
    if color:
        return click.style
    return lambda text, **_style: text


def targets_sentence(targets: Sequence[str]) -> str:
    """What `--target` leaves out, said where the plan starts (Terraform warns the same)."""
    return (
        f"Limited to {', '.join(targets)} (--target): other declarations are not planned "
        "and apply leaves them as they are."
    )


def _target_lines(targets: tuple[str, ...], paint: Paint) -> list[str]:
    if not targets:
        return []
    return [paint(for_terminal(targets_sentence(targets)), fg="yellow", bold=True), ""]


def _legend(actions: tuple[Action, ...], paint: Paint) -> list[str]:
    """One line that says it is a legend: an indented `+ purchase` alone reads as a step."""
    present = {SYMBOLS.get(a.kind, "~") for a in actions}
    keys = [symbol for symbol in _LEGEND if symbol in present]
    legend = "   ".join(f"{paint(s, fg=_COLOURS[s])} {_LEGEND[s]}" for s in keys)
    return [
        "numbers-iac will perform the following actions:",
        f"Legend: {legend}",
    ]


def _group_lines(key: tuple[str, str], actions: list[Action], paint: Paint) -> list[str]:
    provider, declaration = key
    # names, numbers, apps, labels and reasons may come from a provider (`render.escape`)
    subjects = [for_terminal(action_subject(a)) for a in actions]
    width = max(len(s) for s in subjects)
    lines = ["", paint(for_terminal(f"  # {provider} / {declaration}"), bold=True)]
    for action, subject in zip(actions, subjects, strict=True):
        symbol = SYMBOLS.get(action.kind, "~")
        details = [
            paint(part, fg="red", bold=True) if part == "IRREVERSIBLE" else for_terminal(part)
            for part in action_details(action)
        ]
        row = "   ".join([subject.ljust(width), *details])
        lines.append(f"  {paint(symbol, fg=_COLOURS[symbol])} {row}".rstrip())
    return lines


def _pending_lines(plan: Plan) -> list[str]:
    if not plan.pending:
        return []
    lines = [""]
    for note in sorted(plan.pending, key=lambda n: (n.provider, n.declaration)):
        line = f"… {pending_sentence(note)}"
        if note.numbers:
            line += ": " + ", ".join(note.numbers)
        lines.append(for_terminal(line))
    return lines


def _quarantine_lines(notes: tuple[QuarantineNote, ...]) -> list[str]:
    if not notes:
        return []
    lines = ["", for_terminal(quarantine_heading(notes)) + ":"]
    rows = [quarantine_row(note) for note in sorted(notes, key=lambda n: (n.until, n.number))]
    width = max(len(where) for _, where, _, _ in rows)
    lines += [
        for_terminal(f"    {number}   {where.ljust(width)}   {until}   {price}".rstrip())
        for number, where, until, price in rows[:UNMANAGED_SHOWN]
    ]
    if len(rows) > UNMANAGED_SHOWN:
        lines.append(f"    … and {len(rows) - UNMANAGED_SHOWN} more")
    lines.append(f"  {quarantine_cost(notes)}")
    return lines


def _guard_lines(trips: tuple[GuardTrip, ...], paint: Paint) -> list[str]:
    lines: list[str] = []
    for trip in trips:
        label = "Guard:" if trip.blocking else "Guard note:"
        colour = "red" if trip.blocking else "yellow"
        lines += ["", f"{paint(label, fg=colour, bold=True)} {for_terminal(guard_sentence(trip))}"]
    return lines


def _warning_lines(warnings: tuple[str, ...], paint: Paint) -> list[str]:
    lines: list[str] = []
    for warning in warnings:
        lines += ["", f"{paint('Warning:', fg='yellow', bold=True)} {for_terminal(warning)}"]
    return lines


def _unmanaged_lines(unmanaged: tuple[Unmanaged, ...]) -> list[str]:
    lines: list[str] = []
    for provider, items in unmanaged_by_provider(unmanaged):
        verb = "is" if len(items) == 1 else "are"
        lines += [
            "",
            f"{plural(len(items), 'number')} on {for_terminal(provider)} {verb} not managed by this "
            "configuration and will not be touched:",
        ]
        for item in items[:UNMANAGED_SHOWN]:
            price = ""
            if item.monthly is not None:
                price = f"   {format_money(item.monthly, item.currency)}/month"
            lines.append(f"    {for_terminal(item.number)}{price}")
        if len(items) > UNMANAGED_SHOWN:
            lines.append(f"    … and {len(items) - UNMANAGED_SHOWN} more")
    return lines
