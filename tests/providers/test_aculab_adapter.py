"""The Aculab adapter against the Aculab emulator, in process (httpx.WSGITransport)."""

from __future__ import annotations

import httpx
import pytest

from numbers_iac import engine
from numbers_iac.config import load_config
from numbers_iac.emulators.aculab import AculabEmulator
from numbers_iac.emulators.faults import Fault, FaultInjector
from numbers_iac.errors import (
    ConfigError,
    DeclarationOptionError,
    NotFoundError,
    OutcomeUnknownError,
    RehearsalError,
    StalePlanError,
    UnknownRegionError,
)
from numbers_iac.journal import BUY_ATTEMPT, attempt_payload
from numbers_iac.model import QUANTITY, Declaration, Desired, ProviderConfig, StateConfig, Where
from numbers_iac.providers.aculab import AculabProvider, escape
from numbers_iac.providers.base import PurchaseRequest
from numbers_iac.simulation import World
from numbers_iac.simulation.world import NumberGroup
from numbers_iac.state.sqlite import SqliteStateStore
from tests.protocol import run_purchase

LONDON = Where("GB", "local", region="London")


class Env:
    def __init__(self, world: World):
        self.world = world
        self.emulator = AculabEmulator(world)
        self.app = FaultInjector(self.emulator, sleep=lambda s: None)
        config = ProviderConfig(
            "aculab", "aculab", self.emulator.provider_settings("http://emulator.invalid")
        )
        self.provider = AculabProvider(
            config, transport=httpx.WSGITransport(app=self.app), sleep=lambda s: None
        )


@pytest.fixture
def env():
    e = Env(World.from_seed({"apps": ["ivr", "sales"], "owned": 5}))
    yield e
    e.provider.close()


def buys(world: World) -> list[str]:
    return [number for kind, number in world.log if kind == "buy"]


def test_escape_non_ascii():
    assert escape("Mönchengladbach") == "M\\u00f6nchengladbach"


def test_lists_owned_numbers_in_one_request(env):
    numbers = env.provider.list_numbers()
    assert [n.number for n in numbers] == sorted(env.world.numbers)
    sample = env.world.numbers[numbers[0].number]
    assert numbers[0].country == sample.country
    assert numbers[0].number_type == sample.number_type
    assert numbers[0].acquired_on
    assert len(env.app.requests(contains="/tel_list_numbers")) == 1


def test_every_country_aculab_documents_is_known_by_its_name():
    """The countries in Aculab's documented `tel_get_supported_countries` answers (any
    type): a declaration there is sent in Aculab's words, a number listed there is read."""
    from numbers_iac.providers.aculab import COUNTRY_NAMES, ISO_CODES

    documented = [
        "Israel",
        "Georgia",
        "Mexico",
        "Lithuania",
        "United Kingdom",
        "Netherlands",
        "Croatia",
        "Greece",
        "Switzerland",
        "Dominican Republic",
        "Brazil",
        "Romania",
        "Czech Republic",
        "El Salvador",
        "Poland",
        "South Africa",
        "Luxembourg",
        "Sweden",
        "Germany",
        "Peru",
        "Puerto Rico",
        "Hungary",
        "Norway",
        "Spain",
        "Canada",
        "Italy",
        "Denmark",
        "Finland",
        "United States",
        "Slovenia",
        "Ireland",
        "Argentina",
        "Cyprus",
        "Australia",
        "France",
        "New Zealand",
        "Latvia",
        "Slovakia",
        "Chile",
        "Belgium",
        "Japan",
        "Bulgaria",
        "Portugal",
        "Singapore",
        "Austria",
        "Malta",
        "Bahrain",
        "Estonia",
        "Hong Kong",
        "Panama",
    ]
    for name in documented:
        iso = ISO_CODES[name.casefold()]
        assert COUNTRY_NAMES[iso] == name


def test_a_number_in_a_country_named_otherwise_is_placed_by_its_digits():
    """Aculab names countries in words; one our table does not know must not leave its
    numbers without a country (the plan could not match them to any declaration)."""
    world = World.from_seed({"apps": ["ivr"], "owned": 5})
    emulator = AculabEmulator(world, country_names={"GB": "Great Britain", "US": "USA"})
    config = ProviderConfig("aculab", "aculab", emulator.provider_settings("http://e.invalid"))
    with AculabProvider(config, transport=httpx.WSGITransport(app=emulator)) as provider:
        numbers = provider.list_numbers()
    assert numbers and all(n.country == world.numbers[n.number].country for n in numbers)


def test_lists_apps_as_template_services(env):
    assert sorted(a.name for a in env.provider.list_apps()) == ["ivr", "sales"]


def test_an_account_read_lists_the_inbound_services_once_for_apps_and_bindings(env):
    """A plan's read of the account: the inventory and one listing of the inbound services,
    whose names give both the apps and the numbers that have a service of their own."""
    account = env.provider.account()
    assert sorted(a.name for a in account.apps) == ["ivr", "sales"]
    assert [n.number for n in account.numbers] == sorted(env.world.numbers)
    assert len(env.app.requests(contains="/tel_list_numbers")) == 1
    assert len(env.app.requests("GET", "/service/v1/inbound")) == 1


def test_quote_and_inventory(env):
    assert env.provider.quote(LONDON, 3).price is None
    with pytest.raises(UnknownRegionError, match="Regions for sale"):
        env.provider.quote(Where("GB", "local", region="Atlantis"), 1)
    rows = env.provider.inventory("GB", "local")
    assert "London" in {r.region for r in rows}
    tollfree = env.provider.inventory("GB", "tollfree")
    assert [r.prefix for r in tollfree] == ["800"]


def test_a_tollfree_prefix_is_taken_with_its_trunk_zero(env):
    """Aculab names the UK's freephone region 800; a declared "0800" is the same numbers
    (it said none were for sale, listing 800 as what was)."""
    free = Where("GB", "tollfree", prefix="0800")
    assert env.provider.quote(free, 1) == env.provider.quote(
        Where("GB", "tollfree", prefix="800"), 1
    )
    request = PurchaseRequest("free", 1, free, options={"allow_landline": True})
    outcome = run_purchase(env.provider, request)
    assert outcome.error is None and [n.number[:6] for n in outcome.bought] == ["+44800"]


def test_a_local_declaration_by_prefix_is_refused_at_its_line(tmp_path):
    """Aculab sells local numbers by region name: a `prefix` there could never be bought,
    and the plan said only "sells no local numbers in 20"."""
    path = tmp_path / "numbers.yaml"
    path.write_text(
        "version: 1\n"
        "providers:\n  ac:\n    type: aculab\n    cloud_id: 1-2-0\n"
        "    username: me@example.com\n    api_key: ${ACULAB_API_KEY}\n"
        "numbers:\n  london:\n    provider: ac\n    country: GB\n    quantity: 2\n"
        '    prefix: "20"\n'
    )
    with pytest.raises(ConfigError) as err:
        load_config(path)
    (problem,) = [p for p in err.value.problems if p.path.startswith("numbers.")]
    assert (problem.line, problem.path) == (13, "numbers.london.prefix")
    assert "by region, not by prefix" in problem.message
    assert "numbers-iac inventory ac --country GB" in problem.message


def test_purchase_of_three_is_recorded(env):
    outcome = run_purchase(env.provider, PurchaseRequest("d", 3, LONDON))
    assert outcome.error is None
    assert len(outcome.bought) == 3
    assert sorted(n.number for n in outcome.bought) == sorted(buys(env.world))
    assert all(n.region == "London" and n.country == "GB" for n in outcome.bought)
    assert len(env.app.requests("POST", "/tel_purchase")) == 1
    recorded = outcome.store.load().numbers
    assert {num for _, num in recorded} == {n.number for n in outcome.bought}
    assert not outcome.store.load().attempts


def test_purchase_in_a_state_country(env):
    outcome = run_purchase(env.provider, PurchaseRequest("d", 2, Where("US", "local", "Boston")))
    assert outcome.error is None and len(outcome.bought) == 2
    # the catalogue: the states once, then each state's regions once (read side by side)
    states = env.app.requests(contains="/tel_get_supported_states")
    regions = env.app.requests(contains="/tel_get_supported_regions")
    assert len(states) == 1
    assert len(regions) == len(set(env.emulator.states.values())) > 1


@pytest.mark.parametrize("status", [400, 422])
def test_a_country_aculab_refuses_to_list_states_for_is_bought_from_without_one(env, status):
    """Aculab: "not all countries support states", and what it answers for one without them
    is not documented: an error there means no states, not a failed purchase."""
    body = {"error": {"code": "0102", "text": "Country has no states"}}
    env.app.add(Fault(status=status, body=body, times=5, match="tel_get_supported_states"))
    outcome = run_purchase(env.provider, PurchaseRequest("d", 2, LONDON))
    assert outcome.error is None and len(outcome.bought) == 2


def test_states_that_cannot_be_read_for_want_of_credentials_still_fail(env):
    env.app.add(Fault(status=401, times=5, match="tel_get_supported_states"))
    outcome = run_purchase(env.provider, PurchaseRequest("d", 2, LONDON))
    assert outcome.error is not None and buys(env.world) == []


def test_short_purchase_buys_what_there_is_and_leaves_nothing_open(env):
    env.world.set_stock("gb-local-161", 2)
    request = PurchaseRequest("d", 5, Where("GB", "local", region="Manchester"))
    outcome = run_purchase(env.provider, request)
    assert len(outcome.bought) == 2 == len(buys(env.world))
    assert outcome.error is not None
    assert "no more" in str(outcome.error).lower()
    assert not outcome.store.load().attempts


def test_lost_answer_after_the_work_leaves_one_open_attempt(env):
    env.app.add(Fault(status=500, then_fail=True, times=1, match="POST /tel_purchase"))
    outcome = run_purchase(env.provider, PurchaseRequest("d", 3, LONDON))
    assert isinstance(outcome.error, OutcomeUnknownError)
    assert len(buys(env.world)) == 3  # bought, but the answer was lost
    assert len(env.app.requests("POST", "/tel_purchase")) == 1  # never resent
    (attempt,) = outcome.store.load().attempts
    assert attempt.mode == QUANTITY and attempt.count == 3 and attempt.declaration == "d"


def test_purchase_based_on_an_app_binds_the_numbers(env):
    outcome = run_purchase(env.provider, PurchaseRequest("d", 2, LONDON, app_id="ivr"))
    assert outcome.error is None
    listed = {n.number: n for n in env.provider.list_numbers()}
    assert {listed[n.number].app_id for n in outcome.bought} == {"ivr"}


def test_bind_rebind_and_unbind(env):
    first, second = env.provider.list_numbers()[:2]
    result = env.provider.bind([first, second], "ivr")
    assert set(result.done) == {first.number, second.number} and not result.failed
    listed = {n.number: n.app_id for n in env.provider.list_numbers()}
    assert listed[first.number] == listed[second.number] == "ivr"
    env.provider.bind([first], "sales")
    assert {n.number: n.app_id for n in env.provider.list_numbers()}[first.number] == "sales"
    result = env.provider.bind([first, second], None)
    assert set(result.done) == {first.number, second.number}
    listed = {n.number: n.app_id for n in env.provider.list_numbers()}
    assert listed[first.number] is None and listed[second.number] is None
    ivr_id = next(k for k, v in env.world.apps.items() if v == "ivr")
    assert env.world.numbers[second.number].app_id != ivr_id


def test_release_and_already_gone(env):
    first, second, third = env.provider.list_numbers()[:3]
    result = env.provider.release([first, second])
    assert set(result.done) == {first.number, second.number} and not result.failed
    assert first.number not in env.world.numbers
    assert len(env.app.requests("POST", "/tel_delete_numbers")) == 1
    again = env.provider.release([first])
    assert again.done == (first.number,)
    env.emulator.undeletable[third.provider_id] = ("Number is in use", "0301")
    kept = env.provider.release([third])
    assert third.number in kept.failed and "in use" in kept.failed[third.number]


# --------------------------------------------------------------------------- Aculab specifics


def test_a_region_with_non_ascii_letters_is_bought_by_its_escaped_name():
    world = World.builtin()
    world.groups.append(
        NumberGroup.from_dict(
            {
                "group_id": "de-local-2161",
                "country": "DE",
                "number_type": "local",
                "region": "MÖNCHENGLADBACH, GERMANY",
                "prefix": "2161",
                "stock": 50,
                "setup": "1.00",
                "monthly": "0.90",
            }
        )
    )
    world.cursors["de-local-2161"] = 0
    env = Env(world)
    seen: list[bytes] = []
    original = env.emulator.handle

    def spy(request, raw_query=""):
        if request.path == "/tel_purchase":
            seen.append(request.body)
        return original(request, raw_query)

    env.emulator.handle = spy
    where = Where("DE", "local", region="Mönchengladbach")
    outcome = run_purchase(env.provider, PurchaseRequest("mg", 2, where))
    assert outcome.error is None and len(outcome.bought) == 2
    assert seen and b"M%5Cu00f6nchengladbach" in seen[0]  # form-encoded "M\u00f6nchengladbach"
    listed = {n.number: n for n in env.provider.list_numbers()}
    assert {listed[n.number].region for n in outcome.bought} == {"Mönchengladbach"}


def test_a_partial_delete_reports_each_number_kept_with_acculabs_reason(env):
    first, second, third = env.provider.list_numbers()[:3]
    env.emulator.undeletable[second.provider_id] = ("Number is in use", "0301")
    result = env.provider.release([first, second, third])
    assert set(result.done) == {first.number, third.number}
    assert result.failed == {second.number: "Number is in use [code 0301]"}
    assert second.number in env.world.numbers and first.number not in env.world.numbers
    assert len(env.app.requests("POST", "/tel_delete_numbers")) == 1


def test_toll_free_purchases_send_the_allowed_call_kinds():
    world = World.builtin()
    env = Env(world)
    bodies: list[bytes] = []
    original = env.emulator.handle

    def spy(request, raw_query=""):
        if request.path == "/tel_purchase":
            bodies.append(request.body)
        return original(request, raw_query)

    env.emulator.handle = spy
    request = PurchaseRequest(
        "tf",
        1,
        Where("GB", "tollfree", prefix="800"),
        options={"allow_landline": True, "allow_cellular": True},
    )
    outcome = run_purchase(env.provider, request)
    assert outcome.error is None and len(outcome.bought) == 1
    form = bodies[0].decode()
    assert "allow_landline=True" in form and "allow_cellular=True" in form
    assert "allow_payphone=False" in form


def test_development_rehearses_and_buys_nothing():
    world = World.from_seed({"apps": ["ivr"]})
    emulator = AculabEmulator(world)
    app = FaultInjector(emulator, sleep=lambda s: None)
    settings = {**emulator.provider_settings("http://emulator.invalid"), "development": True}
    provider = AculabProvider(
        ProviderConfig("rehearsal", "aculab", settings),
        transport=httpx.WSGITransport(app=app),
        sleep=lambda s: None,
    )
    outcome = run_purchase(provider, PurchaseRequest("d", 3, LONDON))
    assert isinstance(outcome.error, RehearsalError)
    assert "nothing was bought" in str(outcome.error)
    assert buys(world) == [] and not world.numbers
    assert len(app.requests("POST", "/tel_purchase_development")) == 1
    assert not app.requests("POST", "/tel_purchase?")
    assert not outcome.store.load().attempts  # a rehearsal leaves no order in doubt
    assert any("REHEARSAL" in w for w in provider.plan_warnings())


def test_a_regulation_address_is_checked_against_the_account(env):
    env.emulator.regulation_addresses.update(
        {"Paris office": {"country": "France", "region": "Paris"}}
    )
    amiens = Where("FR", "local", region="Amiens")
    env.provider.check_purchase(amiens, {"regulation_address": "Paris office"})
    with pytest.raises(DeclarationOptionError) as missing:
        env.provider.check_purchase(amiens, {"regulation_address": "Lyon office"})
    assert missing.value.field == "regulation_address"
    assert "'Lyon office'" in str(missing.value) and "'Paris office'" in str(missing.value)
    with pytest.raises(DeclarationOptionError) as elsewhere:
        env.provider.check_purchase(LONDON, {"regulation_address": "Paris office"})
    assert "France" in str(elsewhere.value)
    assert len(env.app.requests(contains="/tel_list_regulation_addresses")) == 1  # read once


def test_a_regulation_address_travels_with_the_purchase():
    world = World.from_seed({"apps": ["ivr"], "regulated": ["FR"]})
    emulator = AculabEmulator(
        world, regulation_addresses={"Paris office": {"country": "France", "region": "Paris"}}
    )
    app = FaultInjector(emulator, sleep=lambda s: None)
    provider = AculabProvider(
        ProviderConfig("aculab", "aculab", emulator.provider_settings("http://emulator.invalid")),
        transport=httpx.WSGITransport(app=app),
        sleep=lambda s: None,
    )
    amiens = Where("FR", "local", region="Amiens")
    refused = run_purchase(provider, PurchaseRequest("d", 1, amiens))
    assert refused.error is not None and "0005" in str(refused.error)
    assert not refused.store.load().attempts  # a refusal is no order in doubt
    request = PurchaseRequest("d", 1, amiens, options={"regulation_address": "Paris office"})
    assert run_purchase(provider, request).error is None
    assert len(buys(world)) == 1


def test_a_429_storm_on_a_purchase_buys_nothing_and_leaves_nothing_open(env):
    env.app.add(Fault(status=429, retry_after=0.01, times=3, match="POST /tel_purchase"))
    outcome = run_purchase(env.provider, PurchaseRequest("d", 2, LONDON))
    assert outcome.error is not None and "429" in str(outcome.error)
    assert buys(env.world) == []
    assert not outcome.store.load().attempts  # rate limited: surely not bought, may retry


def test_ten_thousand_owned_numbers_are_listed_in_one_request():
    """`tel_list_numbers` answers the whole inventory at once; bindings cost one listing of
    the inbound services, and one read per number that has a service of its own."""
    env = Env(World.from_seed({"apps": ["ivr"], "owned": 10_000}))
    for number in env.world.numbers.values():
        number.app_id = None  # seeded numbers have no inbound service of their own
    bound = sorted(env.world.numbers)[:3]
    env.provider.bind([n for n in env.provider.list_numbers() if n.number in bound], "ivr")
    env.app.log.clear()
    listed = env.provider.list_numbers()
    assert len(listed) == 10_000
    assert len(env.app.requests(contains="/tel_list_numbers")) == 1
    assert len(env.app.requests("GET", "/service/v1/inbound")) == 1 + 1 + 3  # list, ivr, 3 own
    assert {n.number for n in listed if n.app_id == "ivr"} == set(bound)


def bound_account(count: int) -> tuple[Env, dict[str, str | None]]:
    """`count` owned numbers, three in four bound (to ivr, sales and fax in turn)."""
    env = Env(World.from_seed({"apps": ["ivr", "sales", "fax"], "owned": count}))
    for number in env.world.numbers.values():
        number.app_id = None  # seeded numbers have no inbound service of their own
    listed = env.provider.list_numbers()
    apps = [["ivr", "sales", "fax", None][i % 4] for i in range(len(listed))]
    for app in ("ivr", "sales", "fax"):
        env.provider.bind([n for n, a in zip(listed, apps, strict=True) if a == app], app)
    env.app.log.clear()
    return env, {n.number: a for n, a in zip(listed, apps, strict=True)}


def test_a_plan_reads_each_bound_numbers_service_once_and_finds_its_app(tmp_path):
    """No bulk read exists, so a plan reads each template and each bound number's service
    exactly once (several at a time), never a number without a service of its own."""
    env, expected = bound_account(200)
    desired = Desired("numbers.yaml", "digest", {"aculab": env.provider.config}, {}, StateConfig())
    with SqliteStateStore(tmp_path / "state.sqlite") as store:
        engine.make_plan(desired, engine.Providers(desired, lambda c: env.provider), store)
    reads = [r.path.rsplit("/", 1)[1] for r in env.app.requests("GET", "/service/v1/inbound/")]
    bound = sorted(n.lstrip("+") for n, app in expected.items() if app)
    assert len(bound) == 150
    assert sorted(reads) == sorted(["ivr", "sales", "fax", *bound])
    assert len(env.app.requests(contains="/tel_list_numbers")) == 1
    assert {n.number: n.app_id for n in env.provider.list_numbers()} == expected


def test_the_first_failed_service_read_is_raised_as_one_by_one_would():
    env, expected = bound_account(80)
    bound = sorted(n.lstrip("+") for n, app in expected.items() if app)
    env.app.add(Fault(status=404, match=f"GET /service/v1/inbound/{bound[40]}"))
    env.app.add(Fault(status=404, match=f"GET /service/v1/inbound/{bound[9]}"))
    with pytest.raises(NotFoundError, match=f"read inbound service {bound[9]}"):
        env.provider.list_numbers()
    assert len(env.app.requests("GET", "/service/v1/inbound/")) < 3 + len(bound)


@pytest.mark.parametrize(
    "answer",
    [{"status": "FAIL"}, {"status": "FAIL", "numbers": None}, "keyed with +"],
    ids=["fail-without-numbers", "fail-with-null", "fail-keyed-with-plus"],
)
def test_a_failed_delete_never_reads_as_released_whatever_its_shape(env, answer):
    """FAIL means nothing was deleted: the listing, not the answer's keys, says what went."""
    owned = env.provider.list_numbers()[:2]
    if answer == "keyed with +":
        answer = {
            "status": "FAIL",
            "numbers": {
                "+" + n.provider_id: {"description": "busy", "code": "0500"} for n in owned
            },
        }
    env.app.add(Fault(status=200, body=answer, match="/tel_delete_numbers"))  # Aculab kept all
    outcome = env.provider.release(owned)
    assert outcome.done == ()
    assert set(outcome.failed) == {n.number for n in owned}
    assert all(n.number in env.world.numbers for n in owned)


def test_an_order_that_lands_while_the_plan_waits_is_never_bought_again(tmp_path):
    """A plan settles a lapsed blind order as not bought and plans a new purchase; the
    order's number lands before apply runs. Aculab tags nothing, so a number at the order's
    place that the plan had not seen is enough to refuse: buying now would buy twice."""
    world = World.from_seed({"apps": ["ivr"]})
    emulator = AculabEmulator(world)
    app = FaultInjector(emulator, sleep=lambda s: None)
    settings = {**emulator.provider_settings("http://emulator.invalid"), "settle_time": 0}
    config = ProviderConfig("lab", "aculab", settings)
    provider = AculabProvider(config, transport=httpx.WSGITransport(app=app), sleep=lambda s: None)
    desired = Desired(
        "numbers.yaml",
        "digest",
        {"lab": config},
        {"d": Declaration("d", "lab", 1, country="GB", number_type="local", region="London")},
        StateConfig(),
    )
    with SqliteStateStore(tmp_path / "state.sqlite") as store:
        store.journal_begin(
            "killed", BUY_ATTEMPT, "lab", "d", attempt_payload(QUANTITY, 1, where=LONDON)
        )
        providers = engine.Providers(desired, lambda c: provider)
        plan = engine.make_plan(desired, providers, store)
        assert sorted(a.kind for a in plan.actions) == ["purchase", "settle"]
        (late,), _ = world.search("GB", "local", region="LONDON, UNITED KINGDOM", limit=1)
        world.buy(late.number)  # the lost order lands while the prompt waits
        with pytest.raises(StalePlanError):
            engine.apply_plan(plan, desired, providers, store, allow_release=False)
    assert list(world.numbers) == [late.number]
