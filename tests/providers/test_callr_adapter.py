"""The CALLR adapter against the CALLR emulator, in process (httpx.WSGITransport): the
reserve-then-buy purchase through the core's protocol, Gold prices in the plan, a
reservation short of items, a lapsed token, 429/503 storms, a killed apply's reservation,
typed JSON-RPC errors, and a 10,000-number listing in the fewest requests."""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from numbers_iac import engine
from numbers_iac.emulators.callr import CODES, CallrEmulator, RpcError
from numbers_iac.emulators.faults import Fault, FaultInjector
from numbers_iac.errors import (
    AuthError,
    IncompleteListingError,
    OfferExpiredError,
    OutcomeUnknownError,
    OutOfStockError,
    UnknownRegionError,
)
from numbers_iac.journal import BUY_ATTEMPT, attempt_payload
from numbers_iac.model import (
    RESERVE,
    Account,
    Declaration,
    Desired,
    ProviderConfig,
    StateConfig,
    Where,
)
from numbers_iac.providers.base import PurchaseRequest
from numbers_iac.providers.callr import CallrProvider
from numbers_iac.simulation import World
from numbers_iac.state.sqlite import SqliteStateStore
from tests.protocol import run_purchase
from tests.providers.catalogues import ROME

AMIENS = Where("FR", "local", region="AMIENS, FRANCE")
KEY = "callr-adapter-key-s3cr3t"


class Env:
    """The adapter over an emulator over a World, with a fault injector between them."""

    def __init__(self, world: World, settings: dict | None = None, **options):
        self.world = world
        self.now = [time.time()]
        self.emulator = CallrEmulator(world, auth_token=KEY, clock=lambda: self.now[0], **options)
        self.app = FaultInjector(self.emulator, sleep=lambda s: None)
        config = ProviderConfig(
            "callr",
            "callr",
            {**self.emulator.provider_settings("http://callr.invalid"), **(settings or {})},
        )
        self.provider = CallrProvider(
            config, transport=httpx.WSGITransport(app=self.app), sleep=lambda s: None
        )

    def calls(self, method: str) -> int:
        return sum(1 for r in self.app.log if r.path.endswith(method) and r.status == 200)

    def area(self, name: str = "Amiens") -> int:
        (area,) = [a for a in self.provider.wire.area_codes("FR", "GEOGRAPHIC") if a.name == name]
        return area.area_id


@pytest.fixture
def env() -> Iterator[Env]:
    e = Env(World.from_seed({"apps": ["support-ivr", "sales-bot"], "owned": 3}))
    yield e
    e.provider.close()


def buys(world: World) -> list[str]:
    return [number for kind, number in world.log if kind == "buy"]


def request(count: int, **options) -> PurchaseRequest:
    return PurchaseRequest("support", count, AMIENS, options=options)


# --------------------------------------------------------------------------- listing


def test_ten_thousand_numbers_in_the_fewest_requests():
    e = Env(World.from_seed({"owned": 10_000}))
    listed = e.provider.list_numbers()
    assert len(listed) == 10_000 == len({n.provider_id for n in listed})
    pages = [r for r in e.app.log if "did.search" in r.path]
    assert len(pages) == math.ceil(10_000 / 100) == len(e.app.log)


@pytest.mark.parametrize("server", ["ignores the paging keys", "does not serve did.search"])
def test_a_paged_listing_the_server_does_not_take_falls_back_to_every_did_at_once(server):
    """CALLR documents no paging keys for `did.search` (its own example sends `[{}, {}]`
    and gets the first 50): pages that repeat, or a refused call, fall back to
    `apps.get_dids`, the listing CALLR's help documents, instead of failing every plan."""
    e = Env(World.from_seed({"apps": ["ivr"], "owned": 260}))
    served = e.emulator.methods["did.search"]
    if server == "ignores the paging keys":
        e.emulator.methods["did.search"] = lambda params: served([params[0], {}])
    else:
        del e.emulator.methods["did.search"]
    listed = e.provider.list_numbers()
    assert sorted(n.number for n in listed) == sorted(e.world.numbers)
    assert {n.app_id for n in listed} == {n.app_id for n in e.provider.list_numbers()}
    assert e.calls("apps.get_dids") == 2  # once per listing


@pytest.mark.parametrize("short_by", ["the total", "a DID the pages showed"])
def test_a_fallback_listing_less_complete_than_the_pages_is_not_believed(short_by):
    """`apps.get_dids` may cap its answer (unconfirmed): one with fewer DIDs than
    `did.search` reported, or without one the pages showed, would hide numbers (an open
    purchase's among them, bought again once it lapses); the paged error stands."""
    e = Env(World.from_seed({"owned": 260}))
    served, everything = e.emulator.methods["did.search"], e.emulator.methods["apps.get_dids"]
    e.emulator.methods["did.search"] = lambda params: served([params[0], {}])
    if short_by == "the total":
        e.emulator.methods["apps.get_dids"] = lambda params: everything(params)[:100]
    else:

        def without_the_first_page(params):
            rest = everything(params)[50:]
            others = [
                {**r, "hash": f"OTHER{i}", "intl_number": f"+3399000{i:04d}"}
                for i, r in enumerate(rest[:60])
            ]
            return rest + others  # as many as the total, but not the DIDs the pages showed

        e.emulator.methods["apps.get_dids"] = without_the_first_page
    with pytest.raises(IncompleteListingError):
        e.provider.list_numbers()


def test_a_listing_neither_way_can_read_says_why_the_paged_one_failed():
    e = Env(World.from_seed({"owned": 120}))
    served = e.emulator.methods["did.search"]
    e.emulator.methods["did.search"] = lambda params: served([params[0], {}])
    del e.emulator.methods["apps.get_dids"]
    with pytest.raises(IncompleteListingError):
        e.provider.list_numbers()


def test_area_codes_whose_ids_come_as_digits_in_text_are_bought_from(env):
    """The type of an area code's id is not published (CALLR's TypeScript example passes
    one as a string): digits in text are the same id."""
    served = env.emulator.methods["did/areacode.get_list"]
    env.emulator.methods["did/areacode.get_list"] = lambda params: [
        {**area, "id": str(area["id"])} for area in served(params)
    ]
    outcome = run_purchase(env.provider, request(1))
    assert outcome.error is None and len(outcome.bought) == len(buys(env.world)) == 1


def test_listing_reads_hash_e164_type_and_app(env):
    ivr = env.world.app_by_name("support-ivr")[0]
    number = sorted(env.world.numbers)[0]
    env.world.update(number, app_id=ivr)
    listed = {n.number: n for n in env.provider.list_numbers()}
    apps = {a.name: a.app_id for a in env.provider.list_apps()}
    assert listed[number].app_id == apps["support-ivr"]
    assert listed[number].provider_id.isupper() and len(listed[number].provider_id) == 8
    assert set(listed) == set(env.world.numbers)


# --------------------------------------------------------------------------- purchases


def test_a_purchase_reserves_then_buys_and_the_core_binds(env):
    """The store takes no app: the buy binds nothing, the apply assigns each DID it
    bought right after the purchase, and the next plan has nothing left to do."""
    ivr = {a.name: a.app_id for a in env.provider.list_apps()}["support-ivr"]
    outcome = run_purchase(env.provider, PurchaseRequest("support", 2, AMIENS, app_id=ivr))
    assert outcome.error is None and len(outcome.bought) == 2
    assert env.calls("did/store.reserve") == 1 and env.calls("did/store.buy_order") == 1
    assert env.calls("apps.assign_did") == 0
    assert {env.world.numbers[n.number].app_id for n in outcome.bought} == {None}
    assert env.emulator.open_orders() == {}
    with tempfile.TemporaryDirectory() as tmp, SqliteStateStore(Path(tmp) / "s.sqlite") as store:
        d = desired(env)
        plan, report = plan_and_apply(env, d, store)
        assert report.ok and [a.kind for a in plan.actions] == ["purchase"]
        bought = report.results[0].numbers
        assert env.calls("apps.assign_did") == 2
        world_ivr = env.world.app_by_name("support-ivr")[0]
        assert {env.world.numbers[n].app_id for n in bought} == {world_ivr}
        assert {store.load().numbers[("callr", n)].app for n in bought} == {"support-ivr"}
        assert engine.make_plan(d, engine.Providers(d, lambda c: env.provider), store).actions == ()


def test_a_reservation_is_priced_per_number(env):
    offer = env.provider.offer(request(3, **{"class": "gold"}), 3, frozenset())
    assert offer.count == 3 and offer.price.monthly == Decimal("8.00")
    assert offer.price == env.provider.quote_options(AMIENS, 3, {"class": "gold"}).price
    env.provider.abort(offer)
    assert env.emulator.open_orders() == {}


def test_a_reservation_with_fewer_items_buys_them_and_says_so(env):
    env.emulator.short_stock[env.area()] = 2
    outcome = run_purchase(env.provider, request(5))
    assert len(outcome.bought) == 2 == len(buys(env.world))
    assert isinstance(outcome.error, OutOfStockError) and "bought 2 of 5" in str(outcome.error)


def test_a_short_reservation_is_cancelled_when_partial_is_forbidden(env):
    env.emulator.short_stock[env.area()] = 2
    outcome = run_purchase(env.provider, request(5, partial=False))
    assert outcome.bought == () and buys(env.world) == []
    assert "partial: false" in str(outcome.error)
    assert env.calls("did/store.cancel_order") == 1 and env.emulator.open_orders() == {}
    assert env.world.reservations == {}


def test_an_expired_token_is_reserved_again_never_resent(env):
    """The token lapses between reserve and buy: buy_order is refused, nothing was bought,
    and the core reserves again instead of sending the same buy twice."""

    def lapse(method: str, path: str) -> None:
        env.now[0] += 301

    env.app.add(Fault(status=None, times=1, match="did/store.buy_order", on_request=lapse))
    outcome = run_purchase(env.provider, request(2))
    assert outcome.error is None and len(outcome.bought) == 2
    assert env.calls("did/store.reserve") == 2
    assert [r.status for r in env.app.log if "buy_order" in r.path] == [200, 200]
    assert sorted(env.emulator.closed.values()) == ["bought", "expired"]


def test_a_lapsed_token_raises_offer_expired(env):
    offer = env.provider.offer(request(1), 1, frozenset())
    env.now[0] += 301
    with pytest.raises(OfferExpiredError) as err:
        env.provider.commit(offer)
    assert f"CALLR error {CODES['order_expired']}" in str(err.value)
    assert buys(env.world) == []


def test_a_reservation_dearer_than_the_plan_is_cancelled(env):
    """The plan priced Classic; the account now charges more: the core cancels."""
    classic = env.provider.quote(AMIENS, 1).price
    env.emulator.gold_multiplier = 1
    env.emulator.world.groups[env.area() - 1].monthly = Decimal("5.00")
    from numbers_iac.model import Purchase
    from numbers_iac.purchase import PurchaseRun

    action = Purchase("callr", "support", count=1, where=AMIENS, price=classic)
    store = SqliteStateStore(Path(tempfile.mkdtemp()) / "state.sqlite")
    result = PurchaseRun(env.provider, store, "t", action, lambda: False).run()
    assert result.bought == [] and "more than the plan" in str(result.error)
    assert env.emulator.open_orders() == {} and buys(env.world) == []


def test_a_lost_buy_answer_is_unknown_and_recovered_from_the_listing(env):
    offer = env.provider.offer(request(1), 1, frozenset())
    env.app.add(Fault(status=500, then_fail=True, times=1, match="did/store.buy_order"))
    with pytest.raises(OutcomeUnknownError):
        env.provider.commit(offer)
    assert len(buys(env.world)) == 1
    account = Account("callr", env.provider.list_numbers())
    attempt = _attempt(offer)
    (found,) = env.provider.recover([attempt], account)
    assert [n.number for n in found.produced] == [offer.candidates[0].number] and found.settled


def test_an_open_reservation_of_a_dead_apply_is_settled_as_not_bought(env):
    offer = env.provider.offer(request(2), 2, frozenset())
    account = Account("callr", env.provider.list_numbers())
    (found,) = env.provider.recover([_attempt(offer)], account)
    assert found.settled and found.produced == ()
    env.provider.abort(offer)
    (gone,) = env.provider.recover([_attempt(offer)], account)
    assert not gone.settled, "an order CALLR no longer knows may have been bought"


def _attempt(offer):
    from datetime import UTC, datetime

    from numbers_iac.model import Attempt

    return Attempt(
        entry_id=1,
        provider="callr",
        declaration="support",
        mode=RESERVE,
        count=offer.count,
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        numbers=tuple(c.number for c in offer.candidates),
        where=AMIENS,
        handle=offer.handle,
        expires_at=offer.expires_at,
    )


# --------------------------------------------------------------------------- the engine


def desired(env: Env, **options) -> Desired:
    declaration = Declaration(
        name="support",
        provider="callr",
        quantity=2,
        country="FR",
        number_type="local",
        region="AMIENS, FRANCE",
        app="support-ivr",
        options=options,
    )
    return Desired(
        config_path="numbers.yaml",
        config_digest="callr",
        providers={"callr": env.provider.config},
        declarations={"support": declaration},
        state=StateConfig(),
    )


def plan_and_apply(env: Env, d: Desired, store) -> tuple:
    providers = engine.Providers(d, lambda config: env.provider)
    plan = engine.make_plan(d, providers, store)
    report = engine.apply_plan(plan, d, providers, store, allow_release=False)
    return plan, report


def test_a_gold_purchase_shows_its_higher_price_in_the_plan(env):
    with tempfile.TemporaryDirectory() as tmp, SqliteStateStore(Path(tmp) / "s.sqlite") as store:
        providers = lambda d: engine.Providers(d, lambda config: env.provider)  # noqa: E731
        classic = engine.make_plan(desired(env), providers(desired(env)), store)
        d = desired(env, **{"class": "gold"})
        gold = engine.make_plan(d, providers(d), store)
        (c,), (g,) = classic.actions, gold.actions
        assert g.price.monthly == 10 * c.price.monthly > 0
        report = engine.apply_plan(gold, d, providers(d), store, allow_release=False)
        assert report.ok
        listed = env.provider.wire.dids(100, lambda done, total: None)
        assert {x.did_class for x in listed if x.e164 in set(buys(env.world))} == {"GOLD"}


def test_the_next_apply_cancels_a_killed_applys_reservation(env):
    """An apply died after `reserve`, before `buy_order`: its token is in the journal. The
    next apply cancels that order before reserving again, so the shortfall never holds two
    orders, and buys once."""
    with tempfile.TemporaryDirectory() as tmp, SqliteStateStore(Path(tmp) / "s.sqlite") as store:
        d = desired(env)
        dead = env.provider.offer(request(2), 2, frozenset())
        numbers = [c.number for c in dead.candidates]
        payload = attempt_payload(
            RESERVE, 2, numbers, handle=dead.handle, expires_at=dead.expires_at
        )
        store.journal_begin("dead", BUY_ATTEMPT, "callr", "support", payload)
        open_when_reserving: list[int] = []

        def count_open(method: str, path: str) -> None:
            open_when_reserving.append(len(env.emulator.open_orders()))

        env.app.add(Fault(status=None, times=99, match="did/store.reserve", on_request=count_open))
        plan, report = plan_and_apply(env, d, store)
        assert report.ok, report
        assert {a.kind for a in plan.actions} == {"settle", "purchase"}
        assert open_when_reserving == [0]
        assert env.emulator.closed[dead.handle] == "cancelled"
        assert len(buys(env.world)) == 2 and env.emulator.open_orders() == {}
        replanned = engine.make_plan(d, engine.Providers(d, lambda config: env.provider), store)
        assert replanned.actions == ()


def test_a_reservation_that_cannot_be_cancelled_holds_its_purchase_back(env):
    """Only a cancel that worked proves a buy still on its way cannot land: until then the
    attempt stays open and nothing is bought for its declaration."""
    with tempfile.TemporaryDirectory() as tmp, SqliteStateStore(Path(tmp) / "s.sqlite") as store:
        d = desired(env)
        dead = env.provider.offer(request(2), 2, frozenset())
        numbers = [c.number for c in dead.candidates]
        payload = attempt_payload(
            RESERVE, 2, numbers, handle=dead.handle, expires_at=dead.expires_at
        )
        store.journal_begin("dead", BUY_ATTEMPT, "callr", "support", payload)
        env.app.add(Fault(status=503, times=50, match="did/store.cancel_order"))
        plan, report = plan_and_apply(env, d, store)
        assert not report.ok and buys(env.world) == []
        assert env.calls("did/store.reserve") == 1  # the dead apply's only
        assert len(store.load().attempts) == 1
        env.app.clear()
        plan, report = plan_and_apply(env, d, store)
        assert report.ok and len(buys(env.world)) == 2
        assert env.emulator.closed[dead.handle] == "cancelled" and not store.load().attempts


# --------------------------------------------------------------------------- HTTP behaviour


def test_a_429_and_503_storm_is_weathered_on_reads_and_binds(env):
    """Reads, quotes and binds are retried through a storm; the purchase still reserves
    and buys once."""
    env.app.add(Fault(status=429, retry_after=0.01, times=3, match="did/areacode.get_list"))
    env.app.add(Fault(status=503, times=2, match="did/store.get_quote"))
    env.app.add(Fault(status=503, times=2, match="apps.assign_did"))
    env.app.add(Fault(status=429, times=3, match="did.search"))
    assert env.provider.quote(AMIENS, 1).price is not None
    with tempfile.TemporaryDirectory() as tmp, SqliteStateStore(Path(tmp) / "s.sqlite") as store:
        plan, report = plan_and_apply(env, desired(env), store)
        assert report.ok and [a.kind for a in plan.actions] == ["purchase"]
        (result,) = report.results
        assert len(result.numbers) == 2 and "not bound" not in result.detail
    assert len(env.provider.list_numbers()) == 5
    assert sum(1 for r in env.app.log if r.status in (429, 503)) == 10
    assert len(env.app.requests(contains="did/store.reserve")) == 1
    assert len(env.app.requests(contains="did/store.buy_order")) == 1
    world_ivr = env.world.app_by_name("support-ivr")[0]
    assert {env.world.numbers[n].app_id for n in result.numbers} == {world_ivr}


def test_a_503_on_the_buy_is_never_resent(env):
    offer = env.provider.offer(request(1), 1, frozenset())
    env.app.add(Fault(status=503, times=5, match="did/store.buy_order"))
    with pytest.raises(OutcomeUnknownError):
        env.provider.commit(offer)
    assert len(env.app.requests(contains="did/store.buy_order")) == 1


def test_a_reserve_storm_fails_the_purchase_without_buying(env):
    env.app.add(Fault(status=503, times=5, match="did/store.reserve"))
    outcome = run_purchase(env.provider, request(1))
    assert outcome.bought == () and outcome.error is not None
    assert len(env.app.requests(contains="did/store.reserve")) == 1


@pytest.mark.parametrize("status", [200, 400, 500])
def test_a_json_rpc_error_is_typed_with_callrs_code_whatever_the_status(status):
    e = Env(World.from_seed({"apps": ["support-ivr"], "owned": 1}), error_status=status)
    (number,) = e.provider.list_numbers()
    outcome = e.provider.bind([number], "NOSUCHAP")
    assert f"(CALLR error {CODES['not_found']})" in outcome.failed[number.number]
    assert "App NOSUCHAP not found" in outcome.failed[number.number]


def test_a_bare_404_on_release_is_a_failure_not_already_released(env):
    """CALLR answers every method on one URL: a 404 without a JSON-RPC error is a proxy's
    page, and the DIDs it hid are still billed."""
    owned = env.provider.list_numbers()
    env.app.add(
        Fault(status=404, body={"message": "Not Found"}, times=10, match="cancel_subscription")
    )
    outcome = env.provider.release(owned)
    assert outcome.done == () and set(outcome.failed) == {n.number for n in owned}
    assert all(n.number in env.world.numbers for n in owned)


@pytest.mark.parametrize("status", [200, 404])
def test_a_did_callr_says_it_does_not_know_is_already_released(status):
    e = Env(World.from_seed({"apps": ["support-ivr"], "owned": 2}), error_status=status)
    owned = e.provider.list_numbers()
    assert e.provider.release(owned).done == tuple(n.number for n in owned)
    again = e.provider.release(owned)  # CALLR answers its own "unknown DID" error
    assert again.done == tuple(n.number for n in owned) and not again.failed


def test_an_unknown_did_answer_for_a_did_still_listed_is_a_failed_release(env):
    """CALLR's codes are not published: when its "unknown DID" answer comes for a DID it
    still lists, the release failed (the number is still billed), whatever the code says."""
    owned = env.provider.list_numbers()
    code = env.emulator.codes["not_found"]

    def refuses(params):
        raise RpcError(code, f"DID {params[0]} not found")

    env.emulator.methods["did/store.cancel_subscription"] = refuses
    outcome = env.provider.release(owned)
    assert outcome.done == () and set(outcome.failed) == {n.number for n in owned}
    assert all("still lists it" in why for why in outcome.failed.values())
    assert all(n.number in env.world.numbers for n in owned)


def test_a_bare_404_on_the_buy_is_unknown_not_a_lapsed_token(env):
    offer = env.provider.offer(request(1), 1, frozenset())
    env.app.add(Fault(status=404, body={"message": "Not Found"}, then_fail=True, match="buy_order"))
    with pytest.raises(OutcomeUnknownError) as err:
        env.provider.commit(offer)
    assert err.value.status is None and "HTTP 404" in str(err.value)
    assert len(buys(env.world)) == 1


def test_wrong_key_is_an_auth_error_without_the_key(env):
    bad = Env(env.world, settings={"api_key": "wrong-key-XYZ"})
    with pytest.raises(AuthError) as err:
        bad.provider.list_numbers()
    assert "wrong-key-XYZ" not in str(err.value) and "401" in str(err.value)


def test_basic_auth_and_login_as(env):
    basic = Env(
        env.world,
        settings={
            "api_key": None,
            "login": "emulator",
            "password": KEY,
            "login_as": "user.login jdoe",
        },
    )
    assert len(basic.provider.list_numbers()) == 3
    assert set(basic.emulator.login_as) == {"user.login jdoe"}
    assert basic.emulator.content_types == {"application/json-rpc; charset=utf-8"}


def test_an_unknown_area_names_what_is_for_sale(env):
    with pytest.raises(UnknownRegionError) as err:
        env.provider.quote(Where("FR", "local", region="Atlantis"), 1)
    assert "Atlantis" in str(err.value) and "Amiens" in str(err.value)


def test_prefixes_resolve_in_every_spelling(env):
    for prefix in ("+33 3 22", "0322", "322", "32"):
        assert env.provider.quote(Where("FR", "local", prefix=prefix), 1).price is not None
    with pytest.raises(UnknownRegionError):  # narrower than any area code: not promised
        env.provider.quote(Where("FR", "local", prefix="3221"), 1)


def test_an_italian_prefix_keeps_its_leading_zero():
    """CALLR lists Rome's area code as +3906 and Italian numbers keep the 0: the declared
    "06" must find it (stripped to "6", the plan said Rome was not for sale and offered "06")."""
    italy = Env(World.from_seed({"catalogue": [ROME]}))
    try:
        for prefix in ("06", "+39 06"):
            assert italy.provider.quote(Where("IT", "local", prefix=prefix), 1).price is not None
        assert [r.prefix for r in italy.provider.inventory("IT")] == ["06"]
        outcome = run_purchase(
            italy.provider,
            PurchaseRequest("rome", 2, Where("IT", "local", prefix="06"), (), None, "rome"),
        )
        assert [n.number[:5] for n in outcome.bought] == ["+3906", "+3906"]
    finally:
        italy.provider.close()


def test_inventory_lists_area_codes_with_classic_prices(env):
    rows = env.provider.inventory("FR")
    amiens = [r for r in rows if r.region == "Amiens"]
    assert amiens and amiens[0].prefix == "322" and amiens[0].price.monthly > 0
    assert {r.number_type for r in rows} <= {"local", "national", "tollfree"}
    assert env.provider.inventory("ZZ") == []


def test_declaration_options_are_checked():
    bad = Declaration(
        "d", "callr", 1, "FR", "mobile", options={"class": "platinum", "partial": "no"}
    )
    problems = {p.path: p.message for p in CallrProvider.validate_declaration(bad)}
    assert set(problems) == {"numbers.d.class", "numbers.d.partial"}
