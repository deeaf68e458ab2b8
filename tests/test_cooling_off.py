"""Cooling-off releases (`release_after`): a number no longer wanted is quarantined (unbound,
kept, still paid for) instead of released; wanting it back takes it out of quarantine without
buying; an apply on or after its date releases it, with --allow-release. The clock is
`NUMBERS_IAC_NOW`, which the test controls."""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from pathlib import Path

import pytest

from numbers_iac import planner
from numbers_iac.errors import GuardError
from numbers_iac.executor import check_guards
from numbers_iac.model import (
    Account,
    App,
    Declaration,
    Desired,
    ManagedNumber,
    OwnedNumber,
    Plan,
    Quarantine,
    Recorded,
    Release,
    Restore,
    Safety,
    StateConfig,
)
from numbers_iac.providers.base import Capabilities
from numbers_iac.state.sqlite import _MIGRATIONS, SqliteStateStore
from tests.test_cli import run, sandbox_world

CONFIG = """\
version: 1
providers:
  lab:
    type: sandbox
    apps: [support-ivr]
numbers:
  support-fr:
    provider: lab
    country: FR
    type: local
    region: AMIENS, FRANCE
    quantity: {quantity}
    app: support-ivr
    release_after: 30d
"""


def at(day: str) -> dict[str, str]:
    return {"NUMBERS_IAC_NOW": day}


def declare(directory: Path, quantity: int) -> None:
    (directory / "numbers.yaml").write_text(CONFIG.format(quantity=quantity))


def state(directory: Path) -> dict[str, dict]:
    """The state's records by number, as `state list --format json` shows them."""
    listed = run(directory, "state", "list", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    return {m["number"]: m for m in json.loads(listed.stdout)["numbers"]}


def test_a_surplus_number_cools_off_comes_back_and_is_released_after_its_date(tmp_path):
    declare(tmp_path, 3)
    assert run(tmp_path, "apply", "--auto-approve", env=at("2026-11-27")).returncode == 0
    world = sandbox_world(tmp_path)
    bought = sorted(world.numbers)
    assert len(bought) == 3
    newest = bought[-1]

    # lowered: quarantined, not released (no --allow-release needed, nothing irreversible)
    declare(tmp_path, 2)
    plan = run(tmp_path, "plan", "-out", "lowered.json", env=at("2026-11-27"))
    assert f"~ {newest}   quarantine until 2026-12-27 (surplus: want 2, have 3" in plan.stdout
    assert f"~ {newest}   app: support-ivr -> (none)" in plan.stdout
    assert "0 to release, 1 to quarantine" in plan.stdout
    applied = run(tmp_path, "apply", "lowered.json", env=at("2026-11-27"))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    world = sandbox_world(tmp_path)
    assert sorted(world.numbers) == bought  # still owned, still paid for
    assert world.numbers[newest].app_id is None  # calls no longer reach the app
    assert state(tmp_path)[newest]["quarantine_until"] == "2026-12-27"

    # the plan shows it, its release date and what it costs meanwhile, in every format
    text = run(tmp_path, "plan", "--detailed-exitcode", env=at("2026-12-01"))
    assert text.returncode == 0, text.stdout  # nothing to apply
    assert "1 number stays in quarantine" in text.stdout
    assert f"{newest}   lab / support-fr   until 2026-12-27   $0.80/month" in text.stdout
    assert "Cost meanwhile: $0.80/month" in text.stdout
    markdown = run(tmp_path, "plan", "--format", "markdown", env=at("2026-12-01")).stdout
    assert "### ⏸️ Quarantine" in markdown and f"`{newest}` on lab / support-fr" in markdown
    as_json = json.loads(run(tmp_path, "plan", "--format", "json", env=at("2026-12-01")).stdout)
    assert as_json["quarantined"] == [
        {
            "provider": "lab",
            "declaration": "support-fr",
            "number": newest,
            "until": "2026-12-27",
            "monthly": "0.80",
            "currency": "USD",
        }
    ]

    # wanted again before its date: taken back, bound again, nothing bought
    declare(tmp_path, 3)
    plan = run(tmp_path, "plan", "-out", "raised.json", env=at("2026-12-01"))
    assert f"~ {newest}   take back from quarantine" in plan.stdout
    assert "0 to purchase" in plan.stdout and "1 back from quarantine" in plan.stdout
    taken_back = run(tmp_path, "apply", "raised.json", env=at("2026-12-01"))
    assert taken_back.returncode == 0, taken_back.stdout + taken_back.stderr
    assert "1 taken back from quarantine" in taken_back.stdout
    world = sandbox_world(tmp_path)
    assert sorted(world.numbers) == bought
    assert [n for op, n in world.log if op == "buy"] == bought  # no purchase since the first
    assert world.numbers[newest].app_id is not None
    assert state(tmp_path)[newest]["quarantine_until"] is None

    # lowered again, and the days pass: kept until its date, released only after it
    declare(tmp_path, 2)
    assert run(tmp_path, "apply", "--auto-approve", env=at("2026-12-01")).returncode == 0
    assert state(tmp_path)[newest]["quarantine_until"] == "2026-12-31"
    early = run(tmp_path, "apply", "--auto-approve", "--allow-release", env=at("2026-12-30"))
    assert early.returncode == 0 and "No changes" in early.stdout
    assert newest in sandbox_world(tmp_path).numbers

    # a plan saved the day before is refused for what it is: made before the date came
    assert run(tmp_path, "plan", "-out", "dec30.json", env=at("2026-12-30")).returncode == 0
    moved_on = run(tmp_path, "apply", "dec30.json", "--allow-release", env=at("2026-12-31"))
    assert moved_on.returncode == 1, moved_on.stdout + moved_on.stderr
    assert "the plan was made on 2026-12-30 and its dates have moved on" in moved_on.stderr
    assert newest in sandbox_world(tmp_path).numbers

    due = run(tmp_path, "plan", env=at("2026-12-31"))
    assert f"- {newest}   release (quarantine ended 2026-12-31)   IRREVERSIBLE" in due.stdout
    refused = run(tmp_path, "apply", "--auto-approve", env=at("2026-12-31"))
    assert refused.returncode == 3 and "--allow-release" in refused.stderr
    assert newest in sandbox_world(tmp_path).numbers
    released = run(tmp_path, "apply", "--auto-approve", "--allow-release", env=at("2026-12-31"))
    assert released.returncode == 0, released.stdout + released.stderr
    assert sorted(sandbox_world(tmp_path).numbers) == bought[:-1]
    assert run(tmp_path, "plan", "--detailed-exitcode", env=at("2026-12-31")).returncode == 0


def test_a_bad_clock_is_one_error_line(tmp_path):
    declare(tmp_path, 1)
    result = run(tmp_path, "plan", env=at("next tuesday"))
    assert result.returncode == 1
    assert result.stderr.startswith("error: NUMBERS_IAC_NOW must be an ISO 8601 date or time")


# --------------------------------------------------------------------------- the planner alone

N1, N2, N3 = "+33322000001", "+33322000002", "+33322000003"
CAPS = Capabilities(apps=True)
TODAY = date(2026, 11, 27)


def owned(number: str, app_id: str | None = "app-1") -> OwnedNumber:
    return OwnedNumber(number, number[1:], country="FR", app_id=app_id, monthly=None)


def record(number: str, declaration: str = "d", until: str | None = None) -> ManagedNumber:
    return ManagedNumber("lab", number, declaration, number[1:], quarantine_until=until)


def plan_of(
    declarations: list[Declaration],
    numbers: list[OwnedNumber],
    records: list[ManagedNumber],
    today: date | None = TODAY,
    safety: Safety | None = None,
) -> Plan:
    desired = Desired(
        "numbers.yaml",
        "digest",
        {},
        {d.name: d for d in declarations},
        StateConfig(),
        safety or Safety(),
    )
    account = Account("lab", tuple(numbers), (App("app-1", "ivr"),))
    recorded = Recorded({(r.provider, r.number): r for r in records})
    return planner.plan(desired, {"lab": account}, recorded, {"lab": CAPS}, today=today)


def test_a_removed_declaration_cools_off_under_safety_release_after():
    p = plan_of(
        [],
        [owned(N1), owned(N2)],
        [record(N1, "gone"), record(N2, "gone")],
        safety=Safety(release_after=7),
    )
    assert not p.releases
    cooling = p.of_kind(Quarantine)
    assert [(a.number, a.until, a.reason) for a in cooling] == [
        (N1, "2026-12-04", "declaration removed"),
        (N2, "2026-12-04", "declaration removed"),
    ]


def test_a_declaration_may_opt_out_of_the_cooling_off_of_safety():
    declaration = Declaration("d", "lab", quantity=0, country="FR", release_after=0)
    p = plan_of([declaration], [owned(N1)], [record(N1)], safety=Safety(release_after=30))
    assert [a.number for a in p.releases] == [N1] and not p.of_kind(Quarantine)


def test_a_protected_declaration_never_releases_its_quarantined_numbers():
    declaration = Declaration("d", "lab", quantity=0, country="FR", protect=True)
    p = plan_of([declaration], [owned(N1, None)], [record(N1, until="2026-01-01")])
    assert not p.releases
    assert [n.number for n in p.quarantined] == [N1]


def test_a_pinned_number_in_quarantine_is_taken_back():
    declaration = Declaration("d", "lab", quantity=1, country="FR", pinned=(N1,), app="ivr")
    p = plan_of([declaration], [owned(N1, None)], [record(N1, until="2027-01-01")])
    assert [a.number for a in p.of_kind(Restore)] == [N1]
    assert not p.of_kind(Quarantine) and not p.releases


def test_without_a_date_nothing_is_quarantined_or_released_from_quarantine():
    declaration = Declaration("d", "lab", quantity=0, country="FR", release_after=30)
    p = plan_of(
        [declaration], [owned(N1), owned(N2)], [record(N1), record(N2, until="2000-01-01")], None
    )
    assert [a.number for a in p.releases] == [N1]  # as before cooling-off existed
    assert [n.number for n in p.quarantined] == [N2]


# --------------------------------------------------------------------------- backstop and state


def test_apply_refuses_a_release_before_the_end_of_its_quarantine():
    early = Plan(actions=(Release("lab", "d", number=N1),))
    recorded = {("lab", N1): record(N1, until="2026-12-27")}
    with pytest.raises(GuardError, match=r"\+33322000001 \(until 2026-12-27\) before the end"):
        check_guards(early, None, recorded, allow_release=True, today=date(2026, 12, 26))
    check_guards(early, None, recorded, allow_release=True, today=date(2026, 12, 27))


def test_a_state_file_from_before_cooling_off_is_migrated_in_place(tmp_path: Path):
    path = tmp_path / "state.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    db.executescript(_MIGRATIONS[1])
    db.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    db.execute(
        "INSERT INTO managed_numbers (provider, number, declaration, provider_id, created_at, "
        "updated_at) VALUES ('lab', ?, 'd', 'x', '2026-01-01', '2026-01-01')",
        (N1,),
    )
    db.commit()
    db.close()
    with SqliteStateStore(path) as store:
        (kept,) = store.load().numbers.values()
        assert kept.number == N1 and kept.quarantine_until is None
        store.save_numbers([ManagedNumber("lab", N3, "d", "y", quarantine_until="2026-12-27")])
    with SqliteStateStore(path) as store:
        loaded = store.load().numbers
        assert loaded[("lab", N3)].quarantine_until == "2026-12-27"
        assert loaded[("lab", N1)].created_at == "2026-01-01"
