"""Guard rails (`safety:`): each limit stops an apply with exit 3 and nothing changed, `plan`
shows it in text, Markdown and JSON, and its command-line flag lets it through for one run.
The CLI runs as a user runs it, in a subprocess against the sandbox."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from numbers_iac import guards
from numbers_iac.config import load_config
from numbers_iac.errors import ConfigError, GuardError
from numbers_iac.executor import check_guards
from numbers_iac.model import (
    DEFAULT_MAX_RELEASES,
    ManagedNumber,
    Plan,
    Price,
    Purchase,
    Release,
    Safety,
    Where,
)
from tests.test_cli import run

DECLARATION = """\
version: 1
providers:
  lab:
    type: sandbox
    apps: [support-ivr]
{safety}numbers:
  support-fr:
    provider: lab
    country: FR
    type: local
    region: AMIENS, FRANCE
    quantity: {quantity}
    app: support-ivr
"""

#: guard -> (numbers held before, numbers then declared, its limit, what plan and apply say,
#: the flag that lets it through for one run)
CASES = {
    "max_purchases": (
        0,
        3,
        "2",
        "the plan buys 3 numbers: above max_purchases 2",
        ["--max-purchases", "3"],
    ),
    "max_releases": (
        4,
        1,
        "2",
        "the plan releases 3 numbers: above max_releases 2",
        ["-max-releases", "3"],
    ),
    # at every size: one number of four is 25%
    "max_release_percent": (
        4,
        3,
        "10",
        "the plan releases 1 number, 25% of 4 managed on lab: above max_release_percent 10",
        ["--max-release-percent=25"],
    ),
    "max_monthly_increase": (
        0,
        2,
        "1",
        "the plan adds +$1.60/month: above max_monthly_increase 1 (USD)",
        ["--max-monthly-increase", "1.60"],
    ),
}


def configure(directory: Path, quantity: int, safety: str = "") -> None:
    block = f"safety:\n  {safety}\n" if safety else ""
    (directory / "numbers.yaml").write_text(DECLARATION.format(safety=block, quantity=quantity))


def snapshot(directory: Path) -> tuple[bytes, str, str]:
    """The account (the sandbox's file), the state's records and its journal."""
    account = directory / ".numbers-iac" / "sandbox-lab.json"
    records = run(directory, "state", "list", "--format", "json")
    journal = run(directory, "state", "journal", "--all", "--format", "json")
    assert records.returncode == journal.returncode == 0, records.stderr + journal.stderr
    return (account.read_bytes() if account.exists() else b""), records.stdout, journal.stdout


@pytest.mark.parametrize("guard", list(CASES))
def test_a_guard_stops_apply_with_exit_3_and_plan_shows_it(tmp_path: Path, guard: str) -> None:
    held, declared, limit, sentence, flag = CASES[guard]
    if held:
        configure(tmp_path, held)
        assert run(tmp_path, "apply", "--auto-approve").returncode == 0
    configure(tmp_path, declared, f"{guard}: {limit}")

    text = run(tmp_path, "plan")
    assert text.returncode == 0, text.stderr
    assert f"Guard: {guard} {limit}: {sentence}. apply refuses this plan (exit 3)" in text.stdout

    markdown = run(tmp_path, "plan", "--format", "markdown", "-out", "plan.json")
    assert markdown.returncode == 0, markdown.stderr
    assert "### 🛑 Guard rails: apply refuses this plan" in markdown.stdout
    assert sentence.replace("_", "\\_") in markdown.stdout
    as_json = run(tmp_path, "plan", "--format", "json")
    for data in (json.loads(as_json.stdout), json.loads((tmp_path / "plan.json").read_text())):
        (trip,) = data["guards"]
        assert trip["guard"] == guard and trip["limit"] == limit and trip["blocking"]
        assert trip["message"] == sentence

    before = snapshot(tmp_path)
    for args in (["apply", "--auto-approve"], ["apply", "plan.json"]):
        refused = run(tmp_path, *args, "--allow-release")
        assert refused.returncode == 3, refused.stdout + refused.stderr
        assert f"error: refusing to apply: {sentence}; to allow it for this run, pass " in (
            refused.stderr
        )
        assert "Nothing was changed." in refused.stderr
        assert "Traceback" not in refused.stderr
        assert snapshot(tmp_path) == before

    saved = tmp_path.parent / f"{tmp_path.name}-saved"
    shutil.copytree(tmp_path, saved)

    allowed = run(tmp_path, "apply", "--auto-approve", "--allow-release", *flag)
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert run(tmp_path, "plan", "--detailed-exitcode").returncode == 0

    # a plan saved with the flag shows the lifted guard, and its hint applies it as reviewed
    lifted = run(saved, "plan", "-out", "lifted.json", *flag)
    assert lifted.returncode == 0, lifted.stderr
    assert f"Guard note: {guard}: {sentence}, lifted by {guards.FLAGS[guard]} " in (
        lifted.stdout.replace("\n", " ")
    )
    markdown = run(saved, "plan", "--format", "markdown", *flag).stdout
    assert "### Guard rails" in markdown and "(an apply needs it too)" in markdown
    assert "apply refuses" not in markdown
    (trip,) = json.loads((saved / "lifted.json").read_text())["guards"]
    assert not trip["blocking"] and trip["overridden_by"].startswith(guards.FLAGS[guard] + " ")
    hint = lifted.stderr.split("To apply exactly this plan: ")[1].strip()
    assert hint.startswith("numbers-iac apply") and trip["overridden_by"] in hint
    applied = run(saved, *hint.split()[1:])
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert run(saved, "plan", "--detailed-exitcode").returncode == 0


def test_releases_are_capped_when_safety_is_not_written(tmp_path: Path) -> None:
    """The default cap, without any `safety:` block: a typo in a quantity cannot release a
    whole account (checked without a subprocess: a hundred numbers are slow to buy)."""
    assert Safety().max_releases == DEFAULT_MAX_RELEASES == 100
    releases = tuple(
        Release("lab", "bulk", number=f"+3332200{n:04d}") for n in range(DEFAULT_MAX_RELEASES + 1)
    )
    with pytest.raises(GuardError, match="the plan releases 101 numbers: above max_releases 100"):
        check_guards(Plan(actions=releases), None, {}, allow_release=True)
    check_guards(Plan(actions=releases[:-1]), None, {}, allow_release=True)


def managed(provider: str, count: int) -> dict[tuple[str, str], ManagedNumber]:
    return {
        (provider, f"+3332201{n:04d}"): ManagedNumber(provider, f"+3332201{n:04d}", "d", "x")
        for n in range(count)
    }


def test_release_percent_counts_each_provider_over_its_own_numbers() -> None:
    releases = (
        *(Release("big", "d", number=f"+3332201{n:04d}") for n in range(20)),
        Release("small", "d", number="+33322010000"),
    )
    state = {**managed("big", 300), **managed("small", 3)}
    trips = guards.evaluate(Plan(actions=releases), Safety(max_release_percent=Decimal(10)), state)
    # 20 of 300 is within 10%; 1 of 3 is not, however small the account
    assert [(t.provider, t.figure) for t in trips] == [("small", "33.34")]
    assert trips[0].message == (
        "the plan releases 1 number, 33% of 3 managed on small: above max_release_percent 10"
    )
    (line,) = guards.refusal(trips)
    assert "pass --max-release-percent 34 " in line  # the smallest limit that lets it through


def test_a_share_just_over_the_limit_is_not_shown_as_the_limit() -> None:
    releases = tuple(Release("p", "d", number=f"+3332201{n:04d}") for n in range(31))
    (trip,) = guards.evaluate(
        Plan(actions=releases), Safety(max_release_percent=Decimal(10)), managed("p", 300)
    )
    assert "10.3% of 300 managed on p" in trip.message


def test_unknown_prices_are_said_not_passed_in_silence() -> None:
    where = Where("FR", "local")
    priced = Purchase("lab", "a", count=2, where=where, price=Price(Decimal(0), Decimal("0.80")))
    unpriced = Purchase("lab", "b", count=3, where=where)
    trips = guards.evaluate(
        Plan(actions=(priced, unpriced)), Safety(max_monthly_increase=Decimal(500)), {}
    )
    (trip,) = trips
    assert not trip.blocking and trip.figure == "unknown"
    assert trip.message == (
        "3 numbers in the plan have no known price, so max_monthly_increase 500 checks only "
        "the known prices (+$1.60/month): the real increase may be higher"
    )
    assert guards.refusal(trips) == []  # said, not refused


def test_overrides_replace_only_the_limits_given() -> None:
    configured = Safety(max_purchases=5, max_releases=2, release_after=30)
    changed = guards.overridden(configured, max_releases=10, max_purchases=None)
    assert changed == Safety(max_purchases=5, max_releases=10, release_after=30)


def test_the_safety_block_is_read_over_the_defaults(tmp_path: Path) -> None:
    configure(tmp_path, 1, "max_purchases: 200\n  max_release_percent: 2.5\n  release_after: 30d")
    safety = load_config(tmp_path / "numbers.yaml").safety
    assert safety == Safety(
        max_purchases=200,
        max_releases=DEFAULT_MAX_RELEASES,
        max_release_percent=Decimal("2.5"),
        release_after=30,
    )
    configure(tmp_path, 1)
    assert load_config(tmp_path / "numbers.yaml").safety == Safety()


def test_a_wrong_safety_block_is_reported_where_it_is_written(tmp_path: Path) -> None:
    configure(tmp_path, 1, "max_releases: -1\n  max_release_percent: 120\n  release_after: 1 month")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "numbers.yaml")
    assert [(p.line, p.path, p.message) for p in caught.value.problems] == [
        (7, "safety.max_releases", "-1 is too small: the minimum is 0"),
        (8, "safety.max_release_percent", "120 is too large: the maximum is 100"),
        (
            9,
            "safety.release_after",
            "'1 month': expected a number of days such as 30d (0d: no cooling-off)",
        ),
    ]
