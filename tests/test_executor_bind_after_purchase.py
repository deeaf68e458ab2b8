"""A provider whose buy binds nothing (`binds_on_purchase` False, like CALLR and Voximplant):
the executor binds what each purchase bought right after it, in the provider's bind batches,
and a bind that fails never un-buys: the number stays bought and recorded, the apply says so,
and the next plan binds it."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace

import pytest

from numbers_iac import engine
from numbers_iac.executor import DONE, FAILED, SKIPPED
from numbers_iac.model import Declaration, Desired, OwnedNumber, ProviderConfig, StateConfig
from numbers_iac.providers.base import BatchOutcome, Offer
from numbers_iac.providers.sandbox import SandboxProvider
from numbers_iac.render.report import render_report
from numbers_iac.simulation import World
from numbers_iac.state.sqlite import SqliteStateStore


class BindsLater(SandboxProvider):
    """The sandbox with a buy that takes no app, binds in threes, two calls at once."""

    capabilities = replace(
        SandboxProvider.capabilities,
        binds_on_purchase=False,
        bind_batch_size=3,
        mutation_concurrency=2,
    )

    def __init__(self, config: ProviderConfig, world: World, refuse: set[str]):
        super().__init__(config, world=world)
        self.refuse = refuse
        self.bind_calls: list[int] = []
        self.lock = threading.Lock()

    def commit(self, offer: Offer) -> tuple[OwnedNumber, ...]:
        return super().commit(replace(offer, request=replace(offer.request, app_id=None)))

    def bind(self, numbers: Sequence[OwnedNumber], app_id: str | None) -> BatchOutcome:
        with self.lock:
            self.bind_calls.append(len(numbers))
            refused = {n.number: "refused by the test" for n in numbers if n.number in self.refuse}
            outcome = super().bind([n for n in numbers if n.number not in refused], app_id)
        return BatchOutcome(outcome.done, {**outcome.failed, **refused})


@pytest.fixture
def world() -> World:
    return World.from_seed({"apps": ["ivr"]})


@pytest.fixture
def store(tmp_path):
    with SqliteStateStore(tmp_path / "state.sqlite") as s:
        yield s


def desired(quantity: int) -> Desired:
    declaration = Declaration("bulk", "lab", quantity, country="FR", number_type="local", app="ivr")
    config = ProviderConfig("lab", "sandbox", {"apps": ["ivr"]})
    return Desired("numbers.yaml", "x", {"lab": config}, {"bulk": declaration}, StateConfig())


def apply(d: Desired, provider: BindsLater, store):
    providers = engine.Providers(d, lambda config: provider)
    plan = engine.make_plan(d, providers, store)
    report = engine.apply_plan(plan, d, providers, store, allow_release=False)
    return plan, report


def replan(d: Desired, provider: BindsLater, store):
    return engine.make_plan(d, engine.Providers(d, lambda config: provider), store)


def test_bought_numbers_are_bound_in_the_providers_batches_after_the_purchase(world, store):
    provider = BindsLater(ProviderConfig("lab", "sandbox", {"apps": ["ivr"]}), world, set())
    progress: list[tuple[int, int | None]] = []
    d = desired(7)
    providers = engine.Providers(d, lambda config: provider)
    plan = engine.make_plan(d, providers, store)
    report = engine.apply_plan(
        plan, d, providers, store, allow_release=False, progress=lambda *p: progress.append(p)
    )
    assert report.ok
    assert [(r.action.kind, r.status) for r in report.results] == [("purchase", DONE)]
    assert sorted(provider.bind_calls) == [1, 3, 3]  # 7 numbers in threes
    bought = report.results[0].numbers
    ivr = world.app_by_name("ivr")[0]
    assert len(bought) == 7 and {world.numbers[n].app_id for n in bought} == {ivr}
    assert {m.app for m in store.load().numbers.values()} == {"ivr"}
    assert progress[-1] == (7, 7)  # the binds are the purchase's, not actions of their own
    binds = [e for e in store.journal() if e.operation == "bind"]
    assert len(binds) == 3 and all(e.outcome == "ok" for e in binds)
    assert sorted(len(e.payload["numbers"]) for e in binds) == [1, 3, 3]
    assert replan(d, provider, store).actions == ()


def test_a_failed_bind_leaves_the_number_bought_recorded_reported_and_planned(world, store):
    refuse: set[str] = set()
    provider = BindsLater(ProviderConfig("lab", "sandbox", {"apps": ["ivr"]}), world, refuse)
    original = provider.commit

    def commit(offer: Offer) -> tuple[OwnedNumber, ...]:
        bought = original(offer)
        if not refuse:
            refuse.add(bought[0].number)  # the first number bought will not bind
        return bought

    provider.commit = commit
    d = desired(4)
    plan, report = apply(d, provider, store)
    (unbound,) = refuse
    (result,) = report.results
    # bought, but not all it was asked: the apply fails (exit 1) and says what is left
    assert not report.ok
    assert result.status == FAILED and len(result.numbers) == 4 and unbound in result.numbers
    assert f"not bound to app ivr: {unbound} (refused by the test)" in result.detail
    assert "the next plan binds it" in result.detail
    text = render_report(report)
    assert "failed: lab / bulk: purchase 4 numbers: bought 4 of 4" in text
    assert "Bought 4 numbers" in text and f"not bound to app ivr: {unbound}" in text
    assert world.numbers[unbound].app_id is None
    recorded = store.load().numbers
    assert set(result.numbers) <= {n for _, n in recorded}
    # the state records the intent; the plan binds from the listing
    assert {recorded[("lab", n)].app for n in result.numbers} == {"ivr"}
    (failed,) = [e for e in store.journal() if e.operation == "bind" and e.outcome != "ok"]
    assert unbound in failed.payload["numbers"]

    again = replan(d, provider, store)
    assert [(a.kind, a.number) for a in again.actions] == [("bind", unbound)]
    refuse.clear()
    plan, report = apply(d, provider, store)
    assert report.ok and [a.kind for a in plan.actions] == ["bind"]
    assert store.load().numbers[("lab", unbound)].app == "ivr"
    assert replan(d, provider, store).actions == ()
    assert sum(1 for op, _ in world.log if op == "buy") == 4  # never bought again


def test_a_purchase_that_falls_short_still_binds_what_it_bought(world, store):
    provider = BindsLater(ProviderConfig("lab", "sandbox", {"apps": ["ivr"]}), world, set())
    groups = world.find_groups("FR", "local")
    for group in groups:
        world.set_stock(group.group_id, 1)
    plan, report = apply(desired(len(groups) + 2), provider, store)
    (result,) = report.results
    assert result.status == FAILED and len(result.numbers) == len(groups)
    ivr = world.app_by_name("ivr")[0]
    assert {world.numbers[n].app_id for n in result.numbers} == {ivr}
    assert {store.load().numbers[("lab", n)].app for n in result.numbers} == {"ivr"}
    assert [a.kind for a in replan(desired(len(groups) + 2), provider, store).actions] == [
        "purchase"
    ]


def test_a_failed_bind_holds_back_the_declarations_releases(world, store):
    """A replacement bought but not routed must not let the number it replaces go."""
    provider = BindsLater(ProviderConfig("lab", "sandbox", {"apps": ["ivr"]}), world, set())
    d = desired(2)
    apply(d, provider, store)
    old = sorted(n for _, n in store.load().numbers)
    # pinned to one kept and one new number: one purchase, one release
    (new, *_), _ = world.search("FR", "local", limit=1)
    pinned = replace(d.declarations["bulk"], pinned=(old[0], new.number))
    d2 = replace(d, declarations={"bulk": pinned})
    provider.refuse.add(new.number)
    plan = engine.make_plan(d2, engine.Providers(d2, lambda c: provider), store)
    assert sorted(a.kind for a in plan.actions) == ["purchase", "release"]
    report = engine.apply_plan(
        plan, d2, engine.Providers(d2, lambda c: provider), store, allow_release=True
    )
    statuses = {r.action.kind: r.status for r in report.results}
    assert statuses == {"purchase": FAILED, "release": SKIPPED} and not report.ok
    assert old[1] in world.numbers  # still owned


def test_a_bind_call_that_breaks_unexpectedly_stays_open_and_loses_nothing(world, store):
    """An exception that is not the provider's answer (a bug, an unreadable body) may hide a
    bind that landed: its journal entry stays open, the other calls are recorded, and the
    apply reports instead of crashing."""
    provider = BindsLater(ProviderConfig("lab", "sandbox", {"apps": ["ivr"]}), world, set())
    plain = provider.bind

    def bind(numbers, app_id):
        outcome = plain(numbers, app_id)
        if len(provider.bind_calls) == 2:
            raise KeyError("phone_id")  # after the bind landed
        return outcome

    provider.bind = bind
    d = desired(9)
    plan, report = apply(d, provider, store)
    (result,) = report.results
    assert result.status == FAILED and len(result.numbers) == 9 and not report.ok
    assert "unexpected KeyError" in result.detail
    binds = [e for e in store.journal() if e.operation == "bind"]
    assert sorted(e.outcome for e in binds) == ["ok", "ok", "unknown"]
    ivr = world.app_by_name("ivr")[0]
    assert {world.numbers[n].app_id for n in result.numbers} == {ivr}  # all three landed
    assert replan(d, provider, store).actions == ()  # the listing shows them bound
