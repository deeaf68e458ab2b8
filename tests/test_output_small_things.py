"""Small things users notice: plurals, the currency of unmanaged prices, a legend that does not
read as a step, and columns that stay aligned when a provider or region name is long."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal

import jsonschema

from numbers_iac import planfile
from numbers_iac.model import ManagedNumber, Plan, Price, Purchase, Recorded, Unmanaged, Where
from numbers_iac.providers.base import InventoryRow
from numbers_iac.render import render_text, tables
from tests.test_cli import run
from tests.test_planner import N1, N2, decl, desired, owned, record
from tests.test_planner import run as plan_for

LONG_PROVIDER = "plivo-production-eu-west"

ONE_PROVIDER = """\
version: 1
providers:
  {provider}:
    type: sandbox
    apps: [support-ivr]
numbers:
  support-fr:
    provider: {provider}
    country: FR
    region: AMIENS, FRANCE
    quantity: 1
    app: support-ivr
"""


# --------------------------------------------------------------------------- plurals


def test_validate_counts_one_provider_and_one_declaration_in_the_singular(tmp_path):
    (tmp_path / "numbers.yaml").write_text(ONE_PROVIDER.format(provider="lab"))
    result = run(tmp_path, "validate")
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith("valid (1 declaration, 1 provider)")


def test_a_quantity_below_one_pinned_number_says_number(tmp_path):
    config = ONE_PROVIDER.format(provider="lab").replace(
        "    quantity: 1\n", '    quantity: 0\n    numbers: ["+33 3 22 00 00 01"]\n'
    )
    (tmp_path / "numbers.yaml").write_text(config)
    result = run(tmp_path, "validate")
    assert result.returncode == 1
    assert "quantity 0 is lower than the 1 pinned number" in result.stderr
    assert "pinned numbers" not in result.stderr


def test_planner_warnings_agree_with_their_counts():
    removed = plan_for(desired(), [owned(N1)], [record(N1, declaration="hotline", protect=True)])
    assert any("but 1 of its numbers is protected" in w for w in removed.warnings), removed
    protected = plan_for(
        desired(decl(quantity=1, protect=True)),
        [owned(N1), owned(N2)],
        [record(N1, protect=True), record(N2, protect=True)],
    )
    assert any("holds 1 number more than its quantity" in w for w in protected.warnings)
    assert not any("(s)" in w for w in removed.warnings + protected.warnings)


def test_state_tables_count_in_words():
    one = ManagedNumber("lab", N1, "support-fr", N1[1:])
    text = tables.state_text(Recorded(numbers={("lab", N1): one}), "state.sqlite")
    assert text.splitlines()[-1] == "1 managed number, 0 pending orders."


# --------------------------------------------------------------------------- unmanaged prices


def test_unmanaged_prices_carry_the_listings_currency():
    plan = plan_for(
        desired(),
        [replace(owned(N1, monthly="1.15"), currency="EUR"), owned(N2, monthly="0.80")],
    )
    assert {u.number: u.currency for u in plan.unmanaged} == {N1: "EUR", N2: "USD"}
    text = render_text(plan)
    assert f"    {N1}   1.15 EUR/month" in text.splitlines()
    assert f"    {N2}   $0.80/month" in text.splitlines()


def test_a_saved_plan_keeps_the_currency_of_unmanaged_prices():
    plan = Plan(actions=(), unmanaged=(Unmanaged("lab", N1, Decimal("1.15"), "EUR"),))
    data = json.loads(planfile.dumps(plan))
    jsonschema.Draft202012Validator(planfile.load_schema()).validate(data)
    assert planfile.plan_from_dict(data).unmanaged == plan.unmanaged


# --------------------------------------------------------------------------- the legend


def test_the_legend_says_it_is_a_legend():
    buy = Purchase(
        "lab", "a", count=2, where=Where("FR", "local"), price=Price(Decimal(0), Decimal(1))
    )
    lines = render_text(Plan(actions=(buy,))).splitlines()
    assert lines[:2] == [
        "numbers-iac will perform the following actions:",
        "Legend: + purchase",
    ]
    assert not any(line.strip() == "+ purchase" for line in lines)


def test_the_legend_of_a_real_plan(tmp_path):
    (tmp_path / "numbers.yaml").write_text(ONE_PROVIDER.format(provider="lab"))
    result = run(tmp_path, "plan")
    assert result.stdout.splitlines()[1] == "Legend: + purchase", result.stdout


# --------------------------------------------------------------------------- columns


def _starts(line: str, cells: list[str]) -> list[int]:
    at, starts = 0, []
    for cell in cells:
        at = line.index(cell, at)
        starts.append(at)
        at += len(cell)
    return starts


def test_state_columns_stay_aligned_for_a_long_provider_name():
    records = {
        ("lab", N1): ManagedNumber("lab", N1, "support-fr", N1[1:], app="ivr"),
        (LONG_PROVIDER, N2): ManagedNumber(LONG_PROVIDER, N2, "sales", N2[1:], app="bot"),
    }
    lines = tables.state_text(Recorded(numbers=records), "state.sqlite").splitlines()
    header = _starts(lines[0], ["NUMBER", "DECLARATION", "APP", "STATUS"])
    assert _starts(lines[1], [N1, "support-fr", "ivr", "active"]) == header
    assert _starts(lines[2], [N2, "sales", "bot", "active"]) == header


def test_inventory_columns_stay_aligned_for_a_long_region_name():
    price = Price(Decimal("0"), Decimal("0.80"), "EUR")
    rows = [
        InventoryRow("FR", "local", "PARIS, FRANCE", "1", 8000, price, ("voice",)),
        InventoryRow("FR", "local", "SAINT-REMY-EN-BOUZEMONT-SAINT-GENEST", "3", 7, price),
    ]
    lines = tables.inventory_text(rows, "lab", "FR", None).splitlines()
    ends = {line.index("0.80") + 4 for line in lines[1:3]}
    assert ends == {lines[0].index("MONTHLY") + len("MONTHLY")}
    assert lines[1].index(" 1 ") == lines[2].index(" 3 ") == lines[0].index(" PREFIX")


def test_state_list_of_a_long_provider_name_as_a_user_sees_it(tmp_path):
    (tmp_path / "numbers.yaml").write_text(ONE_PROVIDER.format(provider=LONG_PROVIDER))
    applied = run(tmp_path, "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    lines = run(tmp_path, "state", "list").stdout.splitlines()
    number = lines[1].split()[1]
    assert _starts(lines[1], [number, "support-fr"]) == _starts(lines[0], ["NUMBER", "DECLARATION"])
    assert lines[-1] == "1 managed number, 0 pending orders."
