"""Renaming is not releasing: moves on plain data (no provider, no state file)."""

from __future__ import annotations

import dataclasses

import pytest

from numbers_iac.errors import GuardError
from numbers_iac.executor import check_guards
from numbers_iac.model import Move, Purchase, Release
from tests.test_planner import N1, N2, N3, TAG_CAPS, decl, desired, owned, record, run


def moves(plan) -> list[tuple[str, str, str, bool]]:
    return [
        (a.number, a.moved_from, a.declaration, a.proposed)
        for a in plan.actions
        if isinstance(a, Move)
    ]


def kinds(plan) -> set[str]:
    return {a.kind for a in plan.actions}


AMIENS = {"region": "AMIENS, FRANCE"}


def listed(number: str, tag: str | None = None):
    return owned(number, tag=tag).__class__(
        **{**owned(number, tag=tag).__dict__, "number_type": "local", "region": "AMIENS, FRANCE"}
    )


def test_moved_from_moves_the_numbers_with_no_release_and_no_purchase():
    d = desired(decl("support-fr", moved_from=("support",), labels={"team": "a"}, **AMIENS))
    p = run(
        d,
        [listed(N1), listed(N2)],
        [record(N1, "support", labels={"team": "a"}), record(N2, "support", labels={"team": "a"})],
    )
    assert moves(p) == [(N1, "support", "support-fr", False), (N2, "support", "support-fr", False)]
    assert kinds(p) == {"move"}  # labels travel with the numbers: nothing else to do
    check_guards(p, None, {}, allow_release=False)  # nothing to refuse


def test_a_rename_without_moved_from_is_proposed_and_apply_refuses_it():
    d = desired(decl("support-fr", **AMIENS))
    p = run(d, [listed(N1), listed(N2)], [record(N1, "support"), record(N2, "support")])
    assert moves(p) == [(N1, "support", "support-fr", True), (N2, "support", "support-fr", True)]
    assert not [a for a in p.actions if isinstance(a, Release | Purchase)]
    with pytest.raises(GuardError, match=r"support-fr looks like support renamed.*moved_from"):
        check_guards(p, None, {}, allow_release=True)


def test_replace_chooses_release_and_purchase_explicitly():
    d = desired(decl("support-fr", **AMIENS))
    p = run(
        d,
        [listed(N1), listed(N2)],
        [record(N1, "support"), record(N2, "support")],
        replace=("support",),
    )
    assert moves(p) == []
    assert sorted(a.kind for a in p.actions) == ["purchase", "release", "release"]
    check_guards(p, None, {}, allow_release=True)


def test_two_candidates_are_never_guessed_between():
    d = desired(decl("support-fr", **AMIENS), decl("sales-fr", **AMIENS))
    p = run(d, [listed(N1)], [record(N1, "support")])
    assert moves(p) == []
    assert p.ambiguous_moves == {"support": ("sales-fr", "support-fr")}
    assert any("does not guess" in w for w in p.warnings)
    with pytest.raises(GuardError, match="fit sales-fr and support-fr"):
        check_guards(p, None, {}, allow_release=True)


def test_numbers_from_another_place_are_not_a_rename():
    d = desired(decl("support-de", country="DE", region="Berlin"))
    p = run(d, [listed(N1)], [record(N1, "support")])
    assert moves(p) == [] and p.ambiguous_moves == {}
    assert {"release", "purchase"} <= kinds(p)


def test_a_declaration_that_has_its_numbers_takes_no_proposal():
    d = desired(decl("support-fr", quantity=1, **AMIENS))
    p = run(d, [listed(N1), listed(N3)], [record(N1, "old"), record(N3, "support-fr")])
    assert moves(p) == [] and [a.number for a in p.actions if isinstance(a, Release)] == [N1]


def test_the_ownership_tag_follows_a_confirmed_move():
    d = desired(decl("support-fr", quantity=1, moved_from=("support",), **AMIENS))
    p = run(d, [listed(N1, tag="support")], [record(N1, "support")], caps=TAG_CAPS)
    assert moves(p) == [(N1, "support", "support-fr", False)]
    (labels,) = [a for a in p.actions if a.kind == "labels"]
    assert (labels.tag_before, labels.tag) == ("support", "support-fr")


def test_a_rename_is_seen_where_the_provider_names_numbers_by_an_id():
    """A declaration by prefix on a provider whose listing names each number by an id or a
    hash (Voximplant, CALLR, MessageMedia): its numbers fit the renamed declaration by their
    digits, so the rename is proposed as a move, not planned as a release and a purchase."""

    def by_id(number: str):
        return dataclasses.replace(listed(number), region=None, provider_id=f"id-{number[-4:]}")

    d = desired(decl("support-fr", prefix="322"))
    p = run(d, [by_id(N1), by_id(N2)], [record(N1, "support"), record(N2, "support")])
    assert moves(p) == [(N1, "support", "support-fr", True), (N2, "support", "support-fr", True)]
    assert not [a for a in p.actions if isinstance(a, Release | Purchase)]


def test_moved_from_a_name_with_no_numbers_left_says_the_line_can_go():
    """After the move is applied the old name holds nothing: the plan says the line can be
    removed (it is not necessarily a typo), and nothing moves."""
    d = desired(decl("support-fr", moved_from=("support",), **AMIENS))
    p = run(d, [listed(N1), listed(N2)], [record(N1, "support-fr"), record(N2, "support-fr")])
    assert moves(p) == []
    assert (
        "support-fr has moved_from: [support], and the state holds no numbers of support: "
        "nothing moves. If its move is applied, remove the line; if not, check the name"
    ) in p.warnings


def test_numbers_left_behind_by_a_declaration_moved_to_another_provider_say_so():
    """`support` now names provider lab2: its numbers on lab do not follow (numbers never
    move between accounts), and the release says why instead of "declaration removed"."""
    from numbers_iac import planner
    from numbers_iac.model import Account, ProviderConfig, Recorded
    from tests.test_planner import APPS, STATE_CAPS

    d = desired(decl("support", provider="lab2", **AMIENS))
    d = dataclasses.replace(d, providers={**d.providers, "lab2": ProviderConfig("lab2", "sandbox")})
    recorded = Recorded({("lab", N1): record(N1, "support")})
    accounts = {"lab": Account("lab", (listed(N1),), APPS), "lab2": Account("lab2", (), APPS)}
    p = planner.plan(d, accounts, recorded, {"lab": STATE_CAPS, "lab2": STATE_CAPS})
    releases = [a for a in p.actions if isinstance(a, Release)]
    assert [(a.provider, a.number, a.reason) for a in releases] == [
        ("lab", N1, "declaration moved to another provider")
    ]


def test_a_merge_that_overshoots_the_quantity_releases_none_of_the_declarations_own():
    """`old` (2 numbers) merges into `new` (2 numbers) raised to 3: 4 held for 3. Nothing
    is released or quarantined in the plan that moves them in, not even `new`'s own; a
    later plan, once the move is recorded, releases the surplus."""
    d = desired(decl("new", quantity=3, moved_from=("old",), **AMIENS))
    numbers = [listed(n) for n in (N1, N2, N3, "+33322000004")]
    records = [
        record(N1, "new"),
        record(N2, "new"),
        record(N3, "old"),
        record("+33322000004", "old"),
    ]
    p = run(d, numbers, records)
    assert [m[0] for m in moves(p)] == [N3, "+33322000004"]
    assert not [a for a in p.actions if isinstance(a, Release) or a.kind == "quarantine"]
    assert any("takes in more numbers than its quantity (4 for 3)" in w for w in p.warnings)
