"""Plan -> a pull-request comment: what is irreversible and what costs money comes first.

GitHub rejects comments over 65,536 characters, so the output is kept under `MAX_CHARS` at
any size. The summary table and the IRREVERSIBLE section come first and keep every
declaration's release count; each release is listed by number while that fits, and past the
budget the lists are cut to their first numbers with "and N more" and a pointer to where the
full list is (the saved plan, `numbers-iac plan --format text`). Per-declaration details get
what is left.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from numbers_iac.model import Action, CostSummary, Plan, Purchase, Release
from numbers_iac.render.escape import for_html, for_markdown, for_markdown_code
from numbers_iac.render.text import (
    Counts,
    action_details,
    action_subject,
    apply_command,
    caught_up,
    cost_text,
    first_of,
    format_money,
    group_actions,
    guard_sentence,
    misplaced_counts,
    no_changes_sentence,
    pending_sentence,
    plural,
    quarantine_cost,
    quarantine_heading,
    quarantine_row,
    recognised_sentence,
    unmanaged_by_provider,
)

MAX_CHARS = 60_000
#: Past this many releases, they are listed as bare numbers per declaration to stay short.
RELEASES_IN_FULL = 50
#: How many numbers per declaration the release section shows, in turn, until it fits
RELEASE_SHOWN = (20, 5, 0)
LINES_PER_DECLARATION = 20
LIST_LIMIT = 20
#: Room kept for the per-declaration details when releases are many
DETAILS_RESERVE = 4_000
#: One warning or pending note is cut past this many characters
LINE_LIMIT = 1_000
_ICONS = {
    "purchase": "➕",
    "adopt": "🔄",
    "bind": "🔄",
    "labels": "🔄",
    "release": "⚠️",
    "forget": "🗑️",
    "settle": "📒",
    "move": "🔀",
    "quarantine": "⏸️",
    "restore": "▶️",
}


def render_markdown(plan: Plan, plan_file: str | None = None, cwd: str | None = None) -> str:
    """The plan as GitHub-flavoured Markdown, bounded in size (see the module docstring).

    `plan_file`: where the plan was saved (`plan -out`), if it was: the apply hint names it.
    `cwd`: the working directory, against which the configuration's path is shown (a CI
    runner's absolute path means nothing in a pull request)."""
    head = [*_heading(plan, cwd), *_summary_table(plan), *_guard_section(plan)]
    if not plan.has_changes:
        head += ["", f"**{no_changes_sentence(plan)}**"]
        if plan.recognised:
            head += ["", recognised_sentence(len(plan.recognised), caught_up(plan))]
    cost = _cost_section(plan)
    tail = [
        *_pending_section(plan),
        *_quarantine_section(plan),
        *_warning_section(plan),
        *_unmanaged_section(plan),
    ]
    tail += _apply_hint(plan, plan_file)
    full_list = _full_list_sentence(plan_file)
    fixed = _size(head + cost + tail)
    releases = _release_section(plan.releases, MAX_CHARS - fixed - DETAILS_RESERVE, full_list)
    details: list[str] = []
    if plan.has_changes:
        budget = MAX_CHARS - fixed - _size(releases) - 500
        details = _details_section(plan.actions, budget, full_list)
    text = "\n".join(head + releases + cost + details + tail) + "\n"
    if len(text) < MAX_CHARS:
        return text
    # only when warnings or labels are huge: the details go, then the tail is cut
    details = ["", f"Details are left out to stay under GitHub's comment limit; {full_list}"]
    lines = head + releases + cost + details
    room = MAX_CHARS - _size(lines) - 200
    kept = _fit(tail, room)
    if len(kept) < len(tail):
        kept.append(f"… cut to stay under GitHub's comment limit; {full_list}")
    return "\n".join(lines + kept) + "\n"


def _size(lines: Sequence[str]) -> int:
    return sum(len(line) + 1 for line in lines)


def _fit(lines: Sequence[str], room: int) -> list[str]:
    """The first `lines` whose size stays within `room`."""
    kept: list[str] = []
    for line in lines:
        room -= len(line) + 1
        if room < 0:
            break
        kept.append(line)
    return kept


def _full_list_sentence(plan_file: str | None) -> str:
    if plan_file:
        return (
            f"the full list is in the saved plan {for_markdown_code(plan_file)} and in "
            "`numbers-iac plan --format text`."
        )
    return (
        "the full list is in `numbers-iac plan --format text` (or a plan saved with "
        "`numbers-iac plan -out FILE`)."
    )


def shown_path(path: str, cwd: str | None) -> str:
    """`path` relative to `cwd` when both are absolute (pure: no file system access)."""
    if not cwd or not os.path.isabs(path) or not os.path.isabs(cwd):
        return path
    try:
        return os.path.relpath(path, cwd)
    except ValueError:  # another drive (Windows)
        return path


def escape(text: str) -> str:
    """Free text (names, reasons, warnings) must not turn into markup, start a block, break
    a table or a line: it may come from a provider (see `render.escape`)."""
    return for_markdown(text)


def _heading(plan: Plan, cwd: str | None) -> list[str]:
    lines = ["## numbers-iac plan"]
    if plan.config_path:
        lines.append(f"Configuration: {for_markdown_code(shown_path(plan.config_path, cwd))}")
    if plan.targets:
        lines.append("Limited to: " + ", ".join(for_markdown_code(t) for t in plan.targets))
    return lines


def _summary_table(plan: Plan) -> list[str]:
    counts = Counts.of(plan.actions)
    cost = plan.cost()
    releases = f"**{counts.release:,}** ⚠️ IRREVERSIBLE" if counts.release else "0"
    monthly = " and ".join(
        format_money(amount, cur, signed=True) for cur, amount in sorted(cost.monthly.items())
    )
    setup = " and ".join(
        format_money(amount, cur) for cur, amount in sorted(cost.setup.items()) if amount
    )
    rows = [
        ("Numbers to purchase", _count(counts.purchase)),
        ("Numbers to update", _count(counts.update)),
        ("Numbers to release", releases),
        (
            "Pending with the provider",
            _count(sum(n.count for n in plan.pending if n.reason == "pending")),
        ),
        ("Monthly cost change", escape(monthly) or "none"),
        ("One-off setup", escape(setup) or "none"),
    ]
    if counts.forget:
        rows.insert(3, ("State records to forget", _count(counts.forget)))
    if counts.restore:
        rows.insert(3, ("Numbers back from quarantine", _count(counts.restore)))
    if counts.quarantine:
        rows.insert(3, ("Numbers to quarantine (cooling-off)", _count(counts.quarantine)))
    if plan.quarantined:
        rows.insert(3, ("Numbers in quarantine", _count(len(plan.quarantined))))
    if counts.move:
        rows.insert(3, ("Numbers to move (renames)", _count(counts.move)))
    if plan.missing:
        rows.insert(3, ("Managed numbers missing (drift)", _count(len(plan.missing))))
    unfit, kept = misplaced_counts(plan.misplaced)
    if kept:
        rows.insert(3, ("Protected numbers beyond their quantity (kept)", _count(kept)))
    if unfit:
        rows.insert(3, ("Numbers outside their declaration's place or type", _count(unfit)))
    unresolved = sum(n.count for n in plan.pending if n.reason == "unresolved")
    if unresolved:
        rows.insert(4, ("Unresolved orders (held back)", _count(unresolved)))
    if cost.unpriced:
        rows.append(("Price unknown", plural(cost.unpriced, "number")))
    return ["", "| | |", "|---|---:|", *(f"| {name} | {value} |" for name, value in rows)]


def _count(count: int) -> str:
    """A count as the text around the table writes it: 2,740."""
    return f"{count:,}"


def _release_section(releases: list[Release], budget: int, full_list: str) -> list[str]:
    """Every release by number while that fits `budget`; past it, each declaration's count
    and its first numbers; past that too, counts for as many declarations as fit."""
    if not releases:
        return []
    subject = "1 release is" if len(releases) == 1 else f"{len(releases):,} releases are"
    lines = [
        "",
        f"### ⚠️ {subject} IRREVERSIBLE",
        "",
        "Released numbers go back to the carrier and cannot be reliably recovered. "
        "Applying this plan needs `--allow-release`.",
        "",
    ]
    if len(releases) <= RELEASES_IN_FULL:
        shape = [_release_line(release) for release in releases]
        if _size(lines + shape) <= budget:
            return lines + shape
    groups = group_actions(releases)
    shape = [_release_group_line(key, group, len(group)) for key, group in groups]
    if _size(lines + shape) <= budget:
        return lines + shape
    note = [
        "",
        f"Lists of numbers are cut to stay under GitHub's comment limit; {full_list}",
    ]
    for shown in RELEASE_SHOWN:
        shape = [_release_group_line(key, group, shown) for key, group in groups]
        if _size(lines + shape + note) <= budget:
            return lines + shape + note
    return lines + _fit_groups(groups, budget - _size(lines + note) - 200) + note


def _release_group_line(key: tuple[str, str], group: list[Action], shown: int) -> str:
    provider, declaration = key
    line = f"- **{escape(provider)} / {escape(declaration)}**: {plural(len(group), 'release')}"
    if shown <= 0:
        return line
    numbers = [for_markdown_code(getattr(r, "number", "")) for r in group]
    return f"{line}: {first_of(numbers, shown)}"


def _fit_groups(groups: list[tuple[tuple[str, str], list[Action]]], room: int) -> list[str]:
    """Counts only, for as many declarations as fit `room`, then what is left in one line."""
    lines = _fit([_release_group_line(key, group, 0) for key, group in groups], room)
    rest = groups[len(lines) :]
    if rest:
        numbers = sum(len(group) for _, group in rest)
        lines.append(
            f"- … and {plural(len(rest), 'more declaration')} releasing {plural(numbers, 'number')}"
        )
    return lines


def _release_line(release: Release) -> str:
    line = f"- **IRREVERSIBLE** {for_markdown_code(release.number)} on "
    line += f"{escape(release.provider)} / {escape(release.declaration)}"
    if release.reason:
        line += f": {escape(release.reason)}"
    if release.monthly is not None:
        line += f" (saves {format_money(release.monthly, release.currency)}/month)"
    return line


def _cost_section(plan: Plan) -> list[str]:
    """What the purchases cost: the heading is the sum of the lines under it (the summary
    table's figure is the net change, releases' savings included)."""
    purchases = [a for a in plan.actions if isinstance(a, Purchase)]
    cost = CostSummary.of(purchases)
    rising = any(amount > 0 for amount in cost.monthly.values()) or any(cost.setup.values())
    if not purchases or not (rising or cost.unpriced):
        return []
    title = "Cost increase" if rising else "Cost"
    lines = ["", f"### 💸 {title}: {escape(cost_text(cost))}", ""]
    lines += [_cost_line(p) for p in purchases[:LIST_LIMIT]]
    hidden = purchases[LIST_LIMIT:]
    if hidden:
        lines.append(
            f"- … and {plural(len(hidden), 'more purchase')}: "
            f"{escape(cost_text(CostSummary.of(hidden)))}"
        )
    return lines


def _cost_line(purchase: Purchase) -> str:
    line = f"- {escape(purchase.provider)} / {escape(purchase.declaration)}: "
    line += _action_text(purchase)
    if purchase.count > 1 and purchase.price is not None:
        line += f" · in all {escape(cost_text(CostSummary.of([purchase])))}"
    return line


def _details_section(actions: tuple[Action, ...], budget: int, full_list: str) -> list[str]:
    lines = ["", "### Changes by declaration"]
    used = _size(lines) + 300
    groups = group_actions(actions)
    for shown, ((provider, declaration), group) in enumerate(groups):
        block = _details_block(provider, declaration, group)
        size = _size(block)
        if used + size > budget:
            rest = groups[shown:]
            changes = sum(len(g) for _, g in rest)
            lines += [
                "",
                f"… and {plural(len(rest), 'more declaration')} with "
                f"{plural(changes, 'change')} not shown here; {full_list}",
            ]
            return lines
        lines += block
        used += size
    if any(len(group) > LINES_PER_DECLARATION for _, group in groups):
        lines += ["", f"Long declarations show their first changes; {full_list}"]
    return lines


def _details_block(provider: str, declaration: str, group: list[Action]) -> list[str]:
    counts = Counts.of(group)
    tally = ", ".join(
        f"{n} to {verb}"
        for n, verb in (
            (counts.purchase, "purchase"),
            (counts.update, "update"),
            (counts.release, "release"),
            (counts.forget, "forget"),
            (counts.move, "move"),
            (counts.quarantine, "quarantine"),
            (counts.restore, "take back"),
        )
        if n
    )
    flag = " ⚠️" if counts.release else ""
    lines = [
        "",
        "<details>",
        f"<summary><b>{for_html(provider)} / {for_html(declaration)}</b>: {tally}{flag}</summary>",
        "",
    ]
    lines += [
        f"- {_ICONS.get(a.kind, '🔄')} {_action_text(a)}" for a in group[:LINES_PER_DECLARATION]
    ]
    return [*lines, *_more(len(group) - LINES_PER_DECLARATION, "change"), "", "</details>"]


def _action_text(action: Action) -> str:
    subject = action_subject(action)
    subject = for_markdown_code(subject) if subject.startswith("+") else escape(subject)
    details = [
        "**IRREVERSIBLE**" if part == "IRREVERSIBLE" else escape(part)
        for part in action_details(action)
    ]
    return " · ".join([subject, *details])


def _pending_section(plan: Plan) -> list[str]:
    if not plan.pending:
        return []
    notes = sorted(plan.pending, key=lambda n: (n.provider, n.declaration))
    lines = ["", "### ⏳ Pending", ""]
    lines += [f"- {escape(_clip(pending_sentence(n)))}" for n in notes[:LIST_LIMIT]]
    return lines + _more(len(notes) - LIST_LIMIT, "pending order")


def _guard_section(plan: Plan) -> list[str]:
    """The guard rails the plan goes over, right under the summary: a reviewer must see
    that apply will refuse it before reading anything else."""
    if not plan.guards:
        return []
    blocking = any(trip.blocking for trip in plan.guards)
    title = "🛑 Guard rails: apply refuses this plan" if blocking else "Guard rails"
    lines = ["", f"### {title}", ""]
    return lines + [f"- {escape(_clip(guard_sentence(trip)))}" for trip in plan.guards]


def _quarantine_section(plan: Plan) -> list[str]:
    notes = sorted(plan.quarantined, key=lambda n: (n.until, n.number))
    if not notes:
        return []
    lines = ["", "### ⏸️ Quarantine", "", escape(quarantine_heading(notes)) + ":", ""]
    for number, where, until, price in (quarantine_row(n) for n in notes[:LIST_LIMIT]):
        cost = f" ({escape(price)} meanwhile)" if price else ""
        lines.append(f"- {for_markdown_code(number)} on {escape(where)}: {until}{cost}")
    lines += _more(len(notes) - LIST_LIMIT, "number in quarantine")
    return [*lines, "", escape(quarantine_cost(notes))]


def _warning_section(plan: Plan) -> list[str]:
    if not plan.warnings:
        return []
    lines = ["", "### Warnings", ""]
    lines += [f"- {escape(_clip(w))}" for w in plan.warnings[:LIST_LIMIT]]
    return lines + _more(len(plan.warnings) - LIST_LIMIT, "warning")


def _unmanaged_section(plan: Plan) -> list[str]:
    lines: list[str] = []
    for provider, items in unmanaged_by_provider(plan.unmanaged):
        shown = ", ".join(for_markdown_code(item.number) for item in items[:10])
        extra = f" and {len(items) - 10} more" if len(items) > 10 else ""
        lines += [
            "",
            f"{plural(len(items), 'number')} on {escape(provider)} not managed by this "
            f"configuration, left untouched: {shown}{extra}",
        ]
    return lines


def _apply_hint(plan: Plan, plan_file: str | None) -> list[str]:
    """How to apply what was reviewed: the saved plan when there is one (`plan -out`), else
    how to save one (`apply_command`: with the flags the plan needs)."""
    if not plan.has_changes:
        return []
    if plan_file:
        command = for_markdown_code(apply_command(plan, plan_file))
        return ["", "---", f"To apply exactly this plan: {command}"]
    return [
        "",
        "---",
        "To apply exactly this plan, save it with `numbers-iac plan -out FILE`, then run "
        f"{for_markdown_code(apply_command(plan, 'FILE'))}.",
    ]


def _clip(text: str, limit: int = LINE_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _more(hidden: int, word: str) -> list[str]:
    return [f"- … and {plural(hidden, 'more ' + word)}"] if hidden > 0 else []
