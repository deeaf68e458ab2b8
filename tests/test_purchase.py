"""The core's purchase protocol against an in-memory provider whose every answer the test
decides: concurrency never exceeds the count, each number is journaled before its commit,
refusals are replaced, an ambiguous answer stops the declaration and stays open, a lapsed
reservation is re-reserved (never resent), and a short reservation is cancelled when the
declaration forbids partial purchases."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import ClassVar

import pytest

from numbers_iac.errors import (
    NumberUnavailableError,
    OfferExpiredError,
    OutcomeUnknownError,
    TransientError,
)
from numbers_iac.journal import BUY_ATTEMPT
from numbers_iac.model import (
    QUANTITY,
    RESERVE,
    SPECIFIC,
    OwnedNumber,
    ProviderConfig,
    Purchase,
    Where,
)
from numbers_iac.providers.base import (
    BatchOutcome,
    Candidate,
    Capabilities,
    Offer,
    Provider,
    PurchaseRequest,
    Quote,
)
from numbers_iac.purchase import PurchaseRun
from numbers_iac.state.sqlite import SqliteStateStore

WHERE = Where("FR", "local")
FOR_SALE = [f"+3332200{i:04d}" for i in range(200)]


class Scripted(Provider):
    """Sells FOR_SALE; `answers[number]` scripts a commit: an exception to raise."""

    type_name: ClassVar[str] = "scripted"
    capabilities: ClassVar[Capabilities] = Capabilities(purchase_concurrency=4)

    def __init__(self, mode: str = SPECIFIC, **answers: Exception):
        super().__init__(ProviderConfig("fake", "scripted"))
        self.capabilities = replace(type(self).capabilities, purchase_modes=(mode,))
        self.answers = dict(answers)
        self.owned: list[str] = []
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most_in_flight = 0
        self.journal_seen: list[set[str]] = []
        self.store: SqliteStateStore | None = None
        self.reservations: list[str] = []
        self.aborted: list[str] = []
        self.expire_first = False
        self.reserve_short = False

    def _free(self, exclude: frozenset[str]) -> list[str]:
        return [n for n in FOR_SALE if n not in self.owned and n not in exclude]

    def offer(self, request: PurchaseRequest, count: int, exclude: frozenset[str]) -> Offer:
        if self.capabilities.purchase_modes[0] == QUANTITY:
            return Offer(request, QUANTITY, count)
        free = self._free(exclude)[: count - 1 if self.reserve_short else count]
        candidates = tuple(Candidate(n, n[1:]) for n in free)
        if self.capabilities.purchase_modes[0] == RESERVE:
            handle = f"R{len(self.reservations)}"
            self.reservations.append(handle)
            return Offer(request, RESERVE, len(free), candidates, handle, "2999-01-01T00:00:00")
        return Offer(request, SPECIFIC, len(free), candidates)

    def commit(self, offer: Offer) -> tuple[OwnedNumber, ...]:
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            if self.store is not None:  # what the journal held when the commit was sent
                with SqliteStateStore(self.store.path) as reader:  # this thread's own
                    open_numbers = {n for a in reader.load().attempts for n in a.numbers}
                self.journal_seen.append(open_numbers & {c.number for c in offer.candidates})
        try:
            time.sleep(0.01)
            if offer.mode == RESERVE and self.expire_first:
                self.expire_first = False
                raise OfferExpiredError(self.name, "buy", "reservation lapsed")
            if offer.mode == QUANTITY:
                numbers = self._free(frozenset())[: offer.count]
            else:
                numbers = [c.number for c in offer.candidates]
            for number in numbers:
                if number in self.answers:
                    raise self.answers[number]
            with self.lock:
                self.owned += numbers
            return tuple(OwnedNumber(n, n[1:]) for n in numbers)
        finally:
            with self.lock:
                self.in_flight -= 1

    def abort(self, offer: Offer) -> None:
        self.aborted.append(offer.handle or "")

    def list_numbers(self, progress=None) -> tuple[OwnedNumber, ...]:
        return tuple(OwnedNumber(n, n[1:]) for n in self.owned)

    def quote(self, where: Where, count: int) -> Quote:
        return Quote(None, None)

    def inventory(self, country: str, number_type: str | None = None) -> list:
        return []

    def bind(self, numbers: Sequence[OwnedNumber], app_id: str | None) -> BatchOutcome:
        return BatchOutcome(done=tuple(n.number for n in numbers))

    def release(self, numbers: Sequence[OwnedNumber]) -> BatchOutcome:
        return BatchOutcome(done=tuple(n.number for n in numbers))


@pytest.fixture
def store(tmp_path):
    with SqliteStateStore(tmp_path / "state.sqlite") as s:
        yield s


def buy(provider: Scripted, store, count: int, **options):
    provider.store = store
    action = Purchase("fake", "support", count=count, where=WHERE, options=options)
    return PurchaseRun(provider, store, "apply1", action, lambda: False).run()


def attempts(store) -> list:
    return [e for e in store.journal() if e.operation == BUY_ATTEMPT]


def test_parallel_buys_never_exceed_the_count_and_are_journaled_first(store):
    provider = Scripted()
    result = buy(provider, store, 10)
    assert result.error is None and len(result.bought) == 10 == len(provider.owned)
    assert 1 < provider.most_in_flight <= provider.capabilities.purchase_concurrency
    assert len(provider.journal_seen) == 10
    for seen in provider.journal_seen:  # every commit found its own number in the journal
        assert len(seen) == 1, "a commit was sent before its attempt was journaled"
    assert [e.outcome for e in attempts(store)] == ["done"] * 10
    assert store.load().attempts == ()


def test_refused_numbers_are_replaced_and_never_retried(store):
    refused = NumberUnavailableError("fake", "buy", "taken")
    provider = Scripted(**{FOR_SALE[0]: refused, FOR_SALE[2]: refused})
    result = buy(provider, store, 5)
    assert result.error is None and len(provider.owned) == 5
    assert FOR_SALE[0] not in provider.owned and FOR_SALE[2] not in provider.owned
    outcomes = sorted(e.outcome for e in attempts(store))
    assert outcomes == ["done"] * 5 + ["refused"] * 2


@pytest.mark.parametrize(
    "error",
    [
        OutcomeUnknownError("fake", "buy", "read timed out"),
        TransientError("fake", "buy", "HTTP 502", 502),
    ],
)
def test_an_ambiguous_answer_stops_the_declaration_and_stays_open(store, error):
    provider = Scripted(**{FOR_SALE[1]: error})
    result = buy(provider, store, 10)
    assert isinstance(result.error, OutcomeUnknownError)
    assert result.unresolved == [FOR_SALE[1]]
    assert len(provider.owned) < 10  # stopped after the batch in flight
    (attempt,) = store.load().attempts
    assert attempt.numbers == (FOR_SALE[1],) and attempt.declaration == "support"


def test_a_refused_connection_is_a_clear_not_bought(store):
    never_sent = TransientError("fake", "buy", "connection refused", maybe_sent=False)
    provider = Scripted(**{FOR_SALE[0]: never_sent})
    result = buy(provider, store, 3)
    assert result.error is not None and not result.unresolved
    assert store.load().attempts == ()


def test_a_blind_order_is_journaled_with_its_count_and_place(store):
    provider = Scripted(QUANTITY, **{FOR_SALE[0]: OutcomeUnknownError("fake", "buy", "reset")})
    result = buy(provider, store, 3)
    assert isinstance(result.error, OutcomeUnknownError)
    (attempt,) = store.load().attempts
    assert (attempt.mode, attempt.count, attempt.where) == (QUANTITY, 3, WHERE)


def test_a_lapsed_reservation_is_reserved_again_never_resent(store):
    provider = Scripted(RESERVE)
    provider.expire_first = True
    result = buy(provider, store, 3)
    assert result.error is None and len(provider.owned) == 3
    assert provider.reservations == ["R0", "R1"]
    assert [e.outcome for e in reversed(attempts(store))] == ["expired", "done"]
    assert attempts(store)[-1].payload["handle"] == "R0"


def test_a_short_reservation_is_cancelled_when_partial_is_forbidden(store):
    provider = Scripted(RESERVE)
    provider.reserve_short = True
    result = buy(provider, store, 3, partial=False)
    assert provider.owned == [] and provider.aborted == ["R0"]
    assert "partial: false" in str(result.error)
    assert [e.outcome for e in attempts(store)] == ["aborted"]


def test_a_refusal_of_a_multi_number_commit_is_not_proof_nothing_was_bought(store):
    """A reservation's buy refused half way may have bought its first numbers: the attempt
    stays open (only a refusal of one specific number closes it)."""
    refused = NumberUnavailableError("fake", "buy", "one of them was taken")
    provider = Scripted(RESERVE, **{FOR_SALE[2]: refused})
    result = buy(provider, store, 3)
    assert isinstance(result.error, OutcomeUnknownError)
    (attempt,) = store.load().attempts
    assert attempt.mode == RESERVE and attempt.numbers == tuple(FOR_SALE[:3])


def test_a_short_blind_order_keeps_the_rest_open_unless_the_provider_says_it_is_final(store):
    class Short(Scripted):
        def commit(self, offer):
            return super().commit(replace(offer, count=offer.count - 1))

    provider = Short(QUANTITY)
    result = buy(provider, store, 3)
    assert len(result.bought) == 2 and isinstance(result.error, OutcomeUnknownError)
    (attempt,) = store.load().attempts
    assert (attempt.mode, attempt.count) == (QUANTITY, 1)  # the one still in doubt
    assert len(store.load().numbers) == 2  # the two delivered are recorded

    final = Short(QUANTITY)
    final.capabilities = replace(final.capabilities, short_commit_final=True)
    store2 = SqliteStateStore(store.path.with_name("other.sqlite"))
    result = buy(final, store2, 3)
    assert len(result.bought) == 2 and store2.load().attempts == ()
    assert "no more numbers for sale" in str(result.error)


def test_a_reserved_number_cannot_be_taken_by_someone_else():
    from numbers_iac.simulation import NotForSale, World

    world = World.from_seed({})
    (free,), _ = world.search("FR", "local", region="AMIENS, FRANCE", limit=1)
    world.reserve([free.number], ttl=60, now=time.time())
    with pytest.raises(NotForSale, match="reserved"):
        world.take(free.number)
