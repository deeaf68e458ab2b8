"""What a reviewer reads: the terminal plan, the pull-request comment, the JSON."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest

from numbers_iac.model import (
    Adopt,
    Bind,
    PendingNote,
    Plan,
    Price,
    Purchase,
    Release,
    SetLabels,
    Unmanaged,
    Where,
)
from numbers_iac.render import FORMATS, render, render_json, render_markdown, render_text
from numbers_iac.render.markdown import MAX_CHARS
from numbers_iac.render.text import format_money

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def purchase(count: int = 2, monthly: str = "0.80", setup: str = "1.00", **kw) -> Purchase:
    return Purchase(
        kw.pop("provider", "lab"),
        kw.pop("declaration", "support-fr"),
        count=count,
        where=Where("FR", "local", "AMIENS"),
        app="support-ivr",
        price=Price(Decimal(setup), Decimal(monthly)),
        **kw,
    )


def release(number: str = "+33322000014", monthly: str | None = "0.50", **kw) -> Release:
    return Release(
        kw.pop("provider", "lab"),
        kw.pop("declaration", "support-fr"),
        number=number,
        reason="surplus: quantity 2, have 3",
        monthly=None if monthly is None else Decimal(monthly),
        **kw,
    )


def example_plan() -> Plan:
    return Plan(
        actions=(
            purchase(),
            Bind("lab", "support-fr", number="+33322000011", app="support-ivr"),
            SetLabels(
                "lab",
                "support-fr",
                number="+33322000012",
                before={"team": "ops", "env": "prod"},
                after={"team": "support", "env": "prod"},
            ),
            Adopt("lab", "support-fr", number="+33322000013", reason="pinned in configuration"),
            release(),
        ),
        pending=(PendingNote("lab", "support-fr", 1, ("+33322000015",)),),
        unmanaged=(Unmanaged("lab", "+15550000001", Decimal("1.15")),),
        warnings=("app support-ivr has no voice URL",),
    )


def line_with(text: str, needle: str) -> str:
    return next(line for line in text.splitlines() if needle in line)


# --------------------------------------------------------------------------- text


def test_summary_counts_numbers_and_nets_the_monthly_cost():
    plan = Plan(actions=(purchase(count=2, monthly="0.80"), release(monthly="0.50")))
    text = render_text(plan)
    assert "Plan: 2 to purchase, 0 to update, 1 to release." in text
    big = render_text(Plan(actions=(purchase(count=100_000, monthly="0.80"),)))
    assert "Plan: 100,000 to purchase, 0 to update, 0 to release." in big
    assert "Cost: +$1.10/month, $2.00 one-off setup." in text


def test_example_plan_reads_like_terraform():
    text = render_text(example_plan())
    assert text.startswith("numbers-iac will perform the following actions:")
    assert "# lab / support-fr" in text
    assert "app: (none) -> support-ivr" in line_with(text, "+33322000011")
    # only the changed label key is shown
    assert line_with(text, "+33322000012").endswith("labels: {team: ops} -> {team: support}")
    assert "adopt (pinned in configuration)" in line_with(text, "+33322000013")
    assert "Plan: 2 to purchase, 3 to update, 1 to release." in text


def test_action_columns_are_aligned_within_a_declaration():
    text = render_text(example_plan())
    starts = {
        line_with(text, subject).index(detail)
        for subject, detail in [
            ("purchase 2 numbers", "FR local"),
            ("+33322000011", "app:"),
            ("+33322000012", "labels:"),
            ("+33322000013", "adopt"),
            ("+33322000014", "release"),
        ]
    }
    assert len(starts) == 1


def test_release_line_is_marked_irreversible_and_needs_the_flag():
    text = render_text(example_plan())
    row = line_with(text, "+33322000014")
    assert row.lstrip().startswith("- ")
    assert "IRREVERSIBLE" in row
    assert "saves $0.50/month" in row
    assert "1 release is IRREVERSIBLE" in text
    assert "--allow-release" in text


def test_no_changes_still_reports_pending_warnings_and_unmanaged():
    plan = Plan(
        actions=(),
        pending=(PendingNote("lab", "support-fr", 1),),
        unmanaged=(Unmanaged("lab", "+15550000001"),),
        warnings=("something to know",),
    )
    text = render_text(plan)
    assert "No changes. Your numbers match the configuration." in text
    assert "1 number for lab / support-fr is pending with the provider" in text
    assert "not bought again" in text
    assert "Warning: something to know" in text
    assert "1 number on lab is not managed by this configuration" in text
    assert "Plan:" not in text


def test_unmanaged_list_is_capped_with_a_count_of_the_rest():
    plan = Plan(
        actions=(), unmanaged=tuple(Unmanaged("lab", f"+1555000{i:04d}") for i in range(13))
    )
    text = render_text(plan)
    assert "13 numbers on lab are not managed" in text
    assert "+15550000009" in text
    assert "+15550000010" not in text
    assert "and 3 more" in text


@pytest.mark.parametrize("fmt", ["text"])
def test_colour_codes_only_when_asked(fmt):
    plan = example_plan()
    plain = render(plan, fmt, color=False)
    coloured = render(plan, fmt, color=True)
    assert not ANSI.search(plain)
    assert ANSI.search(coloured)
    assert ANSI.sub("", coloured) == plain


def test_costs_are_reported_per_currency_and_unpriced_purchases_are_counted():
    eur = Purchase(
        "eu",
        "sales-de",
        count=1,
        where=Where("DE", "mobile"),
        price=Price(Decimal(0), Decimal(3), "EUR"),
    )
    unpriced = Purchase("lab", "misc", count=4, where=Where("US", "local"))
    text = render_text(Plan(actions=(purchase(count=1), eur, unpriced)))
    assert "Cost: +3.00 EUR/month and +$0.80/month, $1.00 one-off setup" in text
    assert "price unknown for 4 numbers" in text
    assert "price unknown" in line_with(text, "purchase 4 numbers")


def test_updates_only_cost_nothing():
    plan = Plan(actions=(Bind("lab", "d", number="+15550000001", app_before="a", app=None),))
    text = render_text(plan)
    assert "app: a -> (none)" in text
    assert "Cost: no change." in text


@pytest.mark.parametrize(
    ("amount", "currency", "signed", "expected"),
    [
        ("1.6", "USD", True, "+$1.60"),
        ("-0.5", "USD", True, "-$0.50"),
        ("12", "EUR", False, "12.00 EUR"),
        ("0.125", "USD", False, "$0.125"),
        ("1234.5", "USD", False, "$1,234.50"),
        ("0", "USD", True, "$0.00"),
    ],
)
def test_money_formatting(amount, currency, signed, expected):
    assert format_money(Decimal(amount), currency, signed=signed) == expected


def big_plan(declarations: int, per_declaration: int, release_every: int) -> Plan:
    actions = []
    for d in range(declarations):
        for i in range(per_declaration):
            number = f"+1555{d:03d}{i:04d}"
            name = f"decl-{d:04d}"
            if (d * per_declaration + i) % release_every == 0:
                actions.append(release(number, declaration=name))
            elif i % 3:
                actions.append(Bind("lab", name, number=number, app=f"app-{i}"))
            else:
                actions.append(purchase(count=1, declaration=name))
    return Plan(actions=tuple(actions))


@pytest.mark.parametrize(
    ("declarations", "per_declaration", "release_every"),
    [(100, 100, 37), (10_000, 1, 25), (10, 1000, 7)],
)
def test_markdown_stays_under_the_comment_limit_and_lists_every_release(
    declarations, per_declaration, release_every
):
    plan = big_plan(declarations, per_declaration, release_every)
    assert len(plan.actions) == 10_000
    md = render_markdown(plan, plan_file="plan.json")
    assert len(md) < MAX_CHARS
    for action in plan.releases:
        assert f"`{action.number}`" in md
    assert "more" in md  # something was cut, and the reader is told so
    assert "numbers-iac apply --allow-release plan.json" in md


def test_text_for_ten_thousand_actions_lists_them_all():
    plan = big_plan(100, 100, 37)
    text = render_text(plan)
    release_rows = [line for line in text.splitlines() if line.startswith("  - +1555")]
    assert len(release_rows) == len(plan.releases)
    assert all("IRREVERSIBLE" in row for row in release_rows)
    assert f"{len(plan.releases)} to release" in text


def test_markdown_puts_releases_and_cost_before_details():
    md = render_markdown(example_plan())
    assert md.startswith("## numbers-iac plan")
    release_at = md.index("⚠️ 1 release is IRREVERSIBLE")
    # the heading sums the purchases under it; the table nets the release's savings
    cost_at = md.index("### 💸 Cost increase: +$1.60/month, $2.00 one-off setup")
    details_at = md.index("<details>")
    assert release_at < cost_at < details_at
    assert "`+33322000014`" in md[release_at:cost_at]
    assert "| Numbers to release | **1** ⚠️ IRREVERSIBLE |" in md
    assert "| Monthly cost change | +$1.10 |" in md
    assert md.count("<details>") == md.count("</details>") == 1


def test_markdown_escapes_names_that_would_break_the_table_or_inject_html():
    plan = Plan(actions=(release(declaration="a|b<script>"),))
    md = render_markdown(plan)
    assert not re.search(r"(?<!\\)<script>", md)
    assert "a\\|b\\<script>" in md


def test_markdown_without_changes_has_no_apply_hint():
    md = render_markdown(Plan(actions=()))
    assert "No changes." in md
    assert "numbers-iac apply" not in md


def test_json_output_is_the_plan_file_format():
    data = json.loads(render_json(example_plan()))
    assert data["format_version"] == 1
    assert [a["kind"] for a in data["actions"]] == [
        "purchase",
        "bind",
        "labels",
        "adopt",
        "release",
    ]
    assert data["summary"]["cost"]["monthly"] == {"USD": "1.10"}


def test_render_dispatches_every_format_and_rejects_others():
    plan = example_plan()
    assert {fmt: render(plan, fmt) for fmt in FORMATS} == {
        "text": render_text(plan),
        "markdown": render_markdown(plan),
        "json": render_json(plan),
    }
    with pytest.raises(ValueError, match="unknown plan format 'yaml'"):
        render(plan, "yaml")


def test_unresolved_orders_and_settles_are_explained_in_words():
    from numbers_iac.model import PendingNote, Settle

    waiting = Plan(
        actions=(),
        pending=(PendingNote("lab", "support", 2, ("+33322000009",), "unresolved", 180),),
    )
    text = render_text(waiting)
    assert "No changes to apply now" in text and "match the configuration" not in text
    assert "2 numbers for lab / support are an unresolved order (age 3 min)" in text
    assert "+33322000009" in text
    md = render_markdown(waiting)
    assert "| Unresolved orders (held back) | 2 |" in md
    assert "| Pending with the provider | 0 |" in md

    settling = Plan(
        actions=(
            Settle("lab", "support", entry_id=12, adopted=("+33322000009",), age_seconds=60),
            Settle("lab", "support", entry_id=13, not_bought=1, age_seconds=1200),
        )
    )
    text = render_text(settling)
    assert "journal entry 12   settle an unresolved purchase (it bought +33322000009)" in text
    assert "1 number never arrived in 20 min: counted as not bought" in text
    assert "Plan: 0 to purchase" in text
