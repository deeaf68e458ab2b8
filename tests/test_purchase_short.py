"""Regression (second review): a blind order (or reservation) whose commit answers with fewer numbers than it
paid for is closed as "done", so what the answer did not name is neither recorded nor
held open, and the next plan buys it again.

purchase.PurchaseRun._quantity / _reserve call `_record(bought, entry, ..., asked)`, which
closes the attempt ("done") in the same transaction whatever `len(bought)` is. The contract
(Provider.commit) allows "fewer than offered" for quantity and reserve offers, and a blind
order that the provider accepted as pending (Plivo's group buy answers
`{"status": "pending", "message": "created"}` with no numbers; Aculab-style orders deliver
later) has exactly that shape. Issue 14: "Pending purchases count the same way" as an
unknown outcome. The remainder (asked - bought) must stay open (or the contract must let
commit say "N more pending") so later plans hold it back until the listing settles it.
"""

from __future__ import annotations

from numbers_iac.model import QUANTITY, OwnedNumber, Purchase
from numbers_iac.providers.base import Offer
from numbers_iac.purchase import PurchaseRun
from numbers_iac.state.sqlite import SqliteStateStore
from tests.test_purchase import WHERE, Scripted


class PendingOrder(Scripted):
    """Accepts a blind order of N and delivers the numbers later (the answer names none)."""

    def commit(self, offer: Offer) -> tuple[OwnedNumber, ...]:
        self.accepted = offer.count
        return ()


def test_a_blind_order_accepted_as_pending_is_closed_and_bought_again(tmp_path):
    provider = PendingOrder(QUANTITY)
    with SqliteStateStore(tmp_path / "state.sqlite") as store:
        action = Purchase("fake", "support", count=3, where=WHERE)
        PurchaseRun(provider, store, "apply1", action, lambda: False).run()
        assert provider.accepted == 3  # the provider took (and will bill) an order of 3
        recorded = store.load()
        held = sum(a.count for a in recorded.attempts)
        assert held + len(recorded.numbers) >= 3, (
            "the provider accepted an order of 3, but the state neither records its numbers "
            "nor keeps the attempt open: the next plan asks for 3 more"
        )
