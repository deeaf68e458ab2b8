"""Regulated countries: a purchase comes back pending, is never bought again while it waits,
and is recorded as active once the provider delivers it. Sandbox and Plivo emulator alike."""

from __future__ import annotations

from collections import Counter

import pytest

from numbers_iac import engine
from numbers_iac.emulators.serve import emulated
from numbers_iac.model import PENDING, Declaration, Desired, ProviderConfig, StateConfig
from numbers_iac.providers.sandbox import SandboxProvider
from numbers_iac.simulation import World
from numbers_iac.state.sqlite import SqliteStateStore


def sandbox(world: World):
    return SandboxProvider(ProviderConfig("acct", "sandbox", {"regulated": ["DE"]}), world=world)


def plivo(world: World):
    return emulated("plivo", world, name="acct", sleep=lambda s: None, regulated={"DE"}).provider


@pytest.mark.parametrize("make_provider", [sandbox, plivo], ids=["sandbox", "plivo"])
def test_pending_purchase_lifecycle(tmp_path, make_provider):
    world = World.from_seed({"apps": []})
    provider = make_provider(world)
    d = Desired(
        config_path="numbers.yaml",
        config_digest="x",
        providers={"acct": provider.config},
        declarations={
            "berlin": Declaration(
                "berlin", "acct", 2, country="DE", number_type="local", region="BERLIN, GERMANY"
            )
        },
        state=StateConfig(),
    )
    providers = engine.Providers(d, lambda config: provider)
    with SqliteStateStore(tmp_path / "state.sqlite") as store:
        plan = engine.make_plan(d, providers, store)
        report = engine.apply_plan(plan, d, providers, store, allow_release=False)
        assert report.ok
        recorded = store.load().numbers.values()
        assert [m.status for m in recorded] == [PENDING, PENDING]

        waiting = engine.make_plan(d, providers, store)
        assert waiting.actions == ()  # not bought again
        assert sum(note.count for note in waiting.pending) == 2

        for number in list(world.numbers):
            world.activate(number)
        delivered = engine.make_plan(d, providers, store)
        assert {a.kind for a in delivered.actions} == {"adopt"}
        assert engine.apply_plan(delivered, d, providers, store, allow_release=False).ok
        assert {m.status for m in store.load().numbers.values()} == {"active"}
        assert engine.make_plan(d, providers, store).actions == ()
        assert Counter(op for op, _ in world.log)["buy"] == 2
    provider.close()
