"""The purchase protocol's contract (offer / commit / abort / recover), run against every
provider type in the registry, and the sandbox in each of its purchase modes.

What every adapter must honour for the core's "never buy twice" to hold:
- an offer spends nothing, and never proposes a number it was told to exclude;
- a commit buys what the offer said, no more; a number it cannot buy raises
  NumberUnavailableError with nothing bought; an answer that may hide a purchase never reads
  as a refusal (OutcomeUnknownError, or the number itself once the provider shows it);
- recover finds what an attempt of unknown outcome produced, and nothing it did not.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from numbers_iac.emulators.serve import emulated
from numbers_iac.errors import NumberUnavailableError, OfferExpiredError, OutcomeUnknownError
from numbers_iac.model import QUANTITY, RESERVE, SPECIFIC, Account, Attempt, ProviderConfig, Where
from numbers_iac.providers import registry
from numbers_iac.providers.base import Offer, Provider, PurchaseRequest
from numbers_iac.providers.sandbox import SandboxProvider
from numbers_iac.simulation import World
from tests.providers.test_contract import APPS, Harness

AMIENS = Where("FR", "local", region="AMIENS, FRANCE")


def sandbox(mode: str):
    def harness(world: World) -> Iterator[Harness]:
        config = ProviderConfig("lab", "sandbox", {"apps": APPS, "purchase_mode": mode})
        yield Harness(f"sandbox-{mode}", SandboxProvider(config, world=world), world, config)

    return harness


def plivo(world: World) -> Iterator[Harness]:
    no_sleep = lambda seconds: None  # noqa: E731 - retries must not slow the suite
    for app in APPS:
        if not world.app_by_name(app):
            world.add_app(app)
    with emulated("plivo", world, name="plivo", sleep=no_sleep, settings={"max_retries": 1}) as emu:
        yield Harness("plivo", emu.provider, world, emu.provider.config, emu.app)


def aculab(world: World) -> Iterator[Harness]:
    for app in APPS:
        if not world.app_by_name(app):
            world.add_app(app)
    no_sleep = lambda seconds: None  # noqa: E731 - retries must not slow the suite
    with emulated(
        "aculab", world, name="aculab", sleep=no_sleep, settings={"max_retries": 1}
    ) as emu:
        yield Harness("aculab", emu.provider, world, emu.provider.config, emu.app)


def voximplant(world: World) -> Iterator[Harness]:
    for app in APPS:
        if not world.app_by_name(app):
            world.add_app(app)
    no_sleep = lambda seconds: None  # noqa: E731 - retries must not slow the suite
    with emulated(
        "voximplant", world, name="voximplant", sleep=no_sleep, settings={"max_retries": 1}
    ) as emu:
        yield Harness(
            "voximplant",
            emu.provider,
            world,
            emu.provider.config,
            emu.app,
            read_match="/GetPhoneNumbers",
        )


def messagemedia(world: World) -> Iterator[Harness]:
    """No region search: it buys in Amiens' block by prefix."""
    no_sleep = lambda seconds: None  # noqa: E731 - retries must not slow the suite
    settings = {"max_retries": 1}
    with emulated("messagemedia", world, name="mm", sleep=no_sleep, settings=settings) as emu:
        where = Where("FR", "local", prefix="322")
        yield Harness(
            "messagemedia", emu.provider, world, emu.provider.config, emu.app, where=where
        )


def callr(world: World) -> Iterator[Harness]:
    for app in APPS:
        if not world.app_by_name(app):
            world.add_app(app)
    no_sleep = lambda seconds: None  # noqa: E731 - retries must not slow the suite
    with emulated("callr", world, name="callr", sleep=no_sleep, settings={"max_retries": 1}) as emu:
        yield Harness("callr", emu.provider, world, emu.provider.config, emu.app)


#: (provider type, purchase mode) -> harness; every registered type must appear
HARNESSES = {
    ("sandbox", SPECIFIC): sandbox(SPECIFIC),
    ("sandbox", QUANTITY): sandbox(QUANTITY),
    ("sandbox", RESERVE): sandbox(RESERVE),
    ("plivo", SPECIFIC): plivo,
    ("aculab", QUANTITY): aculab,
    ("callr", RESERVE): callr,
    ("voximplant", SPECIFIC): voximplant,
    ("messagemedia", SPECIFIC): messagemedia,
}


def test_every_registered_provider_runs_the_protocol_contract():
    assert {kind for kind, _ in HARNESSES} == set(registry.REGISTRY)


@pytest.fixture(params=sorted(HARNESSES), ids=lambda key: "-".join(key))
def h(request) -> Iterator[Harness]:
    yield from HARNESSES[request.param](World.from_seed({"apps": APPS, "owned": 3}))


def request(count: int, where: Where | None = AMIENS, pinned=()) -> PurchaseRequest:
    return PurchaseRequest("contract", count, where, tuple(pinned), tag="contract")


def buys(world: World) -> list[str]:
    return [number for op, number in world.log if op == "buy"]


def commit_all(provider: Provider, offer: Offer) -> list[str]:
    """Commit an offer the way the executor does: one number at a time where specific."""
    if offer.mode == SPECIFIC:
        return [n.number for c in offer.candidates for n in provider.commit(offer.single(c))]
    return [n.number for n in provider.commit(offer)]


def attempt(mode: str, numbers=(), count=None, where=AMIENS, started=None) -> Attempt:
    return Attempt(
        entry_id=1,
        provider="p",
        declaration="contract",
        mode=mode,
        count=len(numbers) if count is None else count,
        started_at=started or datetime.now(UTC).isoformat(timespec="seconds"),
        numbers=tuple(numbers),
        where=where,
    )


def test_an_offer_spends_nothing(h):
    before = dict(h.world.numbers)
    offer = h.provider.offer(request(3, h.where), 3, frozenset())
    assert 0 < offer.count <= 3
    assert buys(h.world) == [] and h.world.numbers == before
    if offer.mode != QUANTITY:
        assert len({c.number for c in offer.candidates}) == offer.count
        assert not {c.number for c in offer.candidates} & set(before)
    h.provider.abort(offer)


def test_an_offer_never_proposes_what_was_tried(h):
    first = h.provider.offer(request(2, h.where), 2, frozenset())
    if first.mode == QUANTITY:
        pytest.skip("a blind order proposes no numbers")
    if first.mode == RESERVE and not h.provider.capabilities.purchase_specific:
        h.provider.abort(first)
        pytest.skip("a reservation by place (CALLR) cannot name numbers to leave out")
    tried = frozenset(c.number for c in first.candidates)
    h.provider.abort(first)
    second = h.provider.offer(request(2, h.where), 2, tried)
    assert second.candidates and not tried & {c.number for c in second.candidates}
    h.provider.abort(second)


def test_a_commit_buys_what_was_offered_and_no_more(h):
    offer = h.provider.offer(request(2, h.where), 2, frozenset())
    bought = commit_all(h.provider, offer)
    assert len(bought) == len(set(bought)) == 2 == len(buys(h.world))
    if offer.mode != QUANTITY:
        assert set(bought) == {c.number for c in offer.candidates}
    listed = {n.number: n for n in h.provider.list_numbers()}
    assert set(bought) <= set(listed)


def test_pinned_numbers_are_offered_and_bought_exactly(h):
    if SPECIFIC not in h.provider.capabilities.purchase_modes:
        pytest.skip("sells blind orders only: the config refuses pinned numbers to buy")
    wanted = [a.number for a in h.world.search("FR", "local", region="AMIENS, FRANCE", limit=2)[0]]
    offer = h.provider.offer(request(2, None, wanted), 2, frozenset())
    assert offer.mode == SPECIFIC and [c.number for c in offer.candidates] == wanted
    assert commit_all(h.provider, offer) == wanted == buys(h.world)


def test_a_number_taken_meanwhile_is_refused_and_nothing_is_bought(h):
    offer = h.provider.offer(request(1, h.where), 1, frozenset())
    if offer.mode != SPECIFIC:
        pytest.skip("only a specific offer names a number someone else can take")
    (candidate,) = offer.candidates
    h.world.take(candidate.number)
    with pytest.raises(NumberUnavailableError):
        h.provider.commit(offer.single(candidate))
    assert buys(h.world) == []


def test_recover_finds_what_an_attempt_bought_and_nothing_else(h):
    offer = h.provider.offer(request(2, h.where), 2, frozenset())
    bought = commit_all(h.provider, offer)
    free = h.world.search("FR", "local", region="PARIS, FRANCE", limit=1)[0][0].number
    account = Account("p", h.provider.list_numbers())
    if offer.mode == QUANTITY:
        (found,) = h.provider.recover([attempt(QUANTITY, count=2)], account)
        assert {n.number for n in found.produced} >= set(bought)
        assert not {n.number for n in found.produced} & set(h.world.numbers) - set(bought)
    else:
        (found,) = h.provider.recover([attempt(SPECIFIC, [bought[0]])], account)
        assert [n.number for n in found.produced] == [bought[0]] and found.settled
    (nothing,) = h.provider.recover([attempt(SPECIFIC, [free])], account)
    assert nothing.produced == () and not nothing.settled


def test_a_quantity_attempt_older_than_its_numbers_does_not_claim_them(h):
    """Numbers the account held before a blind order was placed are not its numbers."""
    account = Account("p", h.provider.list_numbers())
    (found,) = h.provider.recover(
        [attempt(QUANTITY, count=3, started="2999-01-01T00:00:00+00:00")], account
    )
    assert found.produced == ()


def test_an_aborted_reservation_frees_its_numbers(h):
    offer = h.provider.offer(request(2, h.where), 2, frozenset())
    if offer.mode != RESERVE:
        pytest.skip("only reservations hold numbers")
    assert offer.handle and offer.expires_at
    held = {c.number for c in offer.candidates}
    others = h.provider.offer(request(2, h.where), 2, frozenset())
    assert others.candidates  # others remain for sale
    h.provider.abort(offer)
    again = h.provider.offer(request(2, h.where), 2, frozenset())
    assert {c.number for c in again.candidates} == held  # first in line once given back


def test_a_lapsed_reservation_is_refused_not_bought(h):
    if h.name != f"sandbox-{RESERVE}":
        pytest.skip("only the sandbox's reservations can be made to lapse here")
    h.provider.reservation_ttl = 0
    offer = h.provider.offer(request(1, h.where), 1, frozenset())
    with pytest.raises(OfferExpiredError):
        h.provider.commit(offer)
    assert buys(h.world) == []


@pytest.mark.parametrize("work_done", [True, False])
def test_an_ambiguous_answer_never_reads_as_a_refusal(h, work_done):
    """A 500 on the buy and a failing read-back: whether or not the provider did the work,
    the adapter must say "unknown", never "not bought"."""
    if h.faults is None:
        pytest.skip(f"{h.name} answers in-process; nothing is ever lost")
    offer = h.provider.offer(request(1, h.where), 1, frozenset())
    if offer.mode == QUANTITY:
        before = set(h.world.numbers)
        h.faults.add(status=500, then_fail=work_done, times=1, match="POST ")
        with pytest.raises(OutcomeUnknownError):
            h.provider.commit(offer)
        produced = set(h.world.numbers) - before
        assert len(produced) == int(work_done)
        h.faults.clear()
        account = Account("p", h.provider.list_numbers())
        (found,) = h.provider.recover([attempt(QUANTITY, count=1)], account)
        assert {n.number for n in found.produced} == produced
        return
    (candidate,) = offer.candidates
    h.faults.add(status=500, then_fail=work_done, times=1, match="POST ")
    h.faults.add(status=500, times=100, match=h.read_match)
    with pytest.raises(OutcomeUnknownError):
        h.provider.commit(offer.single(candidate))
    assert len(buys(h.world)) == int(work_done)
    h.faults.clear()
    account = Account("p", h.provider.list_numbers())
    (found,) = h.provider.recover([attempt(SPECIFIC, [candidate.number])], account)
    assert [n.number for n in found.produced] == ([candidate.number] if work_done else [])
