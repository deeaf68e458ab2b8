"""The sandbox provider: a simulated account on local disk that behaves like a real one."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from decimal import Decimal

import pytest

from numbers_iac.errors import (
    ConfigError,
    NumberUnavailableError,
    OutOfStockError,
    ProviderError,
    UnknownAppError,
    UnknownRegionError,
)
from numbers_iac.model import ProviderConfig, Where
from numbers_iac.providers import open_provider
from numbers_iac.providers.base import PurchaseRequest
from numbers_iac.providers.sandbox import SandboxProvider
from numbers_iac.simulation import World
from tests.protocol import run_purchase
from tests.providers.catalogues import ROME


def config(tmp_path, name="sandbox", **settings) -> ProviderConfig:
    return ProviderConfig(name=name, type="sandbox", settings=settings, base_dir=str(tmp_path))


def request(count=1, where=None, pinned=(), app_id=None, tag="support") -> PurchaseRequest:
    return PurchaseRequest("support", count, where, tuple(pinned), app_id, tag)


PARIS = Where("FR", "local", region="Paris")
ANCHORAGE = Where("US", "local", region="Anchorage")  # stock 3 in the catalogue


@pytest.fixture
def world() -> World:
    return World.from_seed({"owned": 45, "apps": ["support-ivr"]})


@pytest.fixture
def provider(tmp_path, world) -> SandboxProvider:
    return SandboxProvider(config(tmp_path, page_size=7), world=world)


# --------------------------------------------------------------------------- opening


def test_registered_as_the_sandbox_type(tmp_path):
    provider = open_provider(config(tmp_path))
    assert isinstance(provider, SandboxProvider)
    assert provider.capabilities.pending_orders and provider.capabilities.ownership_tag


def test_account_file_is_created_on_first_use_under_base_dir(tmp_path):
    provider = SandboxProvider(config(tmp_path, name="main"))
    assert provider.list_numbers() == ()
    path = tmp_path / ".numbers-iac" / "sandbox-main.json"
    assert path.exists()
    assert World.load(path).to_dict() == World.builtin().to_dict()


def test_relative_data_path_is_resolved_from_base_dir(tmp_path):
    provider = SandboxProvider(config(tmp_path, data="accounts/dev.json", apps=["ivr"]))
    provider.list_apps()
    assert (tmp_path / "accounts" / "dev.json").exists()


def test_reading_the_account_never_rewrites_its_file(tmp_path):
    """A plan only reads: at 100,000 numbers a rewrite would cost a 20 MB write per plan."""
    path = tmp_path / ".numbers-iac" / "sandbox-sandbox.json"
    World.from_seed({"owned": 30, "apps": ["support-ivr"]}).save(path)
    before = path.stat().st_mtime_ns, path.read_bytes()
    provider = SandboxProvider(config(tmp_path, apps=["support-ivr"], regulated=[]))
    assert len(provider.account().numbers) == 30
    provider.quote(PARIS, 1)
    assert (path.stat().st_mtime_ns, path.read_bytes()) == before


def test_apps_from_settings_are_created_once_and_never_deleted(tmp_path):
    first = SandboxProvider(config(tmp_path, apps=["support-ivr", "sales"]))
    assert sorted(a.name for a in first.list_apps()) == ["sales", "support-ivr"]
    again = SandboxProvider(config(tmp_path, apps=["support-ivr"]))
    assert sorted(a.name for a in again.list_apps()) == ["sales", "support-ivr"]
    assert {a.app_id for a in again.list_apps()} == {a.app_id for a in first.list_apps()}


def test_an_injected_world_is_not_written_anywhere(tmp_path, world):
    provider = SandboxProvider(config(tmp_path, apps=["extra"]), world=world)
    run_purchase(provider, request(1, PARIS), lambda n: None)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("settings", "path"),
    [
        ({"page_size": "ten"}, "page_size"),
        ({"page_size": 0}, "page_size"),
        ({"apps": "ivr"}, "apps"),
    ],
)
def test_bad_settings_are_config_errors_naming_the_key(tmp_path, settings, path):
    with pytest.raises(ConfigError, match=f"providers.sandbox.{path}"):
        SandboxProvider(config(tmp_path, **settings))


def test_unreadable_account_file_is_a_provider_error(tmp_path):
    (tmp_path / "bad.json").write_text("{")
    provider = SandboxProvider(config(tmp_path, data="bad.json"))
    with pytest.raises(ProviderError, match="bad.json"):
        provider.list_numbers()


# --------------------------------------------------------------------------- listing


def test_listing_walks_every_page_and_reports_progress(provider, world):
    seen = []
    numbers = provider.list_numbers(lambda done, total: seen.append((done, total)))
    assert sorted(n.number for n in numbers) == sorted(world.numbers)
    assert len(seen) == 7  # 45 numbers in pages of 7
    assert seen[-1] == (45, 45)
    owned = next(n for n in numbers)
    assert owned.provider_id == owned.number[1:]
    assert owned.labels is None and owned.monthly is not None and owned.currency == "USD"


class ShortPagesWorld(World):
    """An account whose listing repeats a page: the provider must notice the gap."""

    def owned(self, offset=0, limit=None, **filters):
        page, total = super().owned(offset, limit, **filters)
        if offset >= limit:
            page, _ = super().owned(offset - 1, limit, **filters)
        return page, total


def test_incomplete_listing_is_refused(tmp_path):
    world = ShortPagesWorld.from_dict(World.from_seed({"owned": 30}).to_dict())
    provider = SandboxProvider(config(tmp_path, page_size=10), world=world)
    with pytest.raises(ProviderError, match="incomplete"):
        provider.list_numbers()


def test_listing_shows_tag_app_and_status(provider, world):
    app = world.app_by_name("support-ivr")[0]
    number = sorted(world.numbers)[3]
    world.update(number, alias="sales", app_id=app)
    listed = {n.number: n for n in provider.list_numbers()}[number]
    assert (listed.tag, listed.app_id, listed.status) == ("sales", app, "active")


# --------------------------------------------------------------------------- quotes


def test_quote_prices_the_first_matching_group_and_sums_stock(provider, world):
    quote = provider.quote(Where("FR", "local"), 3)
    groups = world.find_groups("FR", "local")
    assert quote.price.monthly == groups[0].monthly
    assert quote.available == sum(g.stock for g in groups)


def test_unknown_region_error_names_it_and_points_to_inventory(provider):
    with pytest.raises(UnknownRegionError) as caught:
        provider.quote(Where("FR", "local", region="Atlantis"), 1)
    message = str(caught.value)
    assert "FR" in message and "local" in message and "Atlantis" in message
    assert "numbers-iac inventory sandbox --country FR" in message
    assert "AMIENS, FRANCE" in message


def test_prefix_may_be_written_internationally_or_nationally(provider, world):
    amiens = world.group("fr-local-322").stock
    for prefix in ("+33 3 22", "0322", "322"):
        assert provider.quote(Where("FR", "local", prefix=prefix), 1).available == amiens


def test_quote_numbers_names_a_number_that_is_not_for_sale(provider, world):
    free, taken = (a.number for a in world.search("GB", "mobile", limit=2)[0])
    world.take(taken)
    assert provider.quote_numbers([free]).price.monthly == Decimal("3.00")
    with pytest.raises(NumberUnavailableError, match=taken.replace("+", r"\+")):
        provider.quote_numbers([free, taken])


def test_inventory_lists_regions_with_stock_and_prices(provider, world):
    rows = provider.inventory("FR", "local")
    assert {r.region for r in rows} >= {"PARIS, FRANCE", "AMIENS, FRANCE"}
    amiens = next(r for r in rows if r.prefix == "322")
    assert amiens.available == world.group("fr-local-322").stock and amiens.price.currency == "USD"
    assert {r.number_type for r in provider.inventory("FR")} == {
        "local",
        "national",
        "mobile",
        "tollfree",
    }
    assert provider.inventory("ZZ") == []


# --------------------------------------------------------------------------- purchases


def test_purchase_binds_tags_and_reports_each_number(provider, world):
    app = world.app_by_name("support-ivr")[0]
    reported = []
    outcome = run_purchase(provider, request(5, PARIS, app_id=app), reported.append)
    assert outcome.error is None
    assert reported == list(outcome.bought)
    assert len({n.number for n in outcome.bought}) == 5
    for number in outcome.bought:
        assert number.number.startswith("+331")
        assert (number.app_id, number.tag, number.status) == (app, "support", "active")
    listed = {n.number: n for n in provider.list_numbers()}
    assert all(listed[n.number].tag == "support" for n in outcome.bought)


def test_purchase_never_buys_more_than_asked(provider, world):
    outcome = run_purchase(provider, request(2, Where("US", "tollfree")), lambda n: None)
    assert len(outcome.bought) == 2
    assert [kind for kind, _ in world.log].count("buy") == 2
    assert len(world.numbers) == 47


def test_running_out_of_stock_returns_what_arrived_and_says_why(provider, world):
    outcome = run_purchase(provider, request(5, ANCHORAGE), lambda n: None)
    assert len(outcome.bought) == 3
    assert isinstance(outcome.error, OutOfStockError)
    assert "bought 3 of 5" in str(outcome.error) and "Anchorage" in str(outcome.error)
    assert provider.quote(ANCHORAGE, 1).available == 0
    again = run_purchase(provider, request(1, ANCHORAGE), lambda n: None)
    assert again.bought == () and isinstance(again.error, OutOfStockError)


def test_purchase_in_unknown_region_buys_nothing(provider, world):
    outcome = run_purchase(provider, request(1, Where("DE", "local", region="Atlantis")))
    assert isinstance(outcome.error, UnknownRegionError) and "Atlantis" in str(outcome.error)
    assert len(world.numbers) == 45


def test_purchase_with_unknown_app_is_refused_before_buying(provider, world):
    outcome = run_purchase(provider, request(1, PARIS, app_id="nope"))
    assert isinstance(outcome.error, UnknownAppError) and "nope" in str(outcome.error)
    assert len(world.numbers) == 45


def test_purchase_under_a_longer_prefix_stays_in_it(provider):
    outcome = run_purchase(
        provider, request(3, Where("US", "local", prefix="4155")), lambda n: None
    )
    assert len(outcome.bought) == 3
    assert all(n.number.startswith("+14155") for n in outcome.bought)


def test_an_italian_prefix_keeps_its_leading_zero(tmp_path):
    """Italian numbers keep the 0 of their area code (Rome is +39 06...): "06" is Rome, and
    a prefix stripped to "6" found nothing for sale."""
    sandbox = SandboxProvider(config(tmp_path), world=World.from_seed({"catalogue": [ROME]}))
    for prefix in ("06", "+39 06"):
        assert sandbox.quote(Where("IT", "local", prefix=prefix), 1).available == 50
    outcome = run_purchase(sandbox, request(2, Where("IT", "local", prefix="06")), lambda n: None)
    assert [n.number[:5] for n in outcome.bought] == ["+3906", "+3906"]


def test_pinned_purchase_buys_exactly_those_numbers(provider, world):
    wanted = [a.number for a in world.search("DE", "mobile", limit=2)[0]]
    outcome = run_purchase(provider, request(2, pinned=wanted), lambda n: None)
    assert [n.number for n in outcome.bought] == wanted and outcome.error is None


def test_pinned_purchase_of_a_taken_number_fails_clearly(provider, world):
    free, taken = (a.number for a in world.search("AU", "mobile", limit=2)[0])
    world.take(taken)
    outcome = run_purchase(provider, request(2, pinned=[free, taken]), lambda n: None)
    assert [n.number for n in outcome.bought] == [free]
    assert isinstance(outcome.error, NumberUnavailableError)
    assert taken in str(outcome.error) and "taken" in str(outcome.error)


def test_regulated_country_purchases_come_back_pending(tmp_path):
    provider = SandboxProvider(config(tmp_path, regulated=["DE"]))
    german = run_purchase(
        provider, request(2, Where("DE", "local", region="Berlin")), lambda n: None
    )
    french = run_purchase(provider, request(1, PARIS), lambda n: None)
    assert [n.status for n in german.bought] == ["pending", "pending"]
    assert [n.status for n in french.bought] == ["active"]
    listed = {n.number: n.status for n in provider.list_numbers()}
    assert all(listed[n.number] == "pending" for n in german.bought)


def test_each_number_is_saved_before_it_is_reported(tmp_path):
    provider = SandboxProvider(config(tmp_path, name="dev"))
    path = tmp_path / ".numbers-iac" / "sandbox-dev.json"
    on_disk = []

    def on_bought(number):
        saved = World.load(path).numbers[number.number]
        on_disk.append(saved.alias)

    run_purchase(provider, request(25, PARIS), on_bought)
    assert on_disk == ["support"] * 25


def test_purchases_persist_across_processes(tmp_path):
    script = textwrap.dedent(
        f"""
        import json
        from numbers_iac.model import ProviderConfig, Where
        from numbers_iac.providers.base import PurchaseRequest
        from numbers_iac.providers.sandbox import SandboxProvider
        from tests.protocol import run_purchase
        config = ProviderConfig("dev", "sandbox", {{"apps": ["ivr"]}}, base_dir={str(tmp_path)!r})
        provider = SandboxProvider(config)
        outcome = run_purchase(
            provider,
            PurchaseRequest("support", 3, Where("GB", "local", region="London"), tag="support"),
            lambda number: None,
        )
        print(json.dumps([n.number for n in outcome.bought]))
        """
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    bought = json.loads(run.stdout)

    reopened = SandboxProvider(config(tmp_path, name="dev", apps=["ivr"]))
    listed = {n.number: n for n in reopened.list_numbers()}
    assert sorted(listed) == sorted(bought)
    assert all(n.tag == "support" for n in listed.values())
    assert [a.name for a in reopened.list_apps()] == ["ivr"]
    more = run_purchase(reopened, request(3, Where("GB", "local", region="London")), lambda n: None)
    assert not {n.number for n in more.bought} & set(bought), "the cursor was saved too"


# --------------------------------------------------------------------------- batch mutations


def test_bind_and_unbind(provider, world):
    app = world.app_by_name("support-ivr")[0]
    numbers = provider.list_numbers()[:3]
    assert provider.bind(numbers, app).done == tuple(n.number for n in numbers)
    assert all(world.numbers[n.number].app_id == app for n in numbers)
    provider.bind(numbers[:1], None)
    assert world.numbers[numbers[0].number].app_id is None


def test_bind_to_an_unknown_app_fails_every_number_naming_the_app(provider, world):
    numbers = provider.list_numbers()[:2]
    outcome = provider.bind(numbers, "missing-app")
    assert outcome.done == ()
    assert set(outcome.failed) == {n.number for n in numbers}
    assert all("missing-app" in reason for reason in outcome.failed.values())


def test_set_labels_writes_the_tag_into_the_alias(provider, world):
    number = provider.list_numbers()[0]
    outcome = provider.set_labels([(number, "billing", {"team": "finance"})])
    assert outcome.done == (number.number,)
    assert world.numbers[number.number].alias == "billing"
    assert {n.number: n.tag for n in provider.list_numbers()}[number.number] == "billing"


def test_release_of_an_already_released_number_is_done(provider, world):
    number = provider.list_numbers()[0]
    assert provider.release([number]).done == (number.number,)
    assert number.number not in {n.number for n in provider.list_numbers()}
    again = provider.release([number])
    assert again.done == (number.number,) and again.failed == {}
    assert [kind for kind, _ in world.log].count("release") == 1


def test_mutations_are_saved_to_the_account_file(tmp_path):
    provider = SandboxProvider(config(tmp_path, name="dev"))
    bought = run_purchase(provider, request(2, PARIS), lambda n: None).bought
    provider.release(bought[:1])
    reopened = SandboxProvider(config(tmp_path, name="dev"))
    assert [n.number for n in reopened.list_numbers()] == [bought[1].number]
