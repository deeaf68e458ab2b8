"""The Plivo adapter against the Plivo emulator, in process (httpx.WSGITransport)."""

from __future__ import annotations

import re
import threading
import time
from decimal import Decimal

import httpx
import pytest

from numbers_iac import engine
from numbers_iac.emulators.plivo import DEFAULT_AUTH_ID, DEFAULT_AUTH_TOKEN
from numbers_iac.emulators.serve import Emulated, emulated, make_app
from numbers_iac.errors import (
    AuthError,
    IncompleteListingError,
    NumberUnavailableError,
    OutcomeUnknownError,
    ProviderError,
    RateLimitedError,
    StateError,
    UnknownAppError,
    UnknownRegionError,
)
from numbers_iac.model import PENDING, Desired, ProviderConfig, Recorded, StateConfig, Where
from numbers_iac.providers.base import PurchaseRequest
from numbers_iac.providers.plivo import MAX_SEARCH_PAGES, PlivoProvider
from numbers_iac.simulation import World
from numbers_iac.state.sqlite import SqliteStateStore
from tests.protocol import run_purchase

PREFIX = f"/v1/Account/{DEFAULT_AUTH_ID}/"


def no_sleep(seconds: float) -> None:
    pass


def plivo(world: World, **kwargs) -> Emulated:
    kwargs.setdefault("sleep", no_sleep)
    return emulated("plivo", world, **kwargs)


@pytest.fixture
def account():
    world = World.from_seed({"apps": ["ivr", "sales"], "owned": 45})
    with plivo(world) as env:
        yield env


def app_id(world: World, name: str) -> str:
    (found,) = world.app_by_name(name)
    return found


def buys(world: World) -> list[str]:
    return [number for kind, number in world.log if kind == "buy"]


# ----------------------------------------------------------------- listing


def test_lists_45_owned_numbers_over_three_pages(account):
    seen_progress = []
    numbers = account.provider.list_numbers(lambda done, total: seen_progress.append((done, total)))
    assert [n.number for n in numbers] == sorted(account.world.numbers)
    pages = account.app.requests("GET", "/Number/")
    assert len(pages) == 3
    assert seen_progress[-1] == (45, 45)
    sample = account.world.numbers[numbers[0].number]
    assert numbers[0].provider_id == sample.number.lstrip("+")
    assert numbers[0].country == sample.country
    assert numbers[0].number_type == sample.number_type
    assert numbers[0].monthly == sample.monthly
    assert numbers[0].status == "active"


def test_listing_maps_app_and_alias(account):
    world = account.world
    first, second = sorted(world.numbers)[:2]
    world.update(first, app_id=app_id(world, "ivr"), alias="support")
    listed = {n.number: n for n in account.provider.list_numbers()}
    assert listed[first].app_id == app_id(world, "ivr")
    assert listed[first].tag == "support"
    assert listed[second].app_id is None and listed[second].tag is None


def test_concurrent_paging_dedupes_a_listing_shifted_by_a_purchase():
    world = World.from_seed({})
    for_sale, _ = world.search("US", "local", prefix="415", limit=46)
    lowest, *rest = sorted(n.number for n in for_sale)
    for number in rest:
        world.buy(number)
    with plivo(world) as env:

        def buy_lowest(method, path):  # someone buys in the console after page 1
            with env.emulator.lock:
                world.buy(lowest)

        env.app.add(status=None, match="GET " + PREFIX + "Number/", on_response=buy_lowest)
        numbers = env.provider.list_numbers()
    assert len({n.number for n in numbers}) == len(numbers) == 45
    assert {n.number for n in numbers} == set(rest)


def test_incomplete_listing_is_an_error_not_a_short_list(account):
    account.emulator.total_count_skew = 3
    with pytest.raises(ProviderError) as caught:
        account.provider.list_numbers()
    assert "reported 48 numbers but 45 distinct numbers arrived" in str(caught.value)


def test_a_number_released_mid_listing_is_caught_as_incomplete(account):
    world = account.world
    first = sorted(world.numbers)[0]

    def release_first(method, path):
        with account.emulator.lock:
            world.release(first)

    account.app.add(status=None, match="GET " + PREFIX + "Number/", on_response=release_first)
    with pytest.raises(ProviderError, match="incomplete"):
        account.provider.list_numbers()


def test_lists_apps_including_duplicate_names(account):
    world = account.world
    duplicate = world.add_app("ivr")
    apps = account.provider.list_apps()
    assert sorted(a.app_id for a in apps if a.name == "ivr") == sorted(
        [app_id_ for app_id_ in world.apps if world.apps[app_id_] == "ivr"]
    )
    assert duplicate in {a.app_id for a in apps}


def test_a_state_that_cannot_be_read_stops_a_long_listing_at_once(tmp_path):
    """The state is read while the account lists; when that read fails, the plan says so
    at the next page instead of after every page (84 s at 100,000 Plivo numbers)."""

    class DamagedState(SqliteStateStore):
        def load(self) -> Recorded:
            raise StateError("state file state.sqlite is damaged")

    world = World.from_seed({"apps": ["ivr"], "owned": 2000})  # 100 pages
    with plivo(world, name="acct") as env:
        # Each page takes a moment, as over a network: the failed read is settled by then.
        env.app.add(status=None, match="GET", times=10**6, on_request=lambda *_: time.sleep(0.002))
        desired = Desired(
            config_path="numbers.yaml",
            config_digest="x",
            providers={"acct": env.provider.config},
            declarations={},
            state=StateConfig(),
        )
        providers = engine.Providers(desired, lambda config: env.provider)
        with DamagedState(tmp_path / "state.sqlite") as store, pytest.raises(StateError) as err:
            engine.make_plan(desired, providers, store)
        assert "damaged" in str(err.value)
        pages = env.app.requests("GET", "/Number/")
        assert 1 <= len(pages) <= 20  # the first page, those already in flight, no more


# ----------------------------------------------------------------- search and prices


def test_quote_prices_come_from_the_search(account):
    world = account.world
    group = world.group("us-local-415")
    group.setup, group.monthly = Decimal("1.25"), Decimal("0.85")
    quote = account.provider.quote(Where("US", "local", prefix="415"), 2)
    assert (quote.price.setup, quote.price.monthly) == (Decimal("1.25"), Decimal("0.85"))
    _, total = world.search("US", "local", prefix="415")
    assert quote.available == total


def test_a_prefix_with_its_trunk_zero_searches_the_digits_after_the_calling_code(account):
    """Plivo's `pattern` is the digits after the calling code: France's "0322" is sent as
    322 (sent as written, Plivo searched +33 0322... and found nothing for sale)."""
    quote = account.provider.quote(Where("FR", "local", prefix="0322"), 1)
    assert quote.available == account.world.search("FR", "local", prefix="322")[1] > 0


def test_quote_national_skips_past_local_numbers(account):
    world = account.world
    national = world.group("gb-national-330")
    quote = account.provider.quote(Where("GB", "national"), 1)
    assert quote.price.monthly == national.monthly
    assert len(account.app.requests("GET", "/PhoneNumber/")) < 10


def test_quote_with_nothing_for_sale_is_unknown_region(account):
    with pytest.raises(UnknownRegionError, match="no numbers for sale matching US local"):
        account.provider.quote(Where("US", "local", region="Atlantis"), 1)


def test_quote_specific_numbers(account):
    world = account.world
    available, _ = world.search("FR", "local", prefix="472", limit=2)
    quote = account.provider.quote_numbers([n.number for n in available])
    assert quote.price.monthly == world.group("fr-local-472").monthly
    world.take(available[1].number)
    with pytest.raises(NumberUnavailableError, match=available[1].number.replace("+", r"\+")):
        account.provider.quote_numbers([n.number for n in available])


def test_inventory_rows_count_each_prefix(account):
    world = account.world
    rows = account.provider.inventory("US", "local")
    us_local = [g for g in world.groups if g.country == "US" and g.number_type == "local"]
    assert {r.prefix for r in rows} == {g.prefix for g in us_local}
    for row in rows:
        _, total = world.search("US", "local", prefix=row.prefix)
        assert row.available == total


# ----------------------------------------------------------------- purchase


def purchase(env: Emulated, request: PurchaseRequest):
    confirmed = []
    outcome = run_purchase(env.provider, request, confirmed.append)
    return outcome, confirmed


def test_purchase_buys_exactly_count_binds_app_and_writes_alias(account):
    world = account.world
    ivr = app_id(world, "ivr")
    request = PurchaseRequest(
        "support", 3, Where("US", "local", prefix="212"), app_id=ivr, tag="support"
    )
    outcome, confirmed = purchase(account, request)
    assert outcome.error is None
    assert [n.number for n in confirmed] == [n.number for n in outcome.bought]
    assert len(outcome.bought) == 3 == len(buys(world))
    for owned in outcome.bought:
        held = world.numbers[owned.number]
        assert held.app_id == ivr and held.alias == "support"
        assert owned.number.startswith("+1212")
        assert owned.monthly == world.group("us-local-212").monthly


def test_purchase_without_alias_writing(account):
    world = account.world
    with plivo(world, settings={"write_alias": False}) as env:
        outcome, _ = purchase(env, PurchaseRequest("d", 1, Where("US", "tollfree"), tag="d"))
    assert world.numbers[outcome.bought[0].number].alias is None
    assert outcome.bought[0].tag is None
    # and the planner is told there is no ownership tag, so it plans no alias writes
    assert env.provider.capabilities.ownership_tag is False
    assert account.provider.capabilities.ownership_tag is True


def test_number_taken_between_search_and_buy_is_replaced(account):
    world = account.world
    taken = []

    def someone_else_buys(method, path):
        number = "+" + path.rstrip("/").rsplit("/", 1)[1]
        with account.emulator.lock:
            world.take(number)
        taken.append(number)

    account.app.add(
        status=None, match="POST " + PREFIX + "PhoneNumber/", times=2, on_request=someone_else_buys
    )
    outcome, confirmed = purchase(
        account, PurchaseRequest("d", 2, Where("GB", "local", region="London"))
    )
    assert outcome.error is None
    assert len(taken) == 2
    bought = [n.number for n in outcome.bought]
    assert len(bought) == 2 and not set(bought) & set(taken)
    assert sorted(buys(world)) == sorted(bought)


def test_purchase_stops_at_stock_and_explains_shortfall(account):
    world = account.world
    stock = world.group("us-local-907").stock
    outcome, confirmed = purchase(
        account, PurchaseRequest("ak", stock + 2, Where("US", "local", region="anchorage"))
    )
    assert len(outcome.bought) == len(confirmed) == stock
    assert len(buys(world)) == stock
    assert f"bought {stock} of {stock + 2}" in str(outcome.error)


def test_pinned_numbers_bought_exactly(account):
    world = account.world
    wanted, _ = world.search("DE", "local", prefix="30", limit=2)
    pinned = tuple(n.number for n in wanted)
    outcome, _ = purchase(account, PurchaseRequest("berlin", 2, pinned=pinned))
    assert outcome.error is None
    assert sorted(n.number for n in outcome.bought) == sorted(pinned) == sorted(buys(world))


def test_pinned_number_taken_is_reported_not_substituted(account):
    world = account.world
    wanted, _ = world.search("DE", "local", prefix="30", limit=2)
    world.take(wanted[0].number)
    outcome, _ = purchase(
        account, PurchaseRequest("berlin", 2, pinned=tuple(n.number for n in wanted))
    )
    assert [n.number for n in outcome.bought] == [wanted[1].number]
    assert isinstance(outcome.error, NumberUnavailableError)
    assert wanted[0].number in str(outcome.error)


def test_regulated_country_purchase_is_pending():
    world = World.from_seed({"apps": ["ivr"]})
    with plivo(world, regulated={"DE"}, list_pending=True) as env:
        outcome, confirmed = purchase(
            env, PurchaseRequest("de", 1, Where("DE", "local", region="Berlin"))
        )
        number = outcome.bought[0].number
        assert confirmed[0].status == PENDING
        assert world.numbers[number].status == PENDING
        assert {n.number: n.status for n in env.provider.list_numbers()} == {number: PENDING}
        world.activate(number)
        assert {n.number: n.status for n in env.provider.list_numbers()} == {number: "active"}


def test_lost_reply_to_a_buy_is_checked_not_retried(account):
    world = account.world
    account.app.add(status=503, then_fail=True, match="POST " + PREFIX + "PhoneNumber/", times=1)
    outcome, confirmed = purchase(
        account, PurchaseRequest("d", 2, Where("US", "local", prefix="617"))
    )
    assert outcome.error is None
    assert len(outcome.bought) == 2 == len(buys(world))
    assert [n.number for n in confirmed] == buys(world)  # the lost-reply buy was recorded
    assert len(account.app.requests("POST", "/PhoneNumber/")) == 2
    checks = [r for r in account.app.requests("GET", "/Number/") if r.path != PREFIX + "Number/"]
    assert len(checks) == 1 and checks[0].status == 200


def test_a_500_with_no_sign_of_the_number_stays_open_and_stops_buying(account):
    """A 500 may come after the work was done, and a read-back 404 may just be early: the
    attempt stays open and nothing is bought in its place (the old adapter moved on and
    bought a replacement, and the late number made one too many)."""
    world = account.world
    account.app.add(status=500, match="POST " + PREFIX + "PhoneNumber/", times=1)
    outcome, _ = purchase(account, PurchaseRequest("d", 2, Where("US", "local", prefix="617")))
    assert isinstance(outcome.error, OutcomeUnknownError)
    assert "may or may not have happened" in str(outcome.error)
    posted = [r.path for r in account.app.requests("POST", "/PhoneNumber/")]
    assert len(posted) == 2 and len(set(posted)) == 2  # no replacement, no re-post
    assert len(outcome.bought) == len(buys(world)) == 1
    (attempt,) = outcome.store.load().attempts
    assert attempt.numbers == tuple(outcome.unresolved) and attempt.declaration == "d"


def test_rate_limited_buy_is_not_retried(account):
    world = account.world
    account.app.add(status=429, match="POST " + PREFIX + "PhoneNumber/", times=1)
    outcome, _ = purchase(account, PurchaseRequest("d", 2, Where("US", "local", prefix="617")))
    assert isinstance(outcome.error, RateLimitedError)
    posted = [r.path for r in account.app.requests("POST", "/PhoneNumber/")]
    assert len(posted) == len(set(posted)) == 2  # the two numbers bought side by side
    assert len(outcome.bought) == len(buys(world)) == 1
    assert outcome.store.load().attempts == ()  # a 429 is a clear "not bought"


# ----------------------------------------------------------------- bind, alias, release


def test_bind_rebind_and_unbind(account):
    world = account.world
    numbers = account.provider.list_numbers()[:3]
    ivr, sales = app_id(world, "ivr"), app_id(world, "sales")
    for target in (ivr, sales, None):
        outcome = account.provider.bind(numbers, target)
        assert sorted(outcome.done) == sorted(n.number for n in numbers)
        assert not outcome.failed
        assert {world.numbers[n.number].app_id for n in numbers} == {target}


def test_bind_to_unknown_app_fails_per_number(account):
    numbers = account.provider.list_numbers()[:2]
    outcome = account.provider.bind(numbers, "999999")
    assert outcome.done == ()
    assert set(outcome.failed) == {n.number for n in numbers}
    message = outcome.failed[numbers[0].number]
    assert "HTTP 404" in message and "999999" in message


def test_set_labels_writes_alias_and_keeps_binding(account):
    world = account.world
    ivr = app_id(world, "ivr")
    number = account.provider.list_numbers()[0]
    account.provider.bind([number], ivr)
    bound = next(n for n in account.provider.list_numbers() if n.number == number.number)
    outcome = account.provider.set_labels([(bound, "reception", {"team": "front"})])
    assert outcome.done == (number.number,)
    assert world.numbers[number.number].alias == "reception"
    assert world.numbers[number.number].app_id == ivr
    account.provider.set_labels([(bound, None, {})])
    assert world.numbers[number.number].alias is None


def test_release_deletes_and_treats_already_gone_as_done(account):
    world = account.world
    first, second = account.provider.list_numbers()[:2]
    world.release(second.number)
    outcome = account.provider.release([first, second])
    assert sorted(outcome.done) == sorted([first.number, second.number])
    assert not outcome.failed
    assert first.number not in world.numbers
    statuses = sorted(r.status for r in account.app.requests("DELETE"))
    assert statuses == [204, 404]


# ----------------------------------------------------------------- failures


def test_wrong_credentials_give_one_auth_error_line_without_the_token(account):
    token = "wrong-token-0123456789"
    with (
        plivo(account.world, settings={"auth_token": token}) as env,
        pytest.raises(AuthError) as caught,
    ):
        env.provider.list_numbers()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("provider plivo: list owned numbers failed (HTTP 401)")
    assert token not in message


def test_missing_credentials_name_the_env_vars(monkeypatch):
    monkeypatch.delenv("PLIVO_AUTH_ID", raising=False)
    monkeypatch.delenv("PLIVO_AUTH_TOKEN", raising=False)
    with pytest.raises(ProviderError) as caught:
        PlivoProvider(ProviderConfig("main", "plivo", {"auth_id": "MA123"}))
    assert "PLIVO_AUTH_TOKEN" in str(caught.value)
    assert "auth_id" not in str(caught.value).split("missing")[1].split(":")[0]


def test_credentials_default_to_env(monkeypatch):
    world = World.from_seed({"owned": 2})
    monkeypatch.setenv("PLIVO_AUTH_ID", DEFAULT_AUTH_ID)
    monkeypatch.setenv("PLIVO_AUTH_TOKEN", DEFAULT_AUTH_TOKEN)
    app = make_app("plivo", world)
    config = ProviderConfig("main", "plivo", {"base_url": "http://plivo.invalid"})
    with PlivoProvider(config, transport=httpx.WSGITransport(app=app), sleep=no_sleep) as provider:
        assert len(provider.list_numbers()) == 2


def test_a_429_storm_is_survived_by_reads(account):
    slept = []
    with plivo(account.world, settings={"max_retries": 10}, sleep=slept.append) as env:
        # nine in a row on the first page, then three more spread over the concurrent pages
        storm = env.app.add(status=429, retry_after=2, times=9, match="GET ")
        later = env.app.add(status=429, retry_after=2, times=3, after=11, match="GET ")
        numbers = env.provider.list_numbers()
        apps = env.provider.list_apps()
        assert len(numbers) == 45 and len(apps) == 2
        assert storm.fired == 9 and later.fired == 3
        assert (
            len(env.app.requests(contains="/Number/"))
            + len(env.app.requests(contains="/Application/"))
            == 4 + 12
        )
    assert slept.count(2) == 12  # each retry waited as long as Retry-After said


def test_reads_give_up_after_max_retries(account):
    account.app.add(status=503, times=100, match="GET ")
    with pytest.raises(ProviderError) as caught:
        account.provider.list_numbers()
    assert "HTTP 503" in str(caught.value)
    assert len(account.app.requests("GET")) == 9  # the default: 1 try + 8 retries


def test_emulator_wire_format_rules(account):
    client = httpx.Client(
        transport=httpx.WSGITransport(app=account.app),
        base_url="http://plivo.invalid",
        auth=(DEFAULT_AUTH_ID, DEFAULT_AUTH_TOKEN),
    )
    assert client.get(PREFIX + "Number/", params={"limit": 21}).status_code == 400
    assert client.get(PREFIX + "Number").status_code == 404  # no trailing slash
    other = client.get("/v1/Account/MAOTHER000000000000/Number/")
    assert other.status_code == 401 and "error" in other.json()
    page = client.get(PREFIX + "Number/", params={"limit": 20, "offset": 40}).json()
    assert page["meta"]["next"] is None and page["meta"]["previous"].startswith(PREFIX)
    first = client.get(PREFIX + "Number/", params={"limit": 20}).json()
    assert first["meta"]["next"].startswith(PREFIX + "Number/?")
    gone = client.delete(PREFIX + "Number/15550000000/")
    assert gone.status_code == 404 and gone.json()["error"] == "not found"


def test_purchase_for_a_missing_app_stops_before_buying(account):
    request = PurchaseRequest("d", 2, Where("US", "local", prefix="617"), app_id="404404")
    outcome, confirmed = purchase(account, request)
    assert isinstance(outcome.error, UnknownAppError)
    assert "404404" in str(outcome.error)
    assert confirmed == [] and account.app.requests("POST") == []


def test_purchase_stops_when_every_candidate_is_refused(account):
    account.app.add(status=409, times=1000, match="POST " + PREFIX + "PhoneNumber/")
    outcome, _ = purchase(account, PurchaseRequest("d", 3, Where("US", "local", prefix="617")))
    assert outcome.bought == ()
    assert re.search(r"refused 1\d numbers in a row", str(outcome.error))
    concurrency = account.provider.capabilities.purchase_concurrency
    assert 10 <= len(account.app.requests("POST")) < 10 + concurrency


# ----------------------------------------------------------------- paging through the shared pager


def test_listing_reports_progress_page_by_page(account):
    seen = []
    account.provider.list_numbers(lambda done, total: seen.append((done, total)))
    assert seen == [(20, 45), (40, 45), (45, 45)]


def test_listing_follows_next_past_an_understated_total(account):
    account.emulator.total_count_skew = -3  # first page says 42; `next` still tells the truth
    numbers = account.provider.list_numbers()
    assert [n.number for n in numbers] == sorted(account.world.numbers)
    assert len(account.app.requests("GET", "/Number/")) == 3


def test_an_application_deleted_mid_listing_is_caught_as_incomplete():
    world = World.from_seed({"apps": [f"app{i:02d}" for i in range(25)]})
    with plivo(world) as env:
        first = min(world.apps)

        def delete_first(method, path):
            with env.emulator.lock:
                del world.apps[first]

        env.app.add(status=None, match="GET " + PREFIX + "Application/", on_response=delete_first)
        with pytest.raises(IncompleteListingError, match="reported 25 applications but 24"):
            env.provider.list_apps()


def test_an_offer_reads_no_page_past_the_one_that_filled_it(account):
    where = Where("US", "local", prefix="415")
    offer = account.provider.offer(PurchaseRequest("d", 25, where), 25, frozenset())
    assert len(offer.candidates) == 25
    assert len(account.app.requests("GET", "/PhoneNumber/")) == 2  # 20 + 5 of the second
    assert not [t for t in threading.enumerate() if t.name.startswith("pager")]


def test_a_search_walk_gives_up_after_max_search_pages(account):
    quote = account.provider.quote(Where("US", "tollfree"), 10**6)
    assert len(account.app.requests("GET", "/PhoneNumber/")) == MAX_SEARCH_PAGES
    _, total = account.world.search("US", "tollfree")
    assert quote.available == total  # not walked to the end: the search's own count stands


def test_a_number_listed_as_fixed_has_no_type_rather_than_a_guess(account):
    """`fixed` is Plivo's word for local and national alike: neither is assumed, so a
    national declaration holding one is not told it holds a local number."""
    world = account.world
    first, second = sorted(world.numbers)[:2]
    world.numbers[first].number_type = "fixed"  # as a live account may list it
    listed = {n.number: n for n in account.provider.list_numbers()}
    assert listed[first].number_type is None
    assert listed[second].number_type == world.numbers[second].number_type
