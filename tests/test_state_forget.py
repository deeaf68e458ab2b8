"""Regression (third review): `state forget` (engine.forget) leaving ways for the next plan to touch the
numbers it was asked to stop managing."""

from __future__ import annotations

from datetime import UTC, datetime

from numbers_iac import engine, journal, planner
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
