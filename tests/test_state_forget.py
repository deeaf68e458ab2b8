"""Regression (third review): `state forget` (engine.forget) leaving ways for the next plan to touch the
numbers it was asked to stop managing."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from numbers_iac import engine, journal, planner
from numbers_iac.errors import NumbersIacError
from numbers_iac.model import (
    QUANTITY,
    Account,
    ManagedNumber,
    Release,
    Settlement,
)
from numbers_iac.providers.base import recover_from_listing
from tests.test_planner import APPS, decl, desired
from tests.test_planner_attempts import AMIENS, N1, N2, TAG_CAPS, listed


def test_forget_leaves_an_open_purchase_attempt_that_reclaims_and_releases_the_numbers(
    store,
):
    """BUG: a quantity purchase for `support` bought 2 of 5 (recorded) and its attempt stays
    open for the rest (as designed). The user removes `support` and runs
    `state forget support` to keep the numbers without managing them. The attempt is left
    open, so the next plan reads the forgotten numbers (tagged `support`, now unrecorded)
    as produced by that attempt, claims them for the removed declaration and plans their
    RELEASE ("declaration removed"). engine.forget (engine.py forget) drops only the
    records; it should refuse while attempts of that declaration are open, or close them."""
    started = datetime.now(UTC).isoformat(timespec="seconds")
    entry = store.journal_begin(
        "a1",
        journal.BUY_ATTEMPT,
        "lab",
        "support",
        journal.attempt_payload(QUANTITY, 5, where=AMIENS),
    )
    records = [ManagedNumber("lab", n, "support", n[1:], created_at=started) for n in (N1, N2)]
    store.record_bought(
        records, {}, {entry: (journal.attempt_payload(QUANTITY, 5, where=AMIENS), "3 short")}
    )
    d = desired(decl("hotline", country="DE"))  # support removed from the configuration
    forgotten = engine.forget(d, store, ["support"])
    assert {n for _, n, _ in forgotten} == {N1, N2}

    recorded = store.load()
    account = Account("lab", (listed(N1, tag="support"), listed(N2, tag="support")), APPS)
    settlements = {
        "lab": tuple(
            Settlement(attempt=a, produced=recover_from_listing(a, account).produced)
            for a in recorded.attempts
        )
    }
    p = planner.plan(d, {"lab": account}, recorded, {"lab": TAG_CAPS}, settlements=settlements)
    released = sorted(a.number for a in p.actions if isinstance(a, Release))
    assert released == [], f"forgotten numbers planned for release: {released}"


def _held(store, *records: tuple[str, str]) -> None:
    store.record_bought([ManagedNumber("lab", n, name, n[1:]) for n, name in records], {})


def test_forget_by_name_drops_only_that_declarations_numbers(store):
    """`state forget old` after two declarations were removed: only `old`'s numbers stop
    being managed; the other removed declaration's and the declared one's stay recorded."""
    _held(store, (N1, "old"), (N2, "other-old"), ("+33322000003", "support"))
    forgotten = engine.forget(desired(decl("support")), store, ["old"])
    assert forgotten == [("lab", N1, "old")]
    assert set(store.load().numbers) == {("lab", N2), ("lab", "+33322000003")}


def test_forget_of_a_name_or_number_the_state_does_not_hold_changes_nothing(store):
    """A typo is an error, even when no configured declaration protects the records."""
    _held(store, (N1, "old"), (N2, "other-old"))
    for typo in ("olde", "+33322000009"):
        with pytest.raises(
            NumbersIacError, match=f"holds no declaration or number {re.escape(typo)}"
        ):
            engine.forget(desired(), store, [typo])
    assert set(store.load().numbers) == {("lab", N1), ("lab", N2)}


def test_forget_by_number_as_the_configuration_may_write_it(store):
    """A number written with spaces or punctuation names the same number as in E.164, and
    only that one: the declaration's other number stays managed."""
    _held(store, (N1, "old"), (N2, "old"))
    forgotten = engine.forget(desired(), store, ["+33 3 22-00.00 01"])
    assert forgotten == [("lab", N1, "old")]
    assert set(store.load().numbers) == {("lab", N2)}


def test_forget_refuses_a_number_whose_declaration_is_still_configured(store):
    _held(store, (N1, "support"), (N2, "old"))
    with pytest.raises(NumbersIacError, match="support is still declared"):
        engine.forget(desired(decl("support")), store, [N1])
    assert engine.forget(desired(decl("support")), store, [N2]) == [("lab", N2, "old")]


def test_forget_refuses_even_a_surplus_number_of_a_declaration_still_configured(store):
    """Quantity lowered from 3 to 2: forgetting the third instead of releasing it looks
    harmless, but its tag (or an open purchase's settlement) takes it back, and with an
    open release or a pending move the declaration is short: a purchase. Refused, saying
    why, with no advice that cannot succeed."""
    third = "+33322000003"
    _held(store, (N1, "support"), (N2, "support"), (third, "support"))
    with pytest.raises(NumbersIacError) as refused:
        engine.forget(desired(decl("support")), store, [third])
    assert "take the numbers back by their tag" in str(refused.value)
    assert "lower its quantity" not in str(refused.value)
    assert len(store.load().numbers) == 3


def test_forget_refuses_the_numbers_a_rename_moves(store):
    """`moved_from: [support]` on a configured declaration takes support's numbers."""
    _held(store, (N1, "support"))
    renamed = decl("support-amiens", moved_from=("support",))
    for item in (N1, "support"):
        with pytest.raises(NumbersIacError, match=r"support \(now support-amiens\) moves into"):
            engine.forget(desired(renamed), store, [item])
    assert set(store.load().numbers) == {("lab", N1)}


def test_forget_keeps_numbers_of_a_name_now_declared_on_another_provider(store):
    """Their plan would release them ("declaration moved to another provider"): keeping them
    unmanaged instead is what state forget is for."""
    _held(store, (N1, "support"), (N2, "support"))
    elsewhere = decl("support", provider="lab2")
    assert engine.forget(desired(elsewhere), store, [N1]) == [("lab", N1, "support")]
    assert engine.forget(desired(elsewhere), store, ["support"]) == [("lab", N2, "support")]


def test_forgetting_one_number_of_an_open_release_leaves_it_open_for_the_others(store):
    """A release batch whose answer was lost stays open until the listing settles it;
    forgetting one of its numbers must not close it for the numbers still managed, or
    those released with it would read as missing."""
    _held(store, (N1, "old"), (N2, "old"), ("+33322000003", "old"))
    entry = store.journal_begin(
        "a1", journal.RELEASE, "lab", "old", {"numbers": [N1, N2, "+33322000003"]}
    )
    store.journal_end(entry, journal.UNKNOWN, "connection dropped")
    engine.forget(desired(), store, ["+33322000003"])
    assert set(store.load().releasing.values()) == {entry}  # still open for N1 and N2
    engine.forget(desired(), store, [N1, N2])
    assert store.load().releasing == {}
