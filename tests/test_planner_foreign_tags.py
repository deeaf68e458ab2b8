"""A declaration name is an ownership tag on the provider: after a lost state it is how the
numbers are found again, and two configurations on one account may use the same name.
Numbers claimed by their tag alone (no state record, not bought by an apply of ours) are
adopted as the state would have kept them, wherever they are (never bought again), but only
up to what the declaration wants: the plan that finds them never releases them."""

from __future__ import annotations

import re
from dataclasses import replace

from numbers_iac.model import Adopt, Purchase, Quarantine, Release
from tests.test_planner import TAG_CAPS, decl, desired, owned, record, run


def tagged(number: str, country: str = "FR", tag: str = "support"):
    return replace(owned(number, tag=tag), country=country, number_type="local")


FRENCH = [tagged(f"+3310000{i:04d}") for i in range(40)]


def kinds(plan) -> dict[str, int]:
    counts: dict[str, int] = {}
    for action in plan.actions:
        counts[action.kind] = counts.get(action.kind, 0) + 1
    return counts


def test_tagged_numbers_are_adopted_wherever_they_are_and_never_bought_again():
    """After a lost state, a declaration whose country or prefix was edited since it
    bought finds its numbers by their tag: adopted and warned about, as with the state,
    not left aside and bought again."""
    d = desired(decl("support", country="US", prefix="415", quantity=2))
    p = run(d, FRENCH[:2], [], caps=TAG_CAPS)
    assert kinds(p) == {"adopt": 2}
    assert any(
        "declares country US but holds 2 numbers of another country" in w for w in p.warnings
    )


def test_numbers_tagged_with_the_name_elsewhere_are_never_released_by_the_plan_that_finds_them():
    """Team B declares `support` in the US; team A's 40 French numbers are tagged
    `support`: B takes in two (and is told they do not fit), and releases none."""
    d = desired(decl("support", country="US", prefix="415", quantity=2))
    p = run(d, FRENCH, [], caps=TAG_CAPS)
    assert kinds(p) == {"adopt": 2}
    assert not [a for a in p.actions if isinstance(a, Purchase | Release | Quarantine)]
    assert len(p.unmanaged) == 38
    assert any("38 more numbers on lab tagged 'support'" in w for w in p.warnings)


def test_more_tagged_numbers_than_wanted_are_adopted_up_to_the_quantity_never_released():
    d = desired(decl("support", quantity=2))
    p = run(d, FRENCH, [], caps=TAG_CAPS)
    assert kinds(p) == {"adopt": 2}
    assert len(p.unmanaged) == 38
    assert any(
        "38 more numbers on lab tagged 'support' than support wants" in w for w in p.warnings
    )


def test_a_lost_state_is_still_recovered_from_the_tags():
    d = desired(decl("support", quantity=40))
    p = run(d, FRENCH, [], caps=TAG_CAPS)
    assert kinds(p) == {"adopt": 40} and not p.unmanaged
    assert not any("tagged" in w for w in p.warnings)


def test_recorded_numbers_still_count_first_and_a_surplus_of_them_is_released():
    """Numbers the state records are this configuration's: a tagged stranger never pushes
    one of them out, and lowering the quantity releases recorded ones as before."""
    mine = [record(n.number, "support") for n in FRENCH[:3]]
    d = desired(decl("support", quantity=2))
    p = run(d, FRENCH[:5], mine, caps=TAG_CAPS)
    released = [a.number for a in p.actions if isinstance(a, Release)]
    assert len(released) == 1 and released[0] in {r.number for r in mine}
    assert not [a for a in p.actions if isinstance(a, Adopt)]
    assert {u.number for u in p.unmanaged} == {n.number for n in FRENCH[3:5]}


def test_two_configurations_on_one_account_with_one_name_never_release_each_other(tmp_path):
    from tests.test_cli import run as cli

    team_a = (
        "version: 1\nstate: {backend: sqlite, path: a.sqlite}\n"
        "providers: {acct: {type: sandbox, data: acct.json}}\n"
        'numbers: {support: {provider: acct, country: FR, region: "PARIS, FRANCE", quantity: 40}}\n'
    )
    (tmp_path / "a.yaml").write_text(team_a)
    assert cli(tmp_path, "-c", "a.yaml", "apply", "--auto-approve").returncode == 0
    for where in ('country: US, prefix: "415"', 'country: FR, region: "PARIS, FRANCE"'):
        team_b = team_a.replace("a.sqlite", "b.sqlite").replace(
            'country: FR, region: "PARIS, FRANCE", quantity: 40', f"{where}, quantity: 2"
        )
        (tmp_path / "b.yaml").write_text(team_b)
        plan = cli(tmp_path, "-c", "b.yaml", "plan")
        assert plan.returncode == 0, plan.stdout + plan.stderr
        assert not re.search(r"^\s*- \+", plan.stdout, re.M), plan.stdout  # no release line
        assert "IRREVERSIBLE" not in plan.stdout
        assert "38 more numbers on acct tagged 'support' than support wants" in plan.stdout


def test_the_tagged_numbers_kept_are_the_live_ones():
    """After a lost state, 1 wanted and 2 found by tag: the one bound to the declaration's
    app (live) is kept, the unbound one (a former quarantine, say) is left unmanaged."""
    unbound = replace(tagged("+33100000001"), acquired_on="2020-01-01")
    live = replace(tagged("+33100000002"), app_id="a1", acquired_on="2025-01-01")
    d = desired(decl("support", quantity=1, app="support-ivr"))
    p = run(d, [unbound, live], [], caps=TAG_CAPS)
    assert [a.number for a in p.actions if isinstance(a, Adopt)] == ["+33100000002"]
    assert [u.number for u in p.unmanaged] == ["+33100000001"]
