"""Regression (third review): renames (moved_from, proposed moves) on plain data."""

from __future__ import annotations

import pytest

from numbers_iac import planner
from numbers_iac.errors import GuardError
from numbers_iac.executor import check_guards
from numbers_iac.model import (
    Account,
    Desired,
    ManagedNumber,
    Move,
    ProviderConfig,
    Purchase,
    Recorded,
    Release,
    StateConfig,
)
from tests.test_planner import APPS, N1, N2, STATE_CAPS, TAG_CAPS, decl, desired, owned, run


def two_providers(*declarations) -> Desired:
    return Desired(
        config_path="/x/numbers.yaml",
        config_digest="d1",
        providers={
            "lab": ProviderConfig("lab", "sandbox"),
            "lab2": ProviderConfig("lab2", "sandbox"),
        },
        declarations={d.name: d for d in declarations},
        state=StateConfig(path="/x/state.sqlite"),
    )


def test_moved_from_naming_numbers_on_another_provider_is_not_silently_a_release():
    """BUG: `moved_from: [support]` on a declaration of provider lab2, while support's
    numbers are on provider lab, is silently ignored: the plan releases support's numbers
    ("declaration removed") and buys new ones on lab2, with no warning and no refusal other
    than --allow-release. The user wrote moved_from precisely to keep those numbers; numbers
    cannot cross providers, so the plan must say so (warning + guard refusal, or a config
    error), not quietly turn the rename into release + purchase
    (planner.py _move_renamed only looks at the declarations of the same provider)."""
    d = two_providers(decl("support-fr", provider="lab2", moved_from=("support",)))
    records = [ManagedNumber("lab", n, "support", n[1:], created_at="2026-01-01") for n in (N1, N2)]
    accounts = {
        "lab": Account("lab", (owned(N1), owned(N2)), APPS),
        "lab2": Account("lab2", (), APPS),
    }
    p = planner.plan(
        d,
        accounts,
        Recorded({(r.provider, r.number): r for r in records}),
        {"lab": STATE_CAPS, "lab2": STATE_CAPS},
    )
    releases = [a.number for a in p.actions if isinstance(a, Release)]
    mentioned = any("moved_from" in w or "support-fr" in w for w in p.warnings)
    refused = False
    try:
        check_guards(p, None, {}, allow_release=True)
    except GuardError:
        refused = True
    assert not releases or (mentioned and refused), (releases, p.warnings)


def test_moved_from_adopts_numbers_still_tagged_with_the_old_name_after_a_lost_state():
    """BUG: with an ownership tag (Plivo alias) and a lost state file, numbers tagged with
    the old name `support` are unmanaged even though the configuration says
    `moved_from: [support]`; the plan buys 2 new numbers (money every month) and leaves the
    customers' numbers unmanaged. planner.py _claim only honours tags naming a declared
    name; a tag naming a `moved_from` entry should claim the number for the declaration
    that moved from it (with no state, the tag is the only record of ownership)."""
    d = desired(decl("support-fr", moved_from=("support",)))
    p = run(d, [owned(N1, tag="support"), owned(N2, tag="support")], [], caps=TAG_CAPS)
    bought = sum(a.count for a in p.actions if isinstance(a, Purchase))
    assert bought == 0, [a.kind for a in p.actions]


def test_protect_of_a_moved_number_is_not_silently_dropped():
    """BUG (protect lost): numbers of removed declaration `support` were `protect: true`;
    `moved_from: [support]` into an unprotected declaration with a lower quantity plans the
    release of a protected number as "surplus". The guard catches it this time, but the
    planner is supposed never to plan a protected release, and once the Move is applied
    (the record takes the new declaration's protect=False) the protection is gone for good
    with no warning. planner.py _converge_member Move(protect=declaration.protect) and
    _release_surplus ignores the moved numbers' recorded protect."""
    d = desired(decl("support-fr", quantity=1, moved_from=("support",)))
    recs = [
        ManagedNumber("lab", n, "support", n[1:], protect=True, created_at="2026-01-01")
        for n in (N1, N2)
    ]
    p = run(d, [owned(N1), owned(N2)], recs)
    releases = [a.number for a in p.actions if isinstance(a, Release)]
    warned = any("protect" in w for w in p.warnings)
    assert not releases and warned, (releases, p.warnings)


N3, N4 = "+33322000003", "+33322000004"


def test_confirming_a_proposed_move_does_not_release_the_numbers_it_promised_to_keep():
    """BUG: removed `support` holds 4 numbers; new `support-fr` (same place) wants 2. The
    plan proposes the move and apply refuses with "add `moved_from: [support]` to
    support-fr to keep its 4 number(s)". Doing exactly that yields a plan that RELEASES 2
    of the moved customers' numbers as "surplus" (planner.py _move_renamed moves every
    number, then _plan_declaration/_release_surplus trims them), and `apply
    --allow-release` in a pipeline loses them. A rename must never release in the same
    plan (or the proposal must not promise to keep them): moved numbers should not count
    as surplus until a later plan, or the plan should refuse/warn."""
    base = dict(quantity=2, region="AMIENS, FRANCE")
    recs = [
        ManagedNumber("lab", n, "support", n[1:], created_at="2026-01-01") for n in (N1, N2, N3, N4)
    ]
    listing = [owned(n) for n in (N1, N2, N3, N4)]
    proposed = run(desired(decl("support-fr", **base)), listing, recs)
    with pytest.raises(GuardError, match="add `moved_from: \\[support\\]` to support-fr"):
        check_guards(proposed, None, {}, allow_release=True)
    confirmed = run(desired(decl("support-fr", moved_from=("support",), **base)), listing, recs)
    released = [a.number for a in confirmed.actions if isinstance(a, Release)]
    assert released == [], f"confirming the move releases {released}"


def test_a_declaration_moved_to_another_provider_does_not_block_every_apply():
    """BUG (deadlock): declaration `support` moved from provider lab to lab2 (still
    declared). On lab its numbers look like a removed declaration, so they are proposed as
    a move into `sales` (same place, needs numbers) and apply refuses the whole plan, all
    providers included. Both ways out the refusal names are refused too: `moved_from:
    [support]` is a config error ("'support' is still declared") and `--replace support`
    is refused by engine._check_replace ("support is still declared"). planner.py
    _move_renamed's `by_name` is per provider; a name declared on another provider should
    not be a rename candidate (release it as before, or say so)."""
    d = two_providers(
        decl("support", provider="lab2", region="AMIENS, FRANCE"),
        decl("sales", region="AMIENS, FRANCE"),
    )
    recs = [ManagedNumber("lab", n, "support", n[1:], created_at="2026-01-01") for n in (N1, N2)]
    p = planner.plan(
        d,
        {"lab": Account("lab", (owned(N1), owned(N2)), APPS), "lab2": Account("lab2", (), APPS)},
        Recorded({(r.provider, r.number): r for r in recs}),
        {"lab": STATE_CAPS, "lab2": STATE_CAPS},
    )
    proposed = [a for a in p.actions if isinstance(a, Move) and a.proposed]
    assert not proposed and "support" not in p.ambiguous_moves, proposed


def test_a_moved_from_that_names_nothing_in_the_state_is_reported():
    """BUG: `moved_from: [suport]` (a typo of `support`) names no declaration the state
    holds numbers for, and is silently ignored; with the new declaration in another region
    (so no rename is proposed) the plan releases support's numbers and buys new ones with
    no word that the user's moved_from matched nothing. planner.py _move_renamed skips an
    unknown old name without a warning; it should warn (and apply refuse releases of a
    removed declaration while a moved_from in the config matches nothing)."""
    d = desired(decl("support-fr", moved_from=("suport",), region="PARIS"))
    recs = [ManagedNumber("lab", n, "support", n[1:], created_at="2026-01-01") for n in (N1, N2)]
    p = run(d, [owned(N1), owned(N2)], recs)
    assert any("suport" in w for w in p.warnings), p.warnings
