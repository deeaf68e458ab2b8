"""The planner on plain data: no provider, no state file, no I/O."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from numbers_iac import planner
from numbers_iac.errors import ConfigError
from numbers_iac.model import (
    PENDING,
    Account,
    Adopt,
    App,
    Bind,
    Declaration,
    Desired,
    Forget,
    ManagedNumber,
    OwnedNumber,
    PendingOrder,
    ProviderConfig,
    Purchase,
    Recorded,
    Release,
    SetLabels,
    SourceRef,
    StateConfig,
)
from numbers_iac.providers.base import Capabilities

STATE_CAPS = Capabilities(ownership_tag=False)  # labels in state, no tag
TAG_CAPS = Capabilities(ownership_tag=True)
APPS = (App("a1", "support-ivr"), App("a2", "sales-bot"))


def decl(name="support", **kw) -> Declaration:
    base = dict(provider="lab", quantity=2, country="FR", number_type="local")
    base.update(kw)
    return Declaration(name=name, **base)


def desired(*declarations: Declaration) -> Desired:
    return Desired(
        config_path="/x/numbers.yaml",
        config_digest="d1",
        providers={"lab": ProviderConfig("lab", "sandbox")},
        declarations={d.name: d for d in declarations},
        state=StateConfig(path="/x/state.sqlite"),
    )


def owned(number: str, app_id=None, tag=None, status="active", monthly="0.80") -> OwnedNumber:
    return OwnedNumber(
        number=number,
        provider_id=number[1:],
        country="FR",
        app_id=app_id,
        tag=tag,
        status=status,
        monthly=Decimal(monthly),
    )


def record(
    number: str,
    declaration="support",
    labels=None,
    protect=False,
    created="2026-01-01",
    status="active",
):
    return ManagedNumber(
        "lab",
        number,
        declaration,
        number[1:],
        labels=labels or {},
        protect=protect,
        created_at=created,
        status=status,
    )


def run(d: Desired, numbers=(), records=(), caps=STATE_CAPS, orders=(), **kw):
    account = Account("lab", tuple(numbers), APPS)
    rec = Recorded({(r.provider, r.number): r for r in records}, tuple(orders))
    return planner.plan(d, {"lab": account}, rec, {"lab": caps}, **kw)


def kinds(plan) -> list[str]:
    return [a.kind for a in plan.actions]


N1, N2, N3, N4 = "+33322000001", "+33322000002", "+33322000003", "+33322000004"


def test_empty_account_buys_the_quantity_with_app_and_labels():
    p = run(desired(decl(app="support-ivr", labels={"team": "support"})))
    assert kinds(p) == ["purchase"]
    buy = p.actions[0]
    assert isinstance(buy, Purchase)
    assert (buy.count, buy.app_id, dict(buy.labels)) == (2, "a1", {"team": "support"})
    assert buy.where.country == "FR" and buy.where.number_type == "local"


def test_converged_account_has_no_changes():
    d = desired(decl(app="support-ivr", labels={"team": "support"}))
    records = [replace(record(n, labels={"team": "support"}), app="support-ivr") for n in (N1, N2)]
    p = run(d, [owned(N1, "a1"), owned(N2, "a1")], records)
    assert p.actions == ()
    assert not p.has_changes


def test_a_binding_the_state_missed_is_recorded_without_a_change():
    """A bind that landed while its apply was killed before recording it: the provider is
    as declared, the state still names the old app. Nothing to do on the provider (the plan
    says no changes), and the next apply records the binding."""
    d = desired(decl(app="support-ivr"))
    records = [replace(record(N1), app="sales-bot"), replace(record(N2), app="support-ivr")]
    p = run(d, [owned(N1, "a1"), owned(N2, "a1")], records)
    assert not p.has_changes and p.changes == ()
    (caught,) = p.recognised
    assert (caught.kind, caught.number, caught.app) == ("adopt", N1, "support-ivr")
    # a number bound elsewhere than declared is a Bind, whatever the state says
    p = run(d, [owned(N1, "a2"), owned(N2, "a1")], records)
    assert [(a.kind, a.number) for a in p.changes] == [("bind", N1)] and p.recognised == ()


@pytest.mark.parametrize(
    ("quantity", "have", "expected"),
    [(3, 2, ["purchase"]), (2, 2, []), (1, 2, ["release"]), (0, 2, ["release", "release"])],
)
def test_quantity_drives_purchases_and_releases(quantity, have, expected):
    numbers = [owned(n) for n in (N1, N2)[:have]]
    records = [record(n) for n in (N1, N2)[:have]]
    p = run(desired(decl(quantity=quantity)), numbers, records)
    assert kinds(p) == expected


def test_surplus_releases_newest_first_and_is_irreversible():
    records = [
        record(N1, created="2026-01-01"),
        record(N2, created="2026-03-01"),
        record(N3, created="2026-02-01"),
    ]
    p = run(desired(decl(quantity=1)), [owned(N1), owned(N2), owned(N3)], records)
    released = [a.number for a in p.releases]
    assert released == [N2, N3]
    assert N1 not in released
    assert all(a.irreversible for a in p.releases)
    assert p.cost().monthly["USD"] == Decimal("-1.60")


def test_removed_declaration_releases_its_numbers_only():
    p = run(desired(), [owned(N1), owned(N2)], [record(N1, declaration="gone")])
    assert [(a.kind, a.number) for a in p.actions] == [("release", N1)]
    assert [u.number for u in p.unmanaged] == [N2]


def test_unmanaged_numbers_are_reported_and_never_touched():
    p = run(desired(decl(quantity=0)), [owned(N1), owned(N2)])
    assert p.actions == ()
    assert {u.number for u in p.unmanaged} == {N1, N2}


def test_a_purchase_that_unmanaged_numbers_surely_fit_says_how_to_take_them_in():
    """A declaration written by hand beside numbers bought by hand would pay for as many
    again: the plan names them. Numbers whose type the listing leaves open, or of another
    country, are not offered as fitting."""
    local = replace(owned(N1), number_type="local")
    untyped = owned(N2)
    german = replace(owned("+4930123456"), country="DE", number_type="local")
    theirs = replace(owned(N3), number_type="local", tag="team-b")  # another configuration's
    p = run(desired(decl(quantity=2)), [local, untyped, german, theirs])
    assert kinds(p) == ["purchase"]
    (warning,) = [w for w in p.warnings if "unmanaged" in w]
    assert warning == (
        f"lab / support buys 2 numbers while unmanaged numbers on the account fit it ({N1}): "
        "to take them in instead of buying, list them under its numbers:"
    )
    for others in ([untyped], [theirs]):
        assert not [w for w in run(desired(decl(quantity=2)), others).warnings if "unmanaged" in w]
    in_amiens = decl(quantity=2, region="Amiens")
    assert not [w for w in run(desired(in_amiens), [local]).warnings if "unmanaged" in w]


def test_protected_declaration_never_releases_surplus():
    d = desired(decl(quantity=0, protect=True))
    p = run(d, [owned(N1)], [record(N1, protect=True)])
    assert p.releases == []
    assert any("protected" in w for w in p.warnings)


def test_removed_protected_declaration_keeps_its_numbers():
    p = run(desired(), [owned(N1)], [record(N1, declaration="hotline", protect=True)])
    assert p.releases == []
    assert any("protected" in w for w in p.warnings)


def test_pinned_number_owned_but_unmanaged_is_adopted_not_bought():
    d = desired(decl("hotline", quantity=1, pinned=(N1,), country="FR", number_type=None))
    p = run(d, [owned(N1)])
    assert kinds(p) == ["adopt"]
    assert p.actions[0].number == N1


def test_pinned_number_missing_is_bought_specifically():
    d = desired(decl("hotline", quantity=1, pinned=(N1,)))
    p = run(d)
    assert isinstance(p.actions[0], Purchase) and p.actions[0].pinned == (N1,)


def test_unpinned_number_is_released_when_quantity_follows():
    d = desired(decl("hotline", quantity=1, pinned=(N2,)))
    p = run(d, [owned(N1), owned(N2)], [record(N1, "hotline"), record(N2, "hotline")])
    assert [(a.kind, a.number) for a in p.actions] == [("release", N1)]


def test_rebind_and_unbind():
    p = run(desired(decl(quantity=1, app="sales-bot")), [owned(N1, "a1")], [record(N1)])
    bind = p.actions[0]
    assert isinstance(bind, Bind) and (bind.app_before, bind.app, bind.app_id) == (
        "support-ivr",
        "sales-bot",
        "a2",
    )
    p = run(desired(decl(quantity=1)), [owned(N1, "a1")], [record(N1)])
    assert isinstance(p.actions[0], Bind) and p.actions[0].app_id is None


def test_label_change_compares_with_recorded_labels():
    p = run(
        desired(decl(quantity=1, labels={"team": "ops"})),
        [owned(N1)],
        [record(N1, labels={"team": "support"})],
    )
    change = p.actions[0]
    assert isinstance(change, SetLabels)
    assert (dict(change.before), dict(change.after)) == ({"team": "support"}, {"team": "ops"})


def test_tag_claims_numbers_after_a_lost_state_and_writes_missing_tags():
    d = desired(decl(quantity=2))
    p = run(d, [owned(N1, tag="support"), owned(N2, tag="support")], caps=TAG_CAPS)
    assert kinds(p) == ["adopt", "adopt"]
    p = run(d, [owned(N1, tag="support"), owned(N2)], [record(N1), record(N2)], caps=TAG_CAPS)
    assert [(a.kind, a.number, a.tag) for a in p.actions] == [("labels", N2, "support")]


def test_unknown_app_is_a_located_error():
    d = decl(
        app="nope",
        source=SourceRef("numbers.yaml", 3, 3),
        field_sources={"app": SourceRef("numbers.yaml", 9, 10)},
    )
    with pytest.raises(ConfigError) as err:
        run(desired(d))
    text = str(err.value)
    assert "numbers.yaml:9:10" in text and "nope" in text and "support-ivr" in text


def test_duplicate_app_names_are_an_error():
    d = desired(decl(app="dup"))
    with pytest.raises(ConfigError, match="2 apps named 'dup'"):
        planner.plan(
            d,
            {"lab": Account("lab", (), (App("1", "dup"), App("2", "dup")))},
            Recorded(),
            {"lab": STATE_CAPS},
        )


def test_pending_numbers_count_and_are_not_bought_again():
    p = run(
        desired(decl(quantity=2)),
        [owned(N1), owned(N2, status=PENDING)],
        [record(N1), record(N2, status=PENDING)],
    )
    assert p.actions == ()
    assert [n.numbers for n in p.pending] == [(N2,)]
    p = run(desired(decl(quantity=2)), [owned(N1)], [record(N1), record(N2, status=PENDING)])
    assert p.actions == () and p.pending


def test_pending_order_counts_toward_quantity():
    order = PendingOrder("o1", "lab", "support", 2)
    p = run(desired(decl(quantity=3)), [owned(N1)], [record(N1)], orders=[order])
    assert p.actions == ()
    assert p.pending[0].count == 2


def test_vanished_number_is_not_replaced_unless_accepted():
    d = desired(decl(quantity=2))
    p = run(d, [owned(N1)], [record(N1), record(N2)])
    assert p.actions == ()
    assert any(N2 in w and "--accept-missing support" in w for w in p.warnings)
    p = run(d, [owned(N1)], [record(N1), record(N2)], accept_missing=["support"])
    assert kinds(p) == ["forget", "purchase"]
    assert isinstance(p.actions[0], Forget) and p.actions[1].count == 1


def test_targets_limit_the_plan():
    d = desired(decl("a", quantity=1), decl("b", quantity=1))
    p = run(d, [owned(N3)], targets=["b"])
    assert [a.declaration for a in p.actions] == ["b"]
    assert p.unmanaged == ()


def test_protect_flag_change_is_recorded():
    p = run(desired(decl(quantity=1, protect=True)), [owned(N1)], [record(N1)])
    assert [(a.kind, a.protect) for a in p.actions if isinstance(a, Adopt)] == [("adopt", True)]


def test_plan_is_deterministic_and_fingerprinted():
    d = desired(decl(quantity=1))
    a = run(d, [owned(N1), owned(N2), owned(N4)], [record(N1), record(N2), record(N4)])
    b = run(d, [owned(N4), owned(N2), owned(N1)], [record(N4), record(N2), record(N1)])
    assert a.actions == b.actions
    assert a.fingerprints == b.fingerprints
    assert isinstance(a.actions[0], Release)


def test_removing_protect_allows_the_release_in_the_same_plan():
    """The declaration's current flag rules; the recorded one only guards removed declarations."""
    p = run(desired(decl(quantity=0, protect=False)), [owned(N1)], [record(N1, protect=True)])
    assert [a.kind for a in p.actions] == ["release"]


def test_pending_number_delivered_is_recorded_active_once():
    p = run(desired(decl(quantity=1)), [owned(N1)], [record(N1, status=PENDING)])
    assert [(a.kind, a.status) for a in p.actions] == [("adopt", "active")]
    assert "delivered" in p.actions[0].reason


def test_a_vanished_number_never_makes_a_listed_one_surplus():
    """Quantity 3 -> 2 while one of three vanished: two remain listed, nothing is released."""
    records = [record(N1), record(N2), record(N3)]
    p = run(desired(decl(quantity=2)), [owned(N1), owned(N2)], records)
    assert p.releases == []
    assert any(N3 in w for w in p.warnings)


def test_pinned_purchase_has_no_location_to_fall_back_on():
    d = desired(decl("hotline", quantity=2, pinned=(N1,)))
    p = run(d)
    pinned, floating = sorted(
        (a for a in p.actions if isinstance(a, Purchase)), key=lambda a: not a.pinned
    )
    assert (pinned.pinned, pinned.where) == ((N1,), None)
    assert floating.count == 1 and floating.where is not None


def test_numbers_held_in_another_country_are_kept_with_a_warning():
    us = OwnedNumber("+14155550100", "14155550100", country="US", monthly=Decimal("0.5"))
    p = run(desired(decl(quantity=1)), [us], [record("+14155550100")])
    assert p.actions == ()
    assert any("declares country FR" in w and "+14155550100" in w for w in p.warnings)


# --------------------------------------------------------------------------- open attempts


def attempt(mode="specific", numbers=(), count=None, declaration="support", entry=7):
    from numbers_iac.model import Attempt, Where

    return Attempt(
        entry_id=entry,
        provider="lab",
        declaration=declaration,
        mode=mode,
        count=len(numbers) if count is None else count,
        started_at="2026-11-27T10:00:00+00:00",
        numbers=tuple(numbers),
        where=Where("FR", "local"),
    )


def settled(a, produced=(), expired=False, age=60):
    from numbers_iac.model import Settlement

    return {"lab": (Settlement(a, tuple(produced), age, expired),)}


def summary(p) -> list[tuple]:
    out = []
    for a in p.actions:
        if isinstance(a, Purchase):
            out.append(("purchase", a.count))
        elif a.kind == "settle":
            out.append(("settle", a.adopted, a.not_bought))
        else:
            out.append((a.kind, getattr(a, "number", "")))
    return out


@pytest.mark.parametrize(
    ("case", "numbers", "produced", "expired", "expected", "held"),
    [
        # the late number landed: adopted, attempt closed, nothing bought in its place
        (
            "landed",
            [owned(N1), owned(N2)],
            [owned(N2)],
            False,
            [("adopt", N2), ("settle", (N2,), 0), ("purchase", 1), ("labels", N2)],
            0,
        ),
        # still in doubt: holds back one of the two missing, buys the other
        ("in doubt", [owned(N1)], [], False, [("purchase", 1)], 1),
        # settle time passed and it never appeared: closed as not bought, bought again
        ("lapsed", [owned(N1)], [], True, [("settle", (), 1), ("purchase", 2)], 0),
    ],
)
def test_an_open_specific_attempt(case, numbers, produced, expired, expected, held):
    d = desired(decl(quantity=3))
    p = run(
        d,
        numbers,
        [record(N1)],
        caps=TAG_CAPS,
        settlements=settled(attempt(numbers=[N2]), produced, expired),
    )
    assert [s for s in summary(p) if s[0] != "labels" or s[1] != N1] == expected, case
    unresolved = [n for n in p.pending if n.reason == "unresolved"]
    assert sum(n.count for n in unresolved) == held
    if held:
        assert unresolved[0].numbers == (N2,) and unresolved[0].age_seconds == 60


def test_a_blind_order_adopts_unclaimed_numbers_at_its_place_up_to_its_count():
    d = desired(decl(quantity=3), decl("other", quantity=1))
    listed = [owned(N1), owned(N2), owned(N3), owned(N4, tag="other")]
    a = attempt("quantity", count=2)
    p = run(d, listed, [record(N1)], caps=TAG_CAPS, settlements=settled(a, listed))
    adopted = {x.number for x in p.actions if isinstance(x, Adopt) and x.declaration == "support"}
    assert adopted == {N2, N3}  # N1 is recorded, N4 tagged for another declaration
    (settle,) = [x for x in p.actions if x.kind == "settle"]
    assert set(settle.adopted) == {N2, N3} and settle.not_bought == 0
    assert not [x for x in p.actions if isinstance(x, Purchase)]


def test_a_blind_order_still_in_doubt_holds_back_its_whole_count():
    p = run(
        desired(decl(quantity=3)),
        caps=TAG_CAPS,
        settlements=settled(attempt("quantity", count=2)),
    )
    assert summary(p) == [("purchase", 1)]
    assert [(n.reason, n.count) for n in p.pending] == [("unresolved", 2)]


def test_an_open_attempt_on_a_pinned_number_holds_back_that_pin_only():
    """A pinned number in doubt waits (pricing it would fail: it may be ours already),
    and it does not hold back the declaration's other numbers."""
    d = desired(decl(quantity=2, pinned=(N2,)))
    p = run(d, caps=TAG_CAPS, settlements=settled(attempt(numbers=[N2])))
    purchases = [a for a in p.actions if isinstance(a, Purchase)]
    assert [(a.count, a.pinned) for a in purchases] == [(1, ())]
    assert [(n.reason, n.numbers) for n in p.pending] == [("unresolved", (N2,))]
    lapsed = run(d, caps=TAG_CAPS, settlements=settled(attempt(numbers=[N2]), expired=True))
    purchases = [a for a in lapsed.actions if isinstance(a, Purchase)]
    assert sorted((a.count, a.pinned) for a in purchases) == [(1, ()), (1, (N2,))]
