"""One contract suite, run against every provider: the sandbox and each provider's emulator.

A new provider joins by adding a harness to `HARNESSES`; every scenario then runs against it.
Scenarios that need an HTTP layer (auth, 429 storms) are skipped for the sandbox, which has
none, with that reason.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from numbers_iac import engine
from numbers_iac.emulators.faults import Fault, FaultInjector
from numbers_iac.emulators.serve import emulated
from numbers_iac.errors import AuthError, ConfigError, OutOfStockError, ProviderError
from numbers_iac.model import Declaration, Desired, ProviderConfig, StateConfig, Where
from numbers_iac.providers.base import Provider, PurchaseRequest
from numbers_iac.providers.sandbox import SandboxProvider
from numbers_iac.simulation import World
from numbers_iac.state.sqlite import SqliteStateStore
from tests.protocol import run_purchase

APPS = ["support-ivr", "sales-bot"]
FR_AMIENS = Where("FR", "local", region="AMIENS, FRANCE")


@dataclass
class Harness:
    """A provider adapter over a World the test can arrange and inspect."""

    name: str
    provider: Provider
    world: World
    config: ProviderConfig
    faults: FaultInjector | None = None
    #: a second adapter with wrong credentials, where the provider has credentials
    make_bad_auth: Callable[[], Provider] | None = None
    #: the listing's requests (a path fragment) and how many numbers a page holds (None: the
    #: API answers the whole inventory in one request)
    listing_path: str = "/Number/"
    page_size: int | None = 20
    #: what a refused login says (an HTTP status, or the provider's own code)
    auth_marker: str = "401"
    #: a fragment of "METHOD /path" every read-back request carries
    read_match: str = "GET "
    #: where the generic purchases buy (MessageMedia searches by prefix, not by region)
    where: Where = FR_AMIENS

    def app_id(self, name: str) -> str:
        """The app's id as the adapter knows it (Aculab: the template service's name)."""
        ids = [a.app_id for a in self.provider.list_apps() if a.name == name]
        return ids[0] if ids else self.world.app_by_name(name)[0]

    def world_app(self, name: str) -> str:
        """The app's id in the World (what the emulator's records hold)."""
        return self.world.app_by_name(name)[0]


def sandbox_harness(world: World) -> Iterator[Harness]:
    config = ProviderConfig("lab", "sandbox", {"apps": APPS})
    yield Harness("sandbox", SandboxProvider(config, world=world), world, config)


def plivo_harness(world: World) -> Iterator[Harness]:
    no_sleep = lambda seconds: None  # noqa: E731 - retries must not slow the suite
    with emulated("plivo", world, name="plivo", sleep=no_sleep) as emu:
        for app in APPS:
            if not world.app_by_name(app):
                world.add_app(app)

        def bad_auth() -> Provider:
            return emulated(
                "plivo",
                world,
                name="plivo",
                settings={"auth_token": "wrong-token-XYZ"},
                sleep=no_sleep,
            ).provider

        yield Harness("plivo", emu.provider, world, emu.provider.config, emu.app, bad_auth)


def aculab_harness(world: World) -> Iterator[Harness]:
    """Aculab's apps are template inbound services, one per World app."""
    no_sleep = lambda seconds: None  # noqa: E731 - retries must not slow the suite
    for app in APPS:
        if not world.app_by_name(app):
            world.add_app(app)
    with emulated("aculab", world, name="aculab", sleep=no_sleep) as emu:

        def bad_auth() -> Provider:
            return emulated(
                "aculab",
                world,
                name="aculab",
                settings={"api_key": "wrong-token-XYZ"},
                sleep=no_sleep,
            ).provider

        yield Harness(
            "aculab",
            emu.provider,
            world,
            emu.provider.config,
            emu.app,
            bad_auth,
            listing_path="/tel_list_numbers",
            page_size=None,
        )


def voximplant_harness(world: World) -> Iterator[Harness]:
    """Pages of 20, so the generic listing scenarios span pages as Plivo's do (the
    default of 100 is covered in tests/providers/test_voximplant_adapter.py)."""
    no_sleep = lambda seconds: None  # noqa: E731 - retries must not slow the suite
    for app in APPS:
        if not world.app_by_name(app):
            world.add_app(app)
    settings = {"page_size": 20}
    with emulated("voximplant", world, name="voximplant", settings=settings, sleep=no_sleep) as emu:

        def bad_auth() -> Provider:
            from numbers_iac.emulators.voximplant import generate_service_account

            other = generate_service_account(emu.emulator.account_id)  # same kid, other key
            return emulated(
                "voximplant",
                world,
                name="voximplant",
                settings={**settings, "credentials": json.dumps(other)},
                sleep=no_sleep,
                service_account=emu.emulator.service_account,
            ).provider

        yield Harness(
            "voximplant",
            emu.provider,
            world,
            emu.provider.config,
            emu.app,
            bad_auth,
            listing_path="/GetPhoneNumbers",
            page_size=20,
            auth_marker="code 100",
            read_match="/GetPhoneNumbers",
        )


def callr_harness(world: World) -> Iterator[Harness]:
    """CALLR: JSON-RPC on one URL, so the log names the method (`did.search`)."""
    no_sleep = lambda seconds: None  # noqa: E731 - retries must not slow the suite
    for app in APPS:
        if not world.app_by_name(app):
            world.add_app(app)
    small_pages = {"page_size": 20}  # the 429 storm needs several pages
    with emulated("callr", world, name="callr", sleep=no_sleep, settings=small_pages) as emu:

        def bad_auth() -> Provider:
            return emulated(
                "callr", world, name="callr", settings={"api_key": "wrong-token-XYZ"}
            ).provider

        yield Harness(
            "callr",
            emu.provider,
            world,
            emu.provider.config,
            emu.app,
            bad_auth,
            listing_path="did.search",
            page_size=20,
        )


def messagemedia_harness(world: World) -> Iterator[Harness]:
    """Pages of 20, so the generic listing scenarios span pages (pages of 100, its default,
    are covered in tests/providers/test_messagemedia_adapter.py); no apps, no region search:
    it buys in Amiens' block by prefix."""
    no_sleep = lambda seconds: None  # noqa: E731 - retries must not slow the suite
    settings = {"page_size": 20}
    with emulated(
        "messagemedia", world, name="messagemedia", settings=settings, sleep=no_sleep
    ) as emu:

        def bad_auth() -> Provider:
            return emulated(
                "messagemedia",
                world,
                name="messagemedia",
                settings={**settings, "api_secret": "wrong-token-XYZ"},
                sleep=no_sleep,
            ).provider

        yield Harness(
            "messagemedia",
            emu.provider,
            world,
            emu.provider.config,
            emu.app,
            bad_auth,
            listing_path="/assignments",
            where=Where("FR", "local", prefix="322"),
        )


HARNESSES = {
    "sandbox": sandbox_harness,
    "plivo": plivo_harness,
    "aculab": aculab_harness,
    "callr": callr_harness,
    "voximplant": voximplant_harness,
    "messagemedia": messagemedia_harness,
}


def make(kind: str, seed: dict | None = None) -> Iterator[Harness]:
    world = World.from_seed({"apps": APPS, **(seed or {})})
    return HARNESSES[kind](world)


@pytest.fixture(params=sorted(HARNESSES))
def kind(request) -> str:
    return request.param


@pytest.fixture
def harness(kind) -> Iterator[Harness]:
    yield from make(kind)


def needs_http(h: Harness) -> None:
    if h.faults is None:
        pytest.skip(f"{h.name} has no HTTP layer")


def needs_apps(h: Harness) -> None:
    if not h.provider.capabilities.apps:
        pytest.skip(f"{h.name} has no app binding (capabilities.apps is False)")


def buy(h: Harness, count: int, where: Where | None = None, app: str | None = None):
    bought = []
    request = PurchaseRequest(
        "contract", count, where or h.where, app_id=h.app_id(app) if app else None, tag="contract"
    )
    outcome = run_purchase(h.provider, request, bought.append)
    return bought, outcome


# --------------------------------------------------------------------------- listing


@pytest.mark.parametrize("owned", [45, 65])
def test_lists_every_page(kind, owned):
    for h in make(kind, {"owned": owned}):
        progress: list[tuple[int, int | None]] = []
        listed = h.provider.list_numbers(
            lambda done, total, seen=progress: seen.append((done, total))
        )
        assert sorted(n.number for n in listed) == sorted(h.world.numbers)
        assert len({n.number for n in listed}) == owned
        if h.faults is not None:
            pages = [r for r in h.faults.log if h.listing_path in r.path]
            if h.page_size is None:
                assert len(pages) == 1  # the whole inventory in one answer
            else:
                assert len(pages) >= -(-owned // h.page_size)  # every page was fetched
        assert progress and progress[-1][0] == owned


def test_apps_are_listed_by_name(harness):
    needs_apps(harness)
    names = {a.name for a in harness.provider.list_apps()}
    assert set(APPS) <= names


# --------------------------------------------------------------------------- purchase


def test_buy_n_gets_n_distinct_numbers_of_the_right_place(harness):
    app = "support-ivr" if harness.provider.capabilities.apps else None
    bought, outcome = buy(harness, 3, app=app)
    assert outcome.error is None
    assert len(bought) == 3 == len({n.number for n in bought})
    assert {n.number for n in bought} <= set(harness.world.numbers)
    assert all(n.number.startswith("+333") for n in bought)
    # a buy that cannot bind leaves it to the apply (test_end_to_end_convergence...)
    bound = (
        app and harness.world_app(app) if harness.provider.capabilities.binds_on_purchase else None
    )
    assert all(harness.world.numbers[n.number].app_id == bound for n in bought)
    assert Counter(op for op, _ in harness.world.log)["buy"] == 3


def test_out_of_stock_buys_what_exists_and_says_so(harness):
    group = harness.world.find_groups("FR", "local", region="AMIENS, FRANCE")[0]
    harness.world.set_stock(group.group_id, 2)
    bought, outcome = buy(harness, 5)
    assert len(bought) == 2
    assert isinstance(outcome.error, OutOfStockError | ProviderError)
    assert isinstance(outcome.error, OutOfStockError)
    assert "bought 2 of 5" in str(outcome.error)


def test_unknown_region_is_a_clear_error(harness):
    with pytest.raises(ProviderError) as err:
        harness.provider.quote(Where("FR", "local", region="ATLANTIS"), 1)
    assert "ATLANTIS" in str(err.value)


def test_quote_has_prices(harness):
    if not harness.provider.capabilities.prices_known:
        pytest.skip(f"{harness.name} publishes no prices before a purchase")
    quote = harness.provider.quote(FR_AMIENS, 2)
    assert quote.price.monthly > 0


# --------------------------------------------------------------------------- bind / labels / release


def test_bind_rebind_unbind(harness):
    needs_apps(harness)
    bought, _ = buy(harness, 2)
    ivr, sales = harness.app_id("support-ivr"), harness.app_id("sales-bot")
    for app_id in (ivr, sales, None):
        outcome = harness.provider.bind(bought, app_id)
        assert set(outcome.done) == {n.number for n in bought} and not outcome.failed
        listed = {n.number: n.app_id for n in harness.provider.list_numbers()}
        assert all(listed[n.number] == app_id for n in bought)


def test_bind_to_unknown_app_fails_per_number(harness):
    needs_apps(harness)
    bought, _ = buy(harness, 1)
    outcome = harness.provider.bind(bought, "999999999")
    assert bought[0].number in outcome.failed


def test_release_and_release_again(harness):
    bought, _ = buy(harness, 2)
    outcome = harness.provider.release(bought)
    assert set(outcome.done) == {n.number for n in bought}
    assert not ({n.number for n in bought} & set(harness.world.numbers))
    again = harness.provider.release(bought)
    assert set(again.done) == {n.number for n in bought}, (
        "an already released number counts as done"
    )


# --------------------------------------------------------------------------- HTTP behaviour


def test_wrong_credentials_are_one_clear_error(harness):
    needs_http(harness)
    bad = harness.make_bad_auth()
    with pytest.raises(AuthError) as err:
        bad.list_numbers()
    message = str(err.value)
    assert harness.name in message and harness.auth_marker in message
    assert "wrong-token-XYZ" not in message and "\n" not in message


def test_survives_a_429_storm(kind):
    for h in make(kind, {"owned": 45}):
        needs_http(h)
        h.faults.add(Fault(status=429, retry_after=0.01, times=6))
        h.faults.add(Fault(status=429, times=4, after=7))  # no Retry-After: backoff
        listed = h.provider.list_numbers()
        assert len(listed) == 45
        assert sum(1 for r in h.faults.log if r.status == 429) == 10


# --------------------------------------------------------------------------- end to end


def desired_for(h: Harness, declarations: list[Declaration]) -> Desired:
    return Desired(
        config_path="numbers.yaml",
        config_digest="contract",
        providers={h.config.name: h.config},
        declarations={d.name: d for d in declarations},
        state=StateConfig(),
    )


def declaration(h: Harness, **kw) -> Declaration:
    base = dict(
        name="support",
        provider=h.config.name,
        quantity=3,
        country=h.where.country,
        number_type=h.where.number_type,
        region=h.where.region,
        prefix=h.where.prefix,
        app="support-ivr",
        labels={"team": "support"},
    )
    base.update(kw)
    if not h.provider.capabilities.apps:
        base["app"] = None  # the loader refuses app: where there is no binding
    return Declaration(**base)


def run_engine(h: Harness, d: Desired, store, allow_release=False):
    providers = engine.Providers(d, lambda config: h.provider)  # the harness closes it
    plan = engine.make_plan(d, providers, store)
    report = (
        engine.apply_plan(plan, d, providers, store, allow_release=allow_release)
        if plan.actions
        else None
    )
    return plan, report


def replan(h: Harness, d: Desired, store):
    return engine.make_plan(d, engine.Providers(d, lambda config: h.provider), store)


def test_end_to_end_convergence_labels_rebind_and_release(harness):
    h = harness
    with (
        tempfile.TemporaryDirectory() as tmp,
        SqliteStateStore(Path(tmp) / "state.sqlite") as store,
    ):
        d = desired_for(h, [declaration(h)])
        plan, report = run_engine(h, d, store)
        assert [a.kind for a in plan.actions] == ["purchase"] and report.ok
        if h.provider.capabilities.prices_known:
            assert plan.actions[0].price is not None  # priced from the provider
        if h.provider.capabilities.apps:  # by the buy, or by the apply right after it
            ivr = h.world_app("support-ivr")
            assert all(h.world.numbers[n].app_id == ivr for n in report.results[0].numbers)
        assert replan(h, d, store).actions == ()

        # labels round-trip (natively or through the state) and a rebind
        d2 = desired_for(h, [declaration(h, app="sales-bot", labels={"team": "ops"})])
        plan, report = run_engine(h, d2, store)
        apps = h.provider.capabilities.apps
        assert {a.kind for a in plan.actions} == ({"bind", "labels"} if apps else {"labels"})
        assert report.ok and replan(h, d2, store).actions == ()
        if apps:
            sales = h.world_app("sales-bot")
            assert all(n.app_id == sales for n in h.world.numbers.values())

        # release the surplus: exactly one number, the plan's
        d3 = desired_for(h, [declaration(h, app="sales-bot", labels={"team": "ops"}, quantity=2)])
        before = set(h.world.numbers)
        plan, report = run_engine(h, d3, store, allow_release=True)
        assert [a.kind for a in plan.actions] == ["release"] and report.ok
        assert before - set(h.world.numbers) == {plan.actions[0].number}
        assert replan(h, d3, store).actions == ()


def test_unknown_app_is_a_located_error(harness):
    needs_apps(harness)
    with (
        tempfile.TemporaryDirectory() as tmp,
        SqliteStateStore(Path(tmp) / "state.sqlite") as store,
    ):
        d = desired_for(harness, [declaration(harness, app="no-such-app")])
        with pytest.raises(ConfigError) as err:
            replan(harness, d, store)
        assert "no-such-app" in str(err.value)
