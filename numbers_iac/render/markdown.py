"""Plan -> a pull-request comment: what is irreversible and what costs money comes first.

GitHub rejects comments over 65,536 characters, so the output is kept under `MAX_CHARS`:
per-declaration details are cut with "… and N more" counts, but every release is always
listed by number, because a reviewer must be able to see each number that will be lost.
"""

from __future__ import annotations

from numbers_iac.model import Action, Plan, Purchase, Release
from numbers_iac.render.escape import for_html, for_markdown, for_markdown_code
from numbers_iac.render.text import (
    Counts,
    action_details,
    action_subject,
    cost_text,
    format_money,
    group_actions,
    no_changes_sentence,
    pending_sentence,
    plural,
    unmanaged_by_provider,
)

MAX_CHARS = 60_000
#: Past this many releases, they are listed as bare numbers per declaration to stay short.
RELEASES_IN_FULL = 50
LINES_PER_DECLARATION = 20
LIST_LIMIT = 20
_ICONS = {
    "purchase": "➕",
    "adopt": "🔄",
    "bind": "🔄",
    "labels": "🔄",
    "release": "⚠️",
    "forget": "🗑️",
    "settle": "📒",
    "move": "🔀",
}


def render_markdown(plan: Plan, plan_file: str = "plan.json") -> str:
    """The plan as GitHub-flavoured Markdown, bounded in size (see the module docstring)."""
    head = [*_heading(plan), *_summary_table(plan)]
    if plan.actions:
        head += _release_section(plan.releases)
        head += _cost_section(plan)
    else:
        head += ["", f"**{no_changes_sentence(plan)}**"]
    tail = [*_pending_section(plan), *_warning_section(plan), *_unmanaged_section(plan)]
    tail += _apply_hint(plan, plan_file)
    used = sum(len(line) + 1 for line in head + tail)
    details = _details_section(plan.actions, MAX_CHARS - used - 500) if plan.actions else []
    return "\n".join(head + details + tail) + "\n"


def escape(text: str) -> str:
    """Free text (names, reasons, warnings) must not turn into markup, start a block, break
    a table or a line: it may come from a provider (see `render.escape`)."""
    return for_markdown(text)


def _heading(plan: Plan) -> list[str]:
    lines = ["## numbers-iac plan"]
    if plan.config_path:
        lines.append(f"Configuration: {for_markdown_code(plan.config_path)}")
    if plan.targets:
        lines.append("Limited to: " + ", ".join(for_markdown_code(t) for t in plan.targets))
    return lines


def _summary_table(plan: Plan) -> list[str]:
    counts = Counts.of(plan.actions)
    cost = plan.cost()
    releases = f"**{counts.release}** ⚠️ IRREVERSIBLE" if counts.release else "0"
    monthly = " and ".join(
        format_money(amount, cur, signed=True) for cur, amount in sorted(cost.monthly.items())
    )
    setup = " and ".join(
        format_money(amount, cur) for cur, amount in sorted(cost.setup.items()) if amount
    )
    rows = [
        ("Numbers to purchase", str(counts.purchase)),
        ("Numbers to update", str(counts.update)),
        ("Numbers to release", releases),
        (
            "Pending with the provider",
            str(sum(n.count for n in plan.pending if n.reason == "pending")),
        ),
        ("Monthly cost change", escape(monthly) or "none"),
        ("One-off setup", escape(setup) or "none"),
    ]
    if counts.forget:
        rows.insert(3, ("State records to forget", str(counts.forget)))
    if counts.move:
        rows.insert(3, ("Numbers to move (renames)", str(counts.move)))
    if plan.missing:
        rows.insert(3, ("Managed numbers missing (drift)", str(len(plan.missing))))
    unresolved = sum(n.count for n in plan.pending if n.reason == "unresolved")
    if unresolved:
        rows.insert(4, ("Unresolved orders (held back)", str(unresolved)))
    if cost.unpriced:
        rows.append(("Price unknown", plural(cost.unpriced, "number")))
    return ["", "| | |", "|---|---:|", *(f"| {name} | {value} |" for name, value in rows)]


def _release_section(releases: list[Release]) -> list[str]:
    if not releases:
        return []
    subject = "1 release is" if len(releases) == 1 else f"{len(releases)} releases are"
    lines = [
        "",
        f"### ⚠️ {subject} IRREVERSIBLE",
        "",
        "Released numbers go back to the carrier and cannot be reliably recovered. "
        "Applying this plan needs `--allow-release`.",
        "",
    ]
    if len(releases) <= RELEASES_IN_FULL:
        return lines + [_release_line(release) for release in releases]
    for (provider, declaration), group in group_actions(releases):
        numbers = ", ".join(for_markdown_code(getattr(r, "number", "")) for r in group)
        lines.append(f"- **{escape(provider)} / {escape(declaration)}** ({len(group)}): {numbers}")
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
    cost = plan.cost()
    rising = any(amount > 0 for amount in cost.monthly.values()) or any(cost.setup.values())
    purchases = [a for a in plan.actions if isinstance(a, Purchase)]
    if not purchases or not (rising or cost.unpriced):
        return []
    title = "Cost increase" if rising else "Cost"
    lines = ["", f"### 💸 {title}: {escape(cost_text(cost))}", ""]
    lines += [
        f"- {escape(p.provider)} / {escape(p.declaration)}: {_action_text(p)}"
        for p in purchases[:LIST_LIMIT]
    ]
    return lines + _more(len(purchases) - LIST_LIMIT, "purchase")


def _details_section(actions: tuple[Action, ...], budget: int) -> list[str]:
    lines = ["", "### Changes by declaration"]
    used = 0
    groups = group_actions(actions)
    for shown, ((provider, declaration), group) in enumerate(groups):
        block = _details_block(provider, declaration, group)
        size = sum(len(line) + 1 for line in block)
        if used + size > budget:
            rest = groups[shown:]
            changes = sum(len(g) for _, g in rest)
            lines += [
                "",
                f"… and {plural(len(rest), 'more declaration')} with "
                f"{plural(changes, 'change')} not shown here; run `numbers-iac plan` "
                "for the full list.",
            ]
            break
        lines += block
        used += size
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
    lines += [f"- {escape(pending_sentence(n))}" for n in notes[:LIST_LIMIT]]
    return lines + _more(len(notes) - LIST_LIMIT, "pending order")


def _warning_section(plan: Plan) -> list[str]:
    if not plan.warnings:
        return []
    lines = ["", "### Warnings", ""]
    lines += [f"- {escape(w)}" for w in plan.warnings[:LIST_LIMIT]]
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


def _apply_hint(plan: Plan, plan_file: str) -> list[str]:
    if not plan.actions:
        return []
    flag = " --allow-release" if plan.releases else ""
    return ["", "---", f"To apply exactly this plan: `numbers-iac apply{flag} {plan_file}`"]


def _more(hidden: int, word: str) -> list[str]:
    return [f"- … and {hidden} more {word}{'s' if hidden != 1 else ''}"] if hidden > 0 else []
