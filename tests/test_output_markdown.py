"""The pull-request comment: under GitHub's limit at any size with every declaration's
release count, the configuration path relative to the working directory, an apply hint that
names a plan file only when one was written, and a cost heading that sums its lines."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from numbers_iac.model import Bind, Plan, Price, Purchase, Release, Where
from numbers_iac.render import render_markdown, render_text
from numbers_iac.render.markdown import MAX_CHARS
from tests.test_cli import run, write_config


def release(number: str, declaration: str) -> Release:
    return Release(
        "plivo-eu-production",
        declaration,
        number=number,
        reason="declaration removed",
        monthly=Decimal("0.80"),
    )


def purchase(declaration: str, count: int = 1, monthly: str = "0.80", setup: str = "0") -> Purchase:
    return Purchase(
        "plivo-eu-production",
        declaration,
        count=count,
        where=Where("FR", "local", "PARIS, FRANCE"),
        price=Price(Decimal(setup), Decimal(monthly)),
    )


def ten_thousand_actions(declarations: int, releases: int) -> Plan:
    """`releases` releases spread over `declarations`, then binds up to 10,000 actions."""
    actions: list = [
        release(f"+1555{i:07d}", f"decl-{i % declarations:05d}") for i in range(releases)
    ]
    actions += [
        Bind("plivo-eu-production", f"decl-{i % declarations:05d}", number=f"+1666{i:07d}", app="x")
        for i in range(10_000 - releases)
    ]
    return Plan(actions=tuple(actions), config_path="/home/runner/work/numbers/numbers.yaml")


def release_counts(plan: Plan) -> dict[str, int]:
    counts: dict[str, int] = {}
    for action in plan.releases:
        counts[action.declaration] = counts.get(action.declaration, 0) + 1
    return counts


@pytest.mark.parametrize(
    ("declarations", "releases"),
    [(3, 9_000), (45, 9_000), (1_000, 9_000), (10_000, 10_000), (1, 10_000)],
)
def test_a_ten_thousand_action_plan_fits_a_comment_and_shows_every_release_count(
    declarations, releases
):
    plan = ten_thousand_actions(declarations, releases)
    assert len(plan.actions) == 10_000
    md = render_markdown(plan, plan_file="plan.json", cwd="/home/runner/work/numbers")
    assert len(md) < MAX_CHARS
    # the summary table and the IRREVERSIBLE section come first
    assert md.index(f"| Numbers to release | **{releases:,}** ⚠️ IRREVERSIBLE |") < md.index(
        "IRREVERSIBLE\n\nReleased numbers go back"
    )
    irreversible = md.index(f"### ⚠️ {releases:,} releases are IRREVERSIBLE")
    assert irreversible < md.index("### Changes by declaration")
    section = md[irreversible : md.index("### Changes by declaration")]
    counts = release_counts(plan)
    if declarations <= 1_000:
        for declaration, count in counts.items():
            assert f"**plivo-eu-production / {declaration}**: {count:,} releases" in section
    else:  # more declarations than lines fit: as many counts as fit, then the rest in total
        shown = re.findall(r"\*\*plivo-eu-production / (decl-\d+)\*\*: (\d+) release", section)
        assert shown and all(counts[d] == int(n) for d, n in shown)
        rest = re.search(r"and ([\d,]+) more declarations releasing ([\d,]+) numbers", section)
        assert rest, section[-500:]
        assert int(rest.group(1).replace(",", "")) == len(counts) - len(shown)
        assert int(rest.group(2).replace(",", "")) == releases - sum(int(n) for _, n in shown)
    # where the full list is
    assert "the full list is in the saved plan `plan.json` and in" in section
    assert "`numbers-iac plan --format text`" in section


def test_a_plan_that_fits_still_lists_every_release_by_number():
    plan = ten_thousand_actions(10, 600)
    md = render_markdown(plan)
    assert len(md) < MAX_CHARS
    for action in plan.releases:
        assert f"`{action.number}`" in md
    for declaration, count in release_counts(plan).items():
        assert f"**plivo-eu-production / {declaration}**: {count} releases: `+1555" in md
    assert "are cut to stay under" not in md


def test_the_configuration_path_is_relative_to_the_working_directory():
    plan = Plan(actions=(purchase("a"),), config_path="/home/runner/work/numbers/cfg/numbers.yaml")
    md = render_markdown(plan, cwd="/home/runner/work/numbers")
    assert "Configuration: `cfg/numbers.yaml`" in md
    assert "/home/runner" not in md


def test_the_apply_hint_names_a_plan_file_only_when_one_was_written():
    buys = Plan(actions=(purchase("a"),))
    assert "To apply exactly this plan: `numbers-iac apply review.json`" in render_markdown(
        buys, plan_file="review.json"
    )
    unsaved = render_markdown(buys)
    assert "plan.json" not in unsaved
    assert (
        "To apply exactly this plan, save it with `numbers-iac plan -out FILE`, then run "
        "`numbers-iac apply FILE`." in unsaved
    )
    releases = Plan(actions=(purchase("a"), release("+15550000001", "b")))
    assert "`numbers-iac apply --allow-release FILE`" in render_markdown(releases)
    assert "`numbers-iac apply --allow-release p.json`" in render_markdown(
        releases, plan_file="p.json"
    )


def _money(text: str) -> Decimal:
    return Decimal(text.replace("$", "").replace(",", "").replace("+", ""))


def test_the_cost_increase_heading_is_the_sum_of_the_lines_under_it():
    purchases = [purchase(f"d{i:02d}", count=i % 3 + 1, monthly=f"0.{i + 10}") for i in range(25)]
    plan = Plan(actions=(*purchases, release("+15550000001", "gone")))
    md = render_markdown(plan)
    heading = re.search(r"### 💸 Cost increase: \+(\$[\d,.]+)/month", md)
    assert heading
    section = md[heading.end() : md.index("### Changes by declaration")]
    monthly = re.findall(
        r"^- .*?(?:in all \+(\$[\d.,]+)/month|\$([\d.,]+)/month)$", section, re.MULTILINE
    )
    assert len(monthly) == 21  # 20 purchases, then "… and 5 more purchases: +$X/month"
    total = sum(_money(in_all or each) for in_all, each in monthly)
    assert total == _money(heading.group(1)) == sum(p.monthly_cost() for p in purchases)
    # the table nets the release's savings; the heading is what the purchases add
    net = sum(p.monthly_cost() for p in purchases) - Decimal("0.80")
    assert f"| Monthly cost change | +${net:.2f} |" in md


# --------------------------------------------------------------------------- as a user sees it


def test_plan_markdown_shows_a_relative_path_and_hints_as_the_user_planned(tmp_path):
    write_config(tmp_path)
    md = run(tmp_path, "plan", "--format", "markdown")
    assert md.returncode == 0, md.stderr
    assert "Configuration: `numbers.yaml`" in md.stdout
    assert str(tmp_path) not in md.stdout
    assert "save it with `numbers-iac plan -out FILE`" in md.stdout
    saved = run(tmp_path, "plan", "--format", "markdown", "-out", "review.json")
    assert "To apply exactly this plan: `numbers-iac apply review.json`" in saved.stdout


def test_the_text_plan_says_when_target_is_in_effect(tmp_path):
    write_config(tmp_path)
    text = run(tmp_path, "plan", "--target", "support-fr")
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith("Limited to support-fr (--target): other declarations")
    assert "hotline" not in text.stdout
    assert "Limited to" not in run(tmp_path, "plan").stdout
    assert "Limited to a, b (--target)" in render_text(Plan(actions=(), targets=("a", "b")))
