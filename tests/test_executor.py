"""The executor against the sandbox: what it does when things go wrong mid-apply."""

from __future__ import annotations

import pytest

from numbers_iac import engine
from numbers_iac.emulators.serve import emulated
from numbers_iac.executor import DONE, FAILED, SKIPPED
from numbers_iac.model import Declaration, Desired, ProviderConfig, StateConfig
from numbers_iac.providers.sandbox import SandboxProvider
from numbers_iac.simulation import World
from numbers_iac.state.sqlite import SqliteStateStore

N1, N2, N3 = "+33322000001", "+33322000002", "+33322000003"


@pytest.fixture
def world():
    return World.from_seed({"apps": ["ivr"]})


@pytest.fixture
def store(tmp_path):
    with SqliteStateStore(tmp_path / "state.sqlite") as s:
        yield s


def desired(*declarations: Declaration) -> Desired:
    return Desired(
        "numbers.yaml",
        "x",
        {"lab": ProviderConfig("lab", "sandbox", {"apps": ["ivr"]})},
        {d.name: d for d in declarations},
        StateConfig(),
    )


def apply(d: Desired, world: World, store, allow_release=True):
    providers = engine.Providers(d, lambda config: SandboxProvider(config, world=world))
    plan = engine.make_plan(d, providers, store)
    return plan, engine.apply_plan(plan, d, providers, store, allow_release=allow_release)


SEVEN = [f"+3332200{i:04d}" for i in range(7)]


def seven_binds() -> tuple[tuple, dict]:
    """Binds of 7 listed numbers (bound to app 9 on the account) to app 1, and the account."""
    from numbers_iac.model import Bind, OwnedNumber

    binds = tuple(
        Bind("lab", "support", number=n, provider_id=n[1:], app="ivr", app_id="1") for n in SEVEN
    )
    owned = tuple(OwnedNumber(n, n[1:], app_id="9") for n in SEVEN)
    return binds, {"lab": engine.Account("lab", owned)}


def test_failed_purchase_holds_back_the_same_declarations_releases(world, store):
    apply(
        desired(Declaration("hot", "lab", 2, country="FR", number_type="local", pinned=(N1, N2))),
        world,
        store,
    )
    d = desired(Declaration("hot", "lab", 2, country="FR", number_type="local", pinned=(N1, N3)))
    providers = engine.Providers(d, lambda config: SandboxProvider(config, world=world))
    plan = engine.make_plan(d, providers, store)
    assert [a.kind for a in plan.actions] == ["purchase", "release"]
    world.take(N3)  # someone else buys the replacement between plan and apply
    report = engine.apply_plan(plan, d, providers, store, allow_release=True)
    statuses = {r.action.kind: r.status for r in report.results}
    assert statuses == {"purchase": FAILED, "release": SKIPPED}
    assert N2 in world.numbers, "the old number stays until its replacement is bought"


def test_labels_kept_in_state_are_reported_as_done(world, store):
    """Plivo without alias writing keeps labels only in the state: still an update to report."""
    env = emulated(
        "plivo", world, name="lab", settings={"write_alias": False}, sleep=lambda s: None
    )

    def run(labels):
        d = desired(Declaration("d", "lab", 1, country="FR", number_type="local", labels=labels))
        d = Desired(
            d.config_path, d.config_digest, {"lab": env.provider.config}, d.declarations, d.state
        )
        providers = engine.Providers(d, lambda config: env.provider)
        plan = engine.make_plan(d, providers, store)
        return engine.apply_plan(plan, d, providers, store, allow_release=False)

    run({"team": "a"})
    report = run({"team": "b"})
    assert [(r.action.kind, r.status) for r in report.results] == [("labels", DONE)]
    assert [m.labels for m in store.load().numbers.values()] == [{"team": "b"}]


def test_numbers_an_interrupted_apply_was_releasing_are_forgotten_not_replaced(world, store):
    d = desired(Declaration("d", "lab", 2, country="FR", number_type="local"))
    apply(d, world, store)
    gone = sorted(world.numbers)[0]
    # an apply wrote its release intent, the provider released, then the process died
    store.journal_begin("dead", "release", "lab", "d", {"numbers": [gone]})
    world.release(gone)
    d1 = desired(Declaration("d", "lab", 1, country="FR", number_type="local"))
    plan, report = apply(d1, world, store)
    assert [a.kind for a in plan.actions] == ["settle", "forget"] and report.ok
    assert any("interrupted" in w for w in plan.warnings)
    assert store.load().releasing == {}  # the release entry is closed
    providers = engine.Providers(d1, lambda config: SandboxProvider(config, world=world))
    assert engine.make_plan(d1, providers, store).actions == ()
    assert len(world.numbers) == 1


def test_binds_go_in_batches_of_the_providers_size_at_its_concurrency(store):
    """7 binds, batches of 3, 2 calls at once: calls of 3, 3 and 1 numbers, each journaled;
    an interrupt after the first wave starts no more calls."""
    from dataclasses import replace
    from threading import Lock

    from numbers_iac.executor import Executor
    from numbers_iac.model import Plan
    from numbers_iac.providers.base import BatchOutcome

    class Batched(SandboxProvider):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.capabilities = replace(
                self.capabilities, bind_batch_size=3, mutation_concurrency=2
            )
            self.calls: list[list[str]] = []
            self.lock = Lock()

        def bind(self, numbers, app_id):
            assert {n.app_id for n in numbers} == {"9"}  # as listed, not rebuilt from the plan
            with self.lock:
                self.calls.append([n.number for n in numbers])
            return BatchOutcome(done=tuple(n.number for n in numbers))

    binds, accounts = seven_binds()
    provider = Batched(ProviderConfig("lab", "sandbox", {"apps": ["ivr"]}), world=World())
    report = Executor({"lab": provider}, store, accounts=accounts).apply(Plan(actions=binds))
    assert sorted(len(call) for call in provider.calls) == [1, 3, 3]
    assert {r.status for r in report.results} == {DONE}
    assert len([e for e in store.journal() if e.operation == "bind"]) == 3

    provider.calls.clear()
    executor = Executor({"lab": provider}, store, accounts=accounts)
    original = executor._end_chunk

    def interrupt_after_first_wave(*args):
        original(*args)
        executor._stop_requested = True

    executor._end_chunk = interrupt_after_first_wave
    report = executor.apply(Plan(actions=binds))
    assert sorted(len(call) for call in provider.calls) == [3, 3]  # the first wave only
    assert [r.status for r in report.results].count(SKIPPED) == 1


def test_each_call_is_journaled_before_it_is_sent_in_one_commit_per_call(store, tmp_path):
    """A call's journal entry is committed (another process, or a crash, sees it) before
    the provider hears of the call; what finished calls record and the next call's entry
    share one commit, so 7 calls cost 8 commits (an fsync each), not 21."""
    from dataclasses import replace
    from threading import Lock

    from numbers_iac.executor import Executor
    from numbers_iac.model import Plan
    from numbers_iac.providers.base import BatchOutcome

    reader = SqliteStateStore(tmp_path / "state.sqlite")

    class Watched(SandboxProvider):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.capabilities = replace(
                self.capabilities, bind_batch_size=1, mutation_concurrency=2
            )
            self.unjournaled: list[str] = []
            self.calls = 0
            self.lock = Lock()

        def bind(self, numbers, app_id):
            with self.lock:
                self.calls += 1
                announced = {
                    n for e in reader.journal() if e.outcome is None for n in e.payload["numbers"]
                }
                self.unjournaled += [n.number for n in numbers if n.number not in announced]
            return BatchOutcome(done=tuple(n.number for n in numbers))

    binds, accounts = seven_binds()
    provider = Watched(ProviderConfig("lab", "sandbox", {"apps": ["ivr"]}), world=World())
    commits: list[str] = []
    store._db.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)
    report = Executor({"lab": provider}, store, accounts=accounts).apply(Plan(actions=binds))
    store._db.set_trace_callback(None)
    assert {r.status for r in report.results} == {DONE}
    assert provider.unjournaled == []
    assert {e.outcome for e in reader.journal() if e.operation == "bind"} == {"ok"}
    assert len(commits) <= len(SEVEN) + 1

    # an apply run inside a group of writes would announce calls a kill could erase
    sent = provider.calls
    with pytest.raises(RuntimeError, match="inside a group"), store.grouped():
        Executor({"lab": provider}, store, accounts=accounts).apply(Plan(actions=binds))
    assert provider.calls == sent
    reader.close()


def test_an_interrupted_release_of_a_number_still_listed_is_settled_and_kept(world, store):
    """The release never happened: the entry is closed and the number stays managed, so if
    it vanishes later that is drift (missing), never a silent replacement purchase."""
    d = desired(Declaration("d", "lab", 2, country="FR", number_type="local"))
    apply(d, world, store)
    kept = sorted(world.numbers)[0]
    store.journal_begin("dead", "release", "lab", "d", {"numbers": [kept]})
    plan, report = apply(d, world, store)
    (settle,) = plan.actions
    assert (settle.kind, settle.operation, settle.kept) == ("settle", "release", (kept,))
    assert report.ok and store.load().releasing == {}
    world.release(kept)  # released outside numbers-iac, later
    providers = engine.Providers(d, lambda config: SandboxProvider(config, world=world))
    later = engine.make_plan(d, providers, store)
    assert later.actions == () and [m.number for m in later.missing] == [kept]
    assert later.has_drift and not later.has_changes


def test_an_order_that_lands_while_the_plan_waits_is_not_bought_again(world, store):
    """The plan settled a lapsed order as not bought and planned its purchase; the number
    lands before apply runs (say, while the `yes` prompt waited). Apply refuses instead of
    buying twice, and the next plan adopts the number."""
    from numbers_iac.errors import StalePlanError
    from numbers_iac.journal import BUY_ATTEMPT, attempt_payload

    d = Desired(
        "numbers.yaml",
        "x",
        {"lab": ProviderConfig("lab", "sandbox", {"apps": ["ivr"], "settle_time": 0})},
        {"d": Declaration("d", "lab", 1, country="FR", number_type="local")},
        StateConfig(),
    )
    (late,), _ = world.search("FR", "local", region="AMIENS, FRANCE", limit=1)
    store.journal_begin(
        "dead", BUY_ATTEMPT, "lab", "d", attempt_payload("specific", 1, [late.number])
    )
    providers = engine.Providers(d, lambda config: SandboxProvider(config, world=world))
    plan = engine.make_plan(d, providers, store)
    assert sorted(a.kind for a in plan.actions) == ["purchase", "settle"]
    world.buy(late.number)  # it lands now
    with pytest.raises(StalePlanError, match="appeared since this plan was made"):
        engine.apply_plan(plan, d, providers, store, allow_release=False)
    assert list(world.numbers) == [late.number]
    again = engine.make_plan(d, providers, store)
    assert [a.kind for a in again.actions] == ["adopt", "settle", "labels"]
