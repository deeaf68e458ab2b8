"""The Voximplant adapter against the Voximplant emulator, in process (httpx.WSGITransport):
the issue's scenarios (paging, batched binds and releases, a number taken between search and
attach, short stock, errors with HTTP 200, pending and unverified numbers, JWT and legacy
auth, sandbox, lost answers read back)."""

from __future__ import annotations

import json
import tempfile
import urllib.parse
from collections import Counter
from pathlib import Path

import pytest

from numbers_iac import engine
from numbers_iac.emulators.faults import Fault
from numbers_iac.emulators.serve import emulated
from numbers_iac.emulators.voximplant import generate_service_account
from numbers_iac.errors import (
    AuthError,
    ConfigError,
    NumberUnavailableError,
    OutcomeUnknownError,
    OutOfStockError,
    ProviderError,
    UnknownRegionError,
)
from numbers_iac.model import PENDING, Declaration, Desired, StateConfig, Where
from numbers_iac.providers.base import PurchaseRequest
from numbers_iac.providers.voximplant import VoximplantProvider
from numbers_iac.simulation import World
from numbers_iac.state.sqlite import SqliteStateStore
from tests.protocol import run_purchase

AMIENS = Where("FR", "local", region="AMIENS, FRANCE")
APPS = ["support-ivr", "sales-bot"]


def no_sleep(seconds: float) -> None:
    return None


def make(seed: dict | None = None, settings: dict | None = None, **options):
    world = World.from_seed({"apps": APPS, **(seed or {})})
    return emulated("voximplant", world, name="vox", settings=settings, sleep=no_sleep, **options)


def calls(emu, method: str) -> int:
    return len(emu.app.requests("POST", f"/platform_api/{method}"))


def buys(world: World) -> list[str]:
    return [number for op, number in world.log if op == "buy"]


def request(count: int, app_id: str | None = None, **options) -> PurchaseRequest:
    return PurchaseRequest("support", count, AMIENS, app_id=app_id, options=options)


# --------------------------------------------------------------------------- listing


def test_250_owned_numbers_come_in_three_pages_of_100():
    with make({"owned": 250}) as emu:
        listed = emu.provider.list_numbers()
        assert sorted(n.number for n in listed) == sorted(emu.world.numbers)
        assert calls(emu, "GetPhoneNumbers") == 3
        first = emu.app.requests("POST", "GetPhoneNumbers")[0]
        assert first.status == 200


@pytest.mark.parametrize(
    ("max_count", "page_size", "requests"), [(100, 100, 100), (1000, 1000, 10)]
)
def test_10000_owned_numbers_in_the_fewest_requests(max_count, page_size, requests):
    with make({"owned": 10_000}, {"page_size": page_size}, max_count=max_count) as emu:
        listed = emu.provider.list_numbers()
        assert len(listed) == 10_000 == len({n.number for n in listed})
        assert calls(emu, "GetPhoneNumbers") == requests


def test_a_server_capping_pages_below_the_setting_is_still_read_whole():
    with make({"owned": 250}, {"page_size": 500}, max_count=100) as emu:
        assert len(emu.provider.list_numbers()) == 250
        assert calls(emu, "GetPhoneNumbers") == 3


def test_pending_and_unverified_numbers_are_pending_with_a_warning():
    world = World.from_seed({"apps": APPS, "regulated": ["DE"]})
    with emulated(
        "voximplant", world, name="vox", sleep=no_sleep, verification_countries={"FR"}
    ) as emu:
        fr = run_purchase(emu.provider, request(1))
        de = run_purchase(
            emu.provider, PurchaseRequest("berlin", 1, Where("DE", "local", region="Berlin"))
        )
        assert fr.error is None and de.error is None
        listed = {n.number: n for n in emu.provider.list_numbers()}
        assert {n.status for n in listed.values()} == {PENDING}
        (warning,) = emu.provider.listing_warnings()
        assert fr.bought[0].number in warning and "detaches it on" in warning
        emu.emulator.verify(fr.bought[0].number)
        world.activate(de.bought[0].number)
        assert {n.status for n in emu.provider.list_numbers()} == {"active"}
        assert emu.provider.listing_warnings() == ()


def test_a_plan_warns_of_numbers_voximplant_will_detach(tmp_path):
    world = World.from_seed({"apps": APPS})
    with (
        emulated(
            "voximplant", world, name="vox", sleep=no_sleep, verification_countries={"FR"}
        ) as emu,
        SqliteStateStore(tmp_path / "state.sqlite") as store,
    ):
        d = desired(emu, 2, "support-ivr")
        plan, report = apply(emu, d, store)
        assert report.ok
        again = engine.make_plan(d, engine.Providers(d, lambda config: emu.provider), store)
        assert again.actions == ()
        detach = [w for w in again.warnings if "awaits verification" in w]
        assert len(detach) == 2 and all("detaches it on" in w for w in detach)


def test_cancelled_subscriptions_still_listed_are_gone():
    with make({"owned": 3}, deactivated_listed=True) as emu:
        listed = emu.provider.list_numbers()
        emu.provider.release(listed[:1])
        assert [n.number for n in emu.provider.list_numbers()] == [n.number for n in listed[1:]]


def test_apps_are_matched_by_exact_name_not_substring():
    with make() as emu:
        emu.world.add_app("support-ivr-old")
        names = {a.name: a.app_id for a in emu.provider.list_apps()}
        assert names["support-ivr"] == emu.world.app_by_name("support-ivr")[0]
        assert names["support-ivr"] != names["support-ivr-old"]
        assert names["support-ivr.emulator.voximplant.com"] == names["support-ivr"]


# --------------------------------------------------------------------------- catalogue


def test_inventory_walks_categories_states_and_regions():
    with make() as emu:
        rows = emu.provider.inventory("US")
        local = {r.region: r for r in rows if r.number_type == "local"}
        assert {"San Francisco", "New York", "Anchorage"} <= set(local)
        assert local["Anchorage"].available == 3 and local["San Francisco"].price.monthly > 0
        assert {r.number_type for r in rows} == {"local", "tollfree"}
        assert calls(emu, "GetPhoneNumberCountryStates") == 1
        assert calls(emu, "GetPhoneNumberRegions") >= 6  # one per state, then toll-free


def test_a_state_region_is_bought_with_its_country_state():
    with make() as emu:
        where = Where("US", "local", region="SAN FRANCISCO, UNITED STATES")
        outcome = run_purchase(emu.provider, PurchaseRequest("sf", 2, where))
        assert outcome.error is None and len(outcome.bought) == 2
        assert all(n.number.startswith("+1415") for n in outcome.bought)


def test_an_unknown_region_names_what_is_for_sale():
    with make() as emu, pytest.raises(UnknownRegionError) as err:
        emu.provider.quote(Where("FR", "local", region="Atlantis"), 1)
    assert "Atlantis" in str(err.value) and "Amiens" in str(err.value)


def test_tollfree_by_prefix_and_national_is_not_sold():
    with make() as emu:
        quote = emu.provider.quote(Where("US", "tollfree", prefix="833"), 1)
        assert quote.available and quote.price.monthly == 1
        with pytest.raises(UnknownRegionError):
            emu.provider.quote(Where("GB", "national"), 1)


# --------------------------------------------------------------------------- purchases


def test_a_region_that_names_no_price_is_priced_unknown_not_free():
    """Both price fields are optional in the SDKs' region structures: without them the
    plan must say "price unknown", not show the numbers as costing nothing."""
    with make() as emu:
        served = emu.emulator.methods["GetPhoneNumberRegions"]

        def unpriced(q):
            body = served(q)
            for region in body["result"]:
                for field in ("account_price", "phone_price"):
                    region.pop(field, None)
            return body

        emu.emulator.methods["GetPhoneNumberRegions"] = unpriced
        quote = emu.provider.quote(AMIENS, 1)
        assert quote.price is None and quote.available
        assert {r.price for r in emu.provider.inventory("FR", "local")} == {None}


def test_a_rule_found_past_the_first_page_of_names_containing_it():
    """`GetRules` filters by a part of the name: the exact one can be on a later page."""
    with make() as emu:
        ivr = emu.world.app_by_name("support-ivr")[0]
        for index in range(130):
            emu.emulator.add_rule("support-ivr", f"inbound-{index:03d}")
        emu.emulator.add_rule("support-ivr", "inbound")
        outcome = run_purchase(emu.provider, request(1, ivr, rule="inbound"))
        assert outcome.error is None and len(outcome.bought) == 1  # the rule was found


def test_a_purchase_attaches_specific_numbers_then_the_core_binds_them_with_the_rule(tmp_path):
    """The attach takes no app: an apply attaches each number (four at once), then binds
    all it bought in one batched call on the declaration's rule."""
    with make() as emu:
        ivr = emu.world.app_by_name("support-ivr")[0]
        rule = emu.emulator.add_rule("support-ivr", "inbound")
        emu.emulator.add_rule("support-ivr", "inbound-old")
        outcome = run_purchase(emu.provider, request(2, ivr, rule="inbound"))
        assert outcome.error is None and len(buys(emu.world)) == 2
        assert {emu.world.numbers[n.number].app_id for n in outcome.bought} == {None}
        assert calls(emu, "AttachPhoneNumber") == 2
        assert calls(emu, "BindPhoneNumberToApplication") == 0
        # never phone_count: each attach names its number
        assert all(n.provider_id.isdigit() for n in outcome.bought)
    with make() as emu, SqliteStateStore(tmp_path / "state.sqlite") as store:
        ivr = emu.world.app_by_name("support-ivr")[0]
        rule = emu.emulator.add_rule("support-ivr", "inbound")
        emu.emulator.add_rule("support-ivr", "inbound-old")
        d = desired(emu, 6, "support-ivr", options={"rule": "inbound"})
        plan, report = apply(emu, d, store)
        assert report.ok and [a.kind for a in plan.actions] == ["purchase"]
        bought = report.results[0].numbers
        assert len(bought) == 6 and calls(emu, "AttachPhoneNumber") == 6
        assert calls(emu, "BindPhoneNumberToApplication") == 1
        assert {emu.world.numbers[n].app_id for n in bought} == {ivr}
        assert {emu.emulator.rule_of[n] for n in bought} == {rule}
        assert {store.load().numbers[("vox", n)].app for n in bought} == {"support-ivr"}
        again, _ = apply(emu, d, store)
        assert again.actions == ()


def test_a_number_taken_between_search_and_attach_is_replaced():
    with make() as emu:
        taken: list[str] = []

        def someone_else_buys(method: str, path: str) -> None:
            number = emu.world.search("FR", "local", region="AMIENS, FRANCE", limit=1)[0][0].number
            emu.world.take(number)
            taken.append(number)

        emu.app.add(Fault(status=None, match="AttachPhoneNumber", on_request=someone_else_buys))
        outcome = run_purchase(emu.provider, request(3))
        assert outcome.error is None and len(outcome.bought) == 3
        assert taken and taken[0] not in {n.number for n in outcome.bought}
        assert len(buys(emu.world)) == 3
        assert calls(emu, "AttachPhoneNumber") == 4


def test_error_332_short_stock_with_http_200_ends_the_purchase_with_its_words():
    with make() as emu:
        body = {"error": {"msg": "Insufficient phones in stock (available 0)", "code": 332}}
        emu.app.add(Fault(status=200, body=body, times=20, match="AttachPhoneNumber"))
        outcome = run_purchase(emu.provider, request(6))
        assert isinstance(outcome.error, OutOfStockError)
        assert "available 0" in str(outcome.error) and "code 332" in str(outcome.error)
        assert "HTTP" not in str(outcome.error)
        assert outcome.unresolved == [] and buys(emu.world) == []
        # the attaches sent at once (four) each had their answer; none after them
        assert 1 <= calls(emu, "AttachPhoneNumber") <= 4


def test_out_of_stock_region_buys_what_exists():
    with make() as emu:
        group = emu.world.find_groups("FR", "local", region="AMIENS, FRANCE")[0]
        emu.world.set_stock(group.group_id, 2)
        outcome = run_purchase(emu.provider, request(5))
        assert len(outcome.bought) == 2 and isinstance(outcome.error, OutOfStockError)


def test_a_region_needing_an_address_refuses_before_buying_then_buys_with_one():
    options = {"regulation_countries": {"FR"}, "regulation_addresses": {"4411": "FR"}}
    with make(**options) as emu:
        refused = run_purchase(emu.provider, request(1))
        assert "regulation_address_id" in str(refused.error) and buys(emu.world) == []
        bought = run_purchase(emu.provider, request(1, regulation_address_id=4411))
        assert bought.error is None and len(buys(emu.world)) == 1


def test_a_missing_regulation_address_is_a_located_plan_problem(tmp_path):
    from numbers_iac.errors import ConfigError

    with (
        make(regulation_countries={"FR"}) as emu,
        SqliteStateStore(tmp_path / "state.sqlite") as store,
    ):
        d = desired(emu, 1, "support-ivr")
        with pytest.raises(ConfigError) as err:
            engine.make_plan(d, engine.Providers(d, lambda config: emu.provider), store)
        assert "numbers.support.regulation_address_id" in str(err.value)
        assert buys(emu.world) == []


def test_a_request_refused_whole_stops_after_the_attaches_in_flight_with_its_words():
    """Four attaches go at once: those already sent have their answers, and once one is
    refused as a whole no other is sent (the next wave's would be refused alike)."""
    with make(regulation_countries={"FR"}, regulation_addresses={"4411": "DE"}) as emu:
        outcome = run_purchase(emu.provider, request(6, regulation_address_id=4411))
        assert "does not fit the region" in str(outcome.error) and "code 424" in str(outcome.error)
        assert 1 <= calls(emu, "AttachPhoneNumber") <= 4 and outcome.unresolved == []
        assert buys(emu.world) == []


def test_a_refusal_belongs_to_its_own_purchase():
    """A purchase refused as a whole can end without asking for another offer (one of its
    attaches was in doubt); the next purchase of the same declaration is asked afresh, never
    answered with the old refusal."""
    with make(regulation_countries={"FR"}, regulation_addresses={"4411": "DE"}) as emu:
        refused = request(1, regulation_address_id=4411)
        offer = emu.provider.offer(refused, 1, frozenset())
        with pytest.raises(NumberUnavailableError, match="does not fit the region"):
            emu.provider.commit(offer)
        fresh = request(1, regulation_address_id=4411)
        assert len(emu.provider.offer(fresh, 1, frozenset()).candidates) == 1
        with pytest.raises(ProviderError, match="does not fit the region"):
            emu.provider.offer(refused, 1, frozenset())  # its own purchase still hears it


@pytest.mark.parametrize("work_done", [True, False])
def test_a_lost_attach_answer_is_read_back_never_resent(work_done):
    with make() as emu:
        emu.app.add(Fault(status=502, then_fail=work_done, match="AttachPhoneNumber"))
        outcome = run_purchase(emu.provider, request(1))
        assert calls(emu, "AttachPhoneNumber") == 1
        assert len(buys(emu.world)) == int(work_done)
        if work_done:
            assert outcome.error is None and len(outcome.bought) == 1
        else:
            assert isinstance(outcome.error, OutcomeUnknownError) and outcome.unresolved


def test_a_resend_rejection_is_never_read_as_a_refusal():
    with make() as emu:
        body = {"error": {"msg": "Probable automatic resend", "code": 484}}
        emu.app.add(Fault(status=200, body=body, match="AttachPhoneNumber"))
        outcome = run_purchase(emu.provider, request(1))
        assert isinstance(outcome.error, OutcomeUnknownError) and outcome.unresolved


def test_a_number_that_already_exists_elsewhere_is_replaced_from_the_search():
    """335 for a number the account does not hold: someone else's, so another is tried."""
    with make() as emu:
        body = {"error": {"msg": "Phone number already exists", "code": 335}}
        emu.app.add(Fault(status=400, body=body, match="AttachPhoneNumber"))
        outcome = run_purchase(emu.provider, request(1))
        assert outcome.error is None and len(outcome.bought) == len(buys(emu.world)) == 1
        assert calls(emu, "AttachPhoneNumber") == 2 and calls(emu, "GetPhoneNumbers") >= 1


def commit_one(emu):
    """Offer and commit one Amiens number by hand: the adapter's own answer, no core."""
    offer = emu.provider.offer(request(1), 1, frozenset())
    return offer, lambda: emu.provider.commit(offer)


@pytest.mark.parametrize(
    "body",
    [
        {"error": {"msg": "Internal error", "code": 2}},
        {"error": {"msg": "Probable automatic resend", "code": 484}},
        {"error": {"msg": "The same operation has been performed recently", "code": 515}},
        {"error": {"msg": "Something new", "code": 9999}},
        {"message": "Bad Request"},  # a 4xx with no code of Voximplant's
    ],
    ids=["internal", "resend", "recently", "unknown", "no-code"],
)
def test_an_attach_error_that_may_hide_a_purchase_stays_open_whatever_its_4xx(body):
    """Voximplant's code decides, not the HTTP status carrying it: an answer that does not
    refuse this number is read back, and unseen it is unknown, with no 4xx status to be
    read as "refused"."""
    with make() as emu:
        emu.app.add(Fault(status=400, body=body, then_fail=True, match="AttachPhoneNumber"))
        emu.app.add(Fault(status=503, times=20, match="GetPhoneNumbers"))
        _, commit = commit_one(emu)
        with pytest.raises(OutcomeUnknownError) as err:
            commit()
        assert err.value.status is None and "HTTP 400" in str(err.value)
        emu.app.clear()
        emu.app.add(Fault(status=400, body=body, then_fail=True, match="AttachPhoneNumber"))
        emu.app.add(Fault(status=503, times=20, match="GetPhoneNumbers"))
        outcome = run_purchase(emu.provider, request(1))
        assert outcome.unresolved and outcome.store.load().attempts


@pytest.mark.parametrize("code", [2, 484, 515, 335, 9999, 127, 577])
def test_an_attach_done_despite_a_4xx_error_code_is_read_back_and_kept(code):
    with make() as emu:
        body = {"error": {"msg": "x", "code": code}}
        emu.app.add(Fault(status=400, body=body, then_fail=True, match="AttachPhoneNumber"))
        outcome = run_purchase(emu.provider, request(1))
        assert outcome.error is None and [n.number for n in outcome.bought] == buys(emu.world)
        assert calls(emu, "AttachPhoneNumber") == 1


@pytest.mark.parametrize(("code", "status"), [(577, 400), (127, 200)])
def test_a_billing_or_supplier_failure_is_a_refusal_once_read_back(code, status):
    with make() as emu:
        body = {"error": {"msg": "Supplier order failed", "code": code}}
        emu.app.add(Fault(status=status, body=body, times=5, match="AttachPhoneNumber"))
        outcome = run_purchase(emu.provider, request(6))
        assert f"code {code}" in str(outcome.error) and outcome.unresolved == []
        # the attaches in flight together (at most four) each had their answer; none after
        sent = calls(emu, "AttachPhoneNumber")
        assert 1 <= sent <= 4 and buys(emu.world) == []
        assert calls(emu, "GetPhoneNumbers") == sent  # a read-back each


def test_a_supplier_failure_that_cannot_be_read_back_stays_open():
    with make() as emu:
        body = {"error": {"msg": "Supplier order failed", "code": 578}}
        emu.app.add(Fault(status=400, body=body, match="AttachPhoneNumber"))
        emu.app.add(Fault(status=503, times=20, match="GetPhoneNumbers"))
        _, commit = commit_one(emu)
        with pytest.raises(OutcomeUnknownError) as err:
            commit()
        assert err.value.status is None


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (182, "NumberUnavailableError"),
        (100, "CredentialsRefusedError"),
        (340, "RateLimitCodeError"),
    ],
)
def test_a_refusal_code_under_a_4xx_is_refused_without_a_read_back(code, error):
    with make() as emu:
        body = {"error": {"msg": "refused", "code": code}}
        emu.app.add(Fault(status=400, body=body, match="AttachPhoneNumber"))
        _, commit = commit_one(emu)
        with pytest.raises(ProviderError) as err:
            commit()
        assert type(err.value).__name__ == error and calls(emu, "GetPhoneNumbers") == 0


def test_an_odd_attach_answer_is_quoted_redacted():
    world = World.from_seed({"apps": APPS})
    key = generate_service_account("1000001")
    settings = {"credentials": json.dumps(key)}
    with emulated(
        "voximplant", world, name="vox", settings=settings, sleep=no_sleep, service_account=key
    ) as emu:
        body = {"result": 1, "debug": key["private_key"]}
        emu.app.add(Fault(status=200, body=body, match="AttachPhoneNumber"))
        emu.app.add(Fault(status=503, times=20, match="GetPhoneNumbers"))
        _, commit = commit_one(emu)
        with pytest.raises(OutcomeUnknownError) as err:
            commit()
    message = str(err.value)
    assert "unexpected answer" in message and "***" in message
    assert "PRIVATE" not in message and key["private_key"][40:80] not in message


def test_pinned_numbers_find_their_region_from_their_digits():
    with make() as emu:
        wanted = [a.number for a in emu.world.search("US", "tollfree", prefix="844", limit=2)[0]]
        assert emu.provider.quote_numbers(wanted).price.monthly == 1
        req = PurchaseRequest("pinned", 2, None, tuple(wanted))
        outcome = run_purchase(emu.provider, req)
        # bought side by side (purchase_concurrency 4): in either order
        assert outcome.error is None and sorted(buys(emu.world)) == sorted(wanted)


# --------------------------------------------------------------------------- binds and releases


def desired(emu, quantity: int, app: str, **extra) -> Desired:
    return Desired(
        config_path="numbers.yaml",
        config_digest="x",
        providers={"vox": emu.provider.config},
        declarations={
            "support": Declaration(
                "support",
                "vox",
                quantity,
                country="FR",
                number_type="local",
                region="PARIS, FRANCE",
                app=app,
                **extra,
            )
        },
        state=StateConfig(),
    )


def apply(emu, d: Desired, store, allow_release: bool = False):
    providers = engine.Providers(d, lambda config: emu.provider)
    plan = engine.make_plan(d, providers, store)
    report = engine.apply_plan(plan, d, providers, store, allow_release=allow_release)
    return plan, report


@pytest.mark.parametrize(("batch", "expected"), [(None, 2), (50, 3)])
def test_a_rebind_of_120_numbers_goes_in_batches(batch, expected):
    settings = {"bind_batch_size": batch} if batch else None
    with make(settings=settings) as emu, tempfile.TemporaryDirectory() as tmp:
        store = SqliteStateStore(Path(tmp) / "state.sqlite")
        plan, report = apply(emu, desired(emu, 120, "support-ivr"), store)
        assert report.ok and len(buys(emu.world)) == 120
        emu.app.log.clear()
        plan, report = apply(emu, desired(emu, 120, "sales-bot"), store)
        assert report.ok and {a.kind for a in plan.actions} == {"bind"}
        assert calls(emu, "BindPhoneNumberToApplication") == expected
        sales = emu.world.app_by_name("sales-bot")[0]
        assert {n.app_id for n in emu.world.numbers.values()} == {sales}
        again, _ = apply(emu, desired(emu, 120, "sales-bot"), store)
        assert again.actions == ()
        store.close()


@pytest.mark.parametrize("unbind_first", [True, False])
def test_an_account_refusing_to_move_numbers_is_unbound_first(unbind_first):
    settings = {"unbind_before_rebind": unbind_first}
    with make({"owned": 3}, settings, rebind_moves=False) as emu:
        ivr, sales = (emu.world.app_by_name(a)[0] for a in APPS)
        listed = emu.provider.list_numbers()
        assert not emu.provider.bind(listed, ivr).failed
        outcome = emu.provider.bind(listed, sales)
        if unbind_first:
            assert not outcome.failed
            assert {n.app_id for n in emu.world.numbers.values()} == {sales}
        else:
            assert set(outcome.failed) == {n.number for n in listed}
            assert "unbind it first" in next(iter(outcome.failed.values()))


def test_unbind_sends_bind_false_to_the_current_app():
    with make({"owned": 3}) as emu:
        ivr = emu.world.app_by_name("support-ivr")[0]
        listed = emu.provider.list_numbers()
        emu.provider.bind(listed, ivr)
        outcome = emu.provider.bind(listed, None)  # the caller's listing is stale: re-read
        assert set(outcome.done) == {n.number for n in listed}
        assert {n.app_id for n in emu.world.numbers.values()} == {None}
        assert calls(emu, "BindPhoneNumberToApplication") == 2


def test_releases_go_in_batches_of_explicit_ids_and_never_all():
    with make({"owned": 250}) as emu:
        listed = emu.provider.list_numbers()
        emu.app.log.clear()
        outcome = emu.provider.release(listed[:230])
        assert len(outcome.done) == 230 and not outcome.failed
        assert calls(emu, "DeactivatePhoneNumber") == 3
        assert len(emu.world.numbers) == 20
        sneaky = [type(listed[0])(listed[240].number, "all")]
        refused = emu.provider.release(sneaky)
        assert refused.failed and len(emu.world.numbers) == 20
        assert calls(emu, "DeactivatePhoneNumber") == 3


def test_a_release_batch_with_a_number_already_gone_releases_the_rest():
    with make({"owned": 5}) as emu:
        listed = emu.provider.list_numbers()
        emu.provider.release(listed[:2])
        outcome = emu.provider.release(listed)
        assert set(outcome.done) == {n.number for n in listed} and not outcome.failed
        assert emu.world.numbers == {}


@pytest.mark.parametrize("acted", [True, False])
def test_a_release_answered_515_is_settled_by_what_is_still_owned(acted):
    """515 ("the same operation has been performed recently") on a deactivation: whether
    the numbers went is read from the account, not guessed from the code."""
    with make({"owned": 3}) as emu:
        listed = emu.provider.list_numbers()
        body = {"error": {"msg": "The same operation has been performed recently", "code": 515}}
        emu.app.add(
            Fault(status=400, body=body, then_fail=acted, times=1, match="DeactivatePhoneNumber")
        )
        outcome = emu.provider.release(listed)
        assert set(outcome.done) == {n.number for n in listed} and not outcome.failed
        assert emu.world.numbers == {}


# --------------------------------------------------------------------------- auth and errors


def test_the_emulator_checks_the_jwt_against_the_key_files_public_key():
    with make({"owned": 2}) as emu:
        assert len(emu.provider.list_numbers()) == 2
        header = emu.app.log[-1]
        assert header.status == 200
    world = World.from_seed({"apps": APPS})
    real = generate_service_account("1000001")
    forged = {**generate_service_account("1000001"), "key_id": real["key_id"]}
    with (
        emulated(
            "voximplant",
            world,
            name="vox",
            settings={"credentials": json.dumps(forged)},
            sleep=no_sleep,
            service_account=real,
        ) as emu,
        pytest.raises(AuthError) as err,
    ):
        emu.provider.list_numbers()
    message = str(err.value)
    assert "Authorization failed (code 100)" in message and "\n" not in message
    assert "PRIVATE" not in message and forged["private_key"][40:80] not in message


def test_a_key_file_path_relative_to_the_config_and_legacy_api_keys(tmp_path):
    world = World.from_seed({"apps": APPS, "owned": 1})
    key = generate_service_account("1000001")
    (tmp_path / "vox-key.json").write_text(json.dumps(key))
    with emulated("voximplant", world, name="vox", sleep=no_sleep, service_account=key) as emu:
        from numbers_iac.model import ProviderConfig
        from numbers_iac.providers.voximplant import VoximplantProvider

        config = ProviderConfig(
            "vox",
            "voximplant",
            {"credentials": "vox-key.json", "base_url": "http://x.invalid"},
            base_dir=str(tmp_path),
        )
        import httpx

        provider = VoximplantProvider(config, transport=httpx.WSGITransport(app=emu.app))
        assert len(provider.list_numbers()) == 1
        legacy = VoximplantProvider(
            ProviderConfig(
                "vox",
                "voximplant",
                {
                    "account_id": "1000001",
                    "api_key": "emulator-api-key",
                    "base_url": "http://x.invalid",
                },
            ),
            transport=httpx.WSGITransport(app=emu.app),
        )
        assert len(legacy.list_numbers()) == 1
        wrong = VoximplantProvider(
            ProviderConfig(
                "vox",
                "voximplant",
                {
                    "account_id": "1000001",
                    "api_key": "s3cr3t-wrong",
                    "base_url": "http://x.invalid",
                },
            ),
            transport=httpx.WSGITransport(app=emu.app),
        )
        with pytest.raises(AuthError) as err:
            wrong.list_numbers()
        assert "s3cr3t-wrong" not in str(err.value)


def test_a_missing_key_file_is_one_clear_error(tmp_path, monkeypatch):
    from numbers_iac.model import ProviderConfig

    for var in ("VOXIMPLANT_CREDENTIALS", "VOXIMPLANT_ACCOUNT_ID", "VOXIMPLANT_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ProviderError) as err:
        VoximplantProvider(ProviderConfig("vox", "voximplant", {}, base_dir=str(tmp_path)))
    assert "VOXIMPLANT_CREDENTIALS" in str(err.value)
    monkeypatch.setenv("VOXIMPLANT_CREDENTIALS", "from-env.json")
    with pytest.raises(ProviderError) as err:
        VoximplantProvider(ProviderConfig("vox", "voximplant", {}, base_dir=str(tmp_path)))
    assert "$VOXIMPLANT_CREDENTIALS is neither a readable key file" in str(err.value)
    with pytest.raises(ConfigError) as written:  # a setting of the file: said at its line
        VoximplantProvider(
            ProviderConfig(
                "vox", "voximplant", {"credentials": "nope.json"}, base_dir=str(tmp_path)
            )
        )
    (problem,) = written.value.problems
    assert problem.path == "providers.vox.credentials"
    assert "neither a readable key file (No such file or directory)" in problem.message


@pytest.mark.parametrize("shape", ["quoted-json", "pem-only"])
@pytest.mark.parametrize("from_env", [False, True])
def test_key_material_in_the_wrong_shape_is_never_echoed(tmp_path, monkeypatch, shape, from_env):
    from numbers_iac.model import ProviderConfig

    key = generate_service_account("1000001")
    value = f"'{json.dumps(key)}'" if shape == "quoted-json" else key["private_key"]
    settings = {"credentials": value}
    if from_env:
        monkeypatch.setenv("VOXIMPLANT_CREDENTIALS", value)
        settings = {}
    with pytest.raises(ProviderError if from_env else ConfigError) as err:
        VoximplantProvider(ProviderConfig("vox", "voximplant", settings, base_dir=str(tmp_path)))
    message = str(err.value)
    assert "PRIVATE" not in message and key["private_key"][40:80] not in message
    assert "key_id" not in message and str(tmp_path) not in message
    origin = "$VOXIMPLANT_CREDENTIALS" if from_env else "the credentials setting"
    assert f"{origin} is neither a readable key file" in message
    assert ("quotes" if shape == "quoted-json" else "private key alone") in message


def test_every_call_names_its_method_in_the_path_and_as_cmd():
    """The HTTP API reference addresses a method by the path (`/platform_api/GetPhoneNumbers`),
    the official Python and Node clients by a `cmd` field posted to `/platform_api`: each call
    says both, so a server that reads either one routes it."""
    seen = []
    with make({"owned": 3}) as emu:
        original = emu.emulator.handle

        def spy(request, raw_query):
            seen.append((request.path, urllib.parse.parse_qs(request.body.decode())))
            return original(request, raw_query)

        emu.emulator.handle = spy
        assert len(emu.provider.list_numbers()) == 3
        emu.provider.list_apps()
    assert len(seen) >= 2
    assert all(form["cmd"] == [path.rsplit("/", 1)[-1]] for path, form in seen)


def test_rate_limit_codes_with_http_200_are_retried_for_reads():
    with make({"owned": 5}) as emu:
        body = {"error": {"msg": "Rate limit exceeded", "code": 340}}
        emu.app.add(Fault(status=200, body=body, times=3, match="GetPhoneNumbers"))
        assert len(emu.provider.list_numbers()) == 5
        assert calls(emu, "GetPhoneNumbers") == 4


def test_sandbox_lists_and_buys_sandbox_numbers():
    world = World.from_seed({"apps": APPS, "owned": 4})
    with emulated(
        "voximplant",
        world,
        name="vox",
        settings={"sandbox": True},
        sleep=no_sleep,
        sandbox_countries={"FR"},
    ) as emu:
        assert {n.country for n in emu.provider.list_numbers()} <= {"FR"}
        assert emu.provider.inventory("FR") and not emu.provider.inventory("US")
        outcome = run_purchase(emu.provider, request(1))
        assert outcome.error is None
        assert Counter(n.country for n in emu.provider.list_numbers())["FR"] >= 1


def test_a_rebind_binds_on_the_declarations_rule_of_the_new_app(tmp_path):
    """The rule a declaration names is used by a later rebind too, not only at purchase."""
    with make() as emu, SqliteStateStore(tmp_path / "state.sqlite") as store:
        first = emu.emulator.add_rule("support-ivr", "inbound")
        second = emu.emulator.add_rule("sales-bot", "after-hours")
        plan, report = apply(
            emu, desired(emu, 2, "support-ivr", options={"rule": "inbound"}), store
        )
        assert report.ok
        bought = [n for n in emu.world.numbers]
        assert {emu.emulator.rule_of[n] for n in bought} == {first}
        moved = desired(emu, 2, "sales-bot", options={"rule": "after-hours"})
        plan, report = apply(emu, moved, store)
        assert report.ok and {a.kind for a in plan.actions} == {"bind"}
        assert {a.options["rule"] for a in plan.actions} == {"after-hours"}
        sales = emu.world.app_by_name("sales-bot")[0]
        assert {emu.world.numbers[n].app_id for n in bought} == {sales}
        assert {emu.emulator.rule_of[n] for n in bought} == {second}
        assert calls(emu, "BindPhoneNumberToApplication") >= 1


def test_a_key_that_is_not_json_says_whether_it_was_the_file_or_the_text(tmp_path):
    from numbers_iac.model import ProviderConfig

    (tmp_path / "key.json").write_text("account_id = 1\n")
    for value, said in (
        ("key.json", "the key file is not JSON"),
        (
            '{"account_id": 1, "private_key": "-----BEGIN',
            "the key file's JSON text in the credentials setting is not JSON",
        ),
    ):
        config = ProviderConfig("vox", "voximplant", {"credentials": value}, base_dir=str(tmp_path))
        with pytest.raises(ConfigError) as err:
            VoximplantProvider(config)
        assert said in str(err.value) and "BEGIN" not in str(err.value)


def test_a_prefix_longer_than_the_regions_code_narrows_the_numbers_bought():
    """Voximplant sells by region (Amiens: code 322); a declared prefix that says more
    buys only numbers that start with all of it, or none, never the region's first ones."""
    with make() as emu:
        outcome = run_purchase(
            emu.provider, PurchaseRequest("a", 1, Where("FR", "local", prefix="322000001"))
        )
        assert outcome.error is None, outcome.error
        assert [n.number for n in outcome.bought] == ["+33322000001"]
        none = run_purchase(
            emu.provider, PurchaseRequest("b", 1, Where("FR", "local", prefix="3229"))
        )
        assert not none.bought and none.error is not None


def test_a_prefix_is_taken_in_every_spelling():
    """ "+33 3 22", "0322" and "322" are Amiens on every provider; Voximplant compared the
    digits as written with the region's code 322 and found no region for the first two."""
    with make() as emu:
        for prefix in ("+33 3 22", "0322", "322"):
            assert emu.provider.quote(Where("FR", "local", prefix=prefix), 1).available == 900
        outcome = run_purchase(
            emu.provider, PurchaseRequest("a", 2, Where("FR", "local", prefix="0322"))
        )
        assert outcome.error is None, outcome.error
        assert [n.number[:6] for n in outcome.bought] == ["+33322", "+33322"]


def test_a_prefix_longer_than_the_regions_code_is_stocked_by_what_fits_it():
    """The plan's stock under a long prefix is the numbers that start with all of it, not
    the region's: the plan said 900 available and the apply then found none."""
    with make() as emu:
        assert emu.provider.quote(Where("FR", "local", prefix="3229"), 1).available == 0
        assert emu.provider.quote(Where("FR", "local", prefix="32200000"), 5).available == 5
        assert emu.provider.quote(Where("FR", "local", prefix="322000001"), 3).available == 1
